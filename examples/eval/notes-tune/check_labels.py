# Checks every NAME.json of a folder of text notes (this one, or the folder given: e.g.
# ../notes-tune2) parses and every label string (or >=1 alternative of a list) occurs verbatim
# in NAME.txt (whitespace runs, including line breaks, collapsed to one space).
import json, glob, re, os, sys
ws = lambda s: re.sub(r"\s+", " ", s).strip()
bad = n_items = n_none = n_inputs = 0
folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
for jf in sorted(glob.glob(os.path.join(folder, "*.json"))):
    lab = json.load(open(jf, encoding="utf-8"))
    txt = ws(open(jf[:-5] + ".txt", encoding="utf-8").read())
    n_inputs += 1
    assert isinstance(lab.get("todos"), list)
    if lab.get("none"):
        n_none += 1; assert lab["todos"] == [] and not lab.get("todos_optional"), jf
    for kind in ("todos", "todos_optional"):
        for item in lab.get(kind, []):
            alts = item if isinstance(item, list) else [item]
            if kind == "todos": n_items += 1
            hits = [a for a in alts if ws(a) in txt]
            if not hits:
                bad += 1; print("NOT FOUND", os.path.basename(jf), kind, alts)
            elif len(hits) < len(alts):
                print("note: some alternatives not verbatim", os.path.basename(jf), [a for a in alts if a not in hits])
print(f"inputs={n_inputs} none={n_none} labelled todos={n_items} problems={bad}")
sys.exit(1 if bad else 0)
