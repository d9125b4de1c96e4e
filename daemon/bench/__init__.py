"""``mustelid bench``: speed and memory of the daemon as ratios, measured side by side in one run.

Every comparison alternates its two sides (A, B, A, B ...) for ``pairs`` pairs and reports the
median of the per-pair ratios with min and max, so a neighbour's load on a shared machine hits
both sides alike. The load average is recorded before and after. The daemon side is the real
supervisor + model worker process with the llama_cpp backend; the raw side is plain
llama-cpp-python in its own process (``mustelid.bench_raw``).

P1 warm daemon job vs a one-shot script doing the same job      (target >= 1.5x faster)
P2 decode tokens/s inside the daemon vs raw llama_cpp.Llama     (target >= 0.95x)
P3 idle RSS after release vs loaded; first job after release vs warm, with and without prewarm
P4 end-to-end image job (OCR + extraction) p50 seconds          (target <= 3 s)
P5 prefix reuse on vs off, per task (generation time, off / on)
P10 per task that names a folder of real inputs (``Task.bench_inputs``): end-to-end seconds
   through the model worker on them, against the task's own p50 target (``bench_p50_s``)
P6-P9 (``daemon_measures``, `--daemon` / `--only`): a real `mustelid run` in a throwaway home:
   receipt dropped in the inbox root vs in receipts/, drop to commit; worker peak RSS; a burst
   of mixed files; start to first receipt with the model's page cache dropped vs warm

The text jobs are the bench's own tasks (``task``, a plugin in the bench's throwaway home) on
made-up receipts (``workload``); P4 and P5 also time an installed image task on real images:
the one the user names, or the first that declares ``bench_workload = True``.
"""

from __future__ import annotations

from mustelid.bench.contexts import CONTEXTS, context_costs
from mustelid.bench.suite import run, run_daemon
from mustelid.bench.task import EXTRACT_TASK

__all__ = ["CONTEXTS", "EXTRACT_TASK", "context_costs", "run", "run_daemon"]
