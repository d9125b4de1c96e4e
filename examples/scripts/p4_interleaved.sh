#!/usr/bin/env bash
# P4 side by side: two checkouts (each with its own .venv) run `mustelid eval receipts` on the
# same receipts, alternating, each alone under the CPU lock, so the machine's drift between runs
# cannot pass for a change. Usage: p4_interleaved.sh BASE_CHECKOUT HEAD_CHECKOUT SROIE_DIR [N]
set -euo pipefail
base=$1 head=$2 data=$3 n=${4:-8}
out=$(mktemp -d)
for round in 1 2; do
  for side in base head; do
    dir=${!side}
    (cd "$dir" && flock /tmp/mustelid-cpu.lock .venv/bin/mustelid eval receipts "$data" -n "$n" \
      --json > "$out/$side-$round.json" 2>/dev/null)
    python3 - "$out/$side-$round.json" "$side" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
right = sum(v["matched"] for v in r["fields"].values())
print(sys.argv[2], sys.argv[3], "p50", r["latency_s"]["p50"], "mean", r["latency_s"]["mean"],
      "fields right", right)
PY
  done
done
