"""The todos review's probability of "yes" for every line it is offered, one JSON line per note
(or per part of a long note), while `mustelid eval todos FOLDER --json` runs as usual:

    python examples/eval/review_yes.py OUT.jsonl FOLDER > report.json

Each record: ``path``, ``labels``, ``lines`` (the note's lines as the task read them) and
``review`` (per offered line: ``quote``, ``yes`` and ``p_yes``, the choice decoder's probability
of the answer it gave, turned into P(yes); None with a backend that does not decode by choices).
Used for docs/EVAL.md, "The review cannot say no" (session 23). Run an older commit through it
with ``examples/eval/first_runs.sh``.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    import mustelid.evaluate as evaluate
    from mustelid.cli import main as cli
    from mustelid.plugins.todos.task import Todos

    out = open(sys.argv.pop(1), "a", encoding="utf-8")
    current: dict = {}
    run_case, check = evaluate.run_case, Todos.check

    def traced_case(task, case, ctx):
        current.update(path=str(case.path), labels=case.truth)
        return run_case(task, case, ctx)

    def traced_check(self, result, evidence):
        confidence = evidence.data.get("model_confidence", {})
        review = []
        for i, (entry, quote) in enumerate(zip(result.review, evidence.data["quotes"])):
            p = confidence.get(f"review[{i}].is_todo")
            review.append({"quote": quote, "yes": entry.is_todo,
                           "p_yes": None if p is None else (p if entry.is_todo else 1 - p)})
        out.write(json.dumps({**current, "lines": evidence.data["lines"], "review": review}) + "\n")
        out.flush()
        return check(self, result, evidence)

    evaluate.run_case, Todos.check = traced_case, traced_check
    sys.argv = ["mustelid", "eval", "todos", sys.argv[1], "--json"]
    cli()


if __name__ == "__main__":
    main()
