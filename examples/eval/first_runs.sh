#!/bin/bash
# Each blind notes batch's first run again, at the commit that added the batch (before any rule
# was written for it), with the review's P(yes) per offered line (review_yes.py):
#
#     bash examples/eval/first_runs.sh OUT.jsonl
#
# Each old commit is checked out as a git worktree under /tmp and imported through PYTHONPATH
# (a `mustelid` package of symlinks to its daemon/, store/, plugins/ and prompts/), with this
# checkout's venv. Used for docs/EVAL.md (session 23). Wrap it in flock on a shared machine.
set -e
OUT=$(realpath "$1"); cd "$(dirname "$0")/../.."; ROOT=$PWD
for pair in "notes-fresh eeaf319" "notes-fresh2 d44dece" "notes-fresh3 9613f9b" \
            "notes-fresh4 4732186" "notes-fresh5 79d99e5" "notes-fresh6 a520263" \
            "notes-fresh7 e294ccf" "notes-fresh8 eff1018" "notes-fresh9 d4d138d" \
            "notes-fresh10 739192d" "notes-fresh11 7126eb5" "notes-fresh12 f7927cb"; do
  set -- $pair
  W=/tmp/mustelid-at-$2; S=/tmp/mustelid-shim-$2
  [ -d "$W" ] || git worktree add -q --detach "$W" "$2"
  rm -rf "$S"; mkdir -p "$S/mustelid"
  for f in "$W"/daemon/*; do ln -s "$f" "$S/mustelid/"; done
  for d in store plugins prompts; do ln -s "$W/$d" "$S/mustelid/$d"; done
  PYTHONPATH="$S" .venv/bin/python examples/eval/review_yes.py "$OUT" "examples/eval/$1" \
    > /dev/null 2>&1
done
