"""``mustelid bench``: the speed and memory targets, measured as side-by-side ratios."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from mustelid import WaitingError
from mustelid.cli.app import State, pass_state

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SROIE = DATA / "sroie-dev"
DAEMON_MEASURES = ("p6", "p7", "p8", "p9")


def _images(folder: Path | None, n: int) -> list[Path]:
    if n <= 0:
        return []
    candidates = [folder] if folder else [SROIE, Path("examples/inbox")]
    for c in candidates:
        if c and c.is_dir():
            found = sorted(p for p in c.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            if found:
                return found[: n + 1]   # the extra one warms the OCR engine, unmeasured
    return []


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quick", is_flag=True, help="2 pairs, no receipts: a smoke test.")
@click.option("--pairs", type=int, default=5, show_default=True, help="A/B pairs per comparison.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A GGUF to bench instead of the configured model.")
@click.option("--threads", type=int, help="Generation threads (default: model.threads).")
@click.option("--n-ctx", type=int, default=2048, show_default=True)
@click.option("--receipts", type=int, default=5, show_default=True,
              help="Receipt images for P4/P5 (0: skip OCR).")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of receipt images (default: shared/data/sroie-dev, examples/inbox).")
@click.option("--inputs", "per_task", type=int, default=None,
              help="P10: real inputs timed per task that names a bench folder (default 15, "
                   "--quick 0; 0: skip).")
@click.option("--task", "task_name", metavar="TASK",
              help="The task P4/P5 time on the images (default: the first installed task that "
                   "declares bench_workload).")
@click.option("--vision", is_flag=True,
              help="Instead: the configured vision model's image encode time and memory "
                   "(llama.cpp with [model] mmproj, or an MLX vision model; also part of the "
                   "full run when [model] mmproj is set).")
@click.option("--contexts", is_flag=True,
              help="Instead: anonymous memory of each n_ctx / KV type / flash-attention setting.")
@click.option("--daemon", "daemon_all", is_flag=True,
              help="Instead: P6-P9 on a real running daemon (same as --only p6,p7,p8,p9).")
@click.option("--only", metavar="P6,P7,...",
              help="Instead of P1-P5: only these of the daemon measures p6, p7, p8, p9.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="P6-P9 inputs: a folder holding sroie-dev/, screens-dev/, notes-dev/ "
                   "(default: shared/data).")
@click.option("--burst", type=int, default=100, show_default=True,
              help="P8: files dropped at once (--quick: 6).")
@pass_state
def bench(state: State, as_json: bool, quick: bool, pairs: int, model_path: Path | None,
          threads: int | None, n_ctx: int, receipts: int, images: Path | None,
          per_task: int | None, task_name: str | None, vision: bool, contexts: bool,
          daemon_all: bool, only: str | None, data: Path | None, burst: int) -> None:
    """Measure P1-P5, or P6-P9 with --daemon / --only (docs/BENCHMARKS.md). Wrap it in `flock`
    on a shared machine."""
    # Imported when run: the supervisor and model modules would slow every command's start-up.
    from mustelid import bench as b
    from mustelid.models import resolve_model

    cfg = state.config
    log = lambda s: click.echo(s, err=True)  # noqa: E731  (progress: stderr, even with --json)
    if vision:      # the measuring process loads the configured model itself, whatever it is
        _vision_only(state, as_json, images, max(receipts, 1), threads, log)
        return
    if model_path is None:
        try:
            model_path = resolve_model(cfg)
        except WaitingError as e:
            raise click.ClickException(e.message) from None
    if quick:
        pairs, receipts = min(pairs, 2), 0
    if contexts:
        rows = b.context_costs(model_path.resolve(), threads or cfg.model.threads, log)
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            for r in rows:
                click.echo("\t".join(str(r.get(k, "")) for k in
                                      ("n_ctx", "kv", "flash_attn", "anon_mb", "decode_tok_s",
                                       "error")))
        return
    if daemon_all or only:
        chosen = set(DAEMON_MEASURES) if daemon_all else _measures(only)
        if quick:
            pairs, receipts, burst = 1, 1, min(burst, 6)
        out = b.run_daemon(_daemon_config(state, model_path.resolve(), threads),
                           state.config.plugins_path,
                           model_path.resolve(), threads or cfg.model.threads,
                           data or DATA, chosen, receipts=receipts, burst=burst, pairs=pairs,
                           log=log)
        if as_json:
            click.echo(json.dumps(out, indent=2, default=str))
        else:
            for key in ("p6_root_receipt_p50_s", "p6_receipts_folder_p50_s",
                        "p7_worker_peak_rss_mb", "p8_burst_files_per_min", "p8_burst_lost",
                        "p9_cold_start_s", "p9_warm_start_s"):
                shown = "not measured" if out.get(key) is None else out[key]
                click.echo(f"{key:<28} {shown}")
        return
    found = _images(images, receipts)
    out = b.run(model_path.resolve(), threads or cfg.model.threads, pairs=pairs, n_ctx=n_ctx,
                images=found, log=log, image_task=_image_task(state, task_name, found, log),
                **_p10_inputs(state, data or DATA, per_task, quick))
    if cfg.model.mmproj:
        out["vision"] = _vision(state, images, max(receipts, 1), threads, log)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    _print_table(out, b.EXTRACT_TASK)


def _vision_only(state: State, as_json: bool, folder: Path | None, n: int,
                 threads: int | None, log: Callable[[str], None]) -> None:
    # A llama.cpp model sees only with its projector; other backends (an MLX vision folder,
    # a server) say in the measuring process whether their model can see.
    if state.config.model.backend == "llama_cpp" and not state.config.model.mmproj:
        raise click.ClickException("no vision model is configured ([model] mmproj; see "
                                   "`mustelid models add --mmproj`)")
    out = _vision(state, folder, n, threads, log)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
    elif "error" in out:
        raise click.ClickException(out["error"])
    else:
        _print_vision(out)


def _vision(state: State, folder: Path | None, n: int, threads: int | None,
            log: Callable[[str], None]) -> dict:
    from mustelid.bench.vision import vision_measures

    found = _images(folder, n)[:n]
    log(f"vision: the projector on {len(found)} image(s)")
    return vision_measures(found, state.config.config_path, threads)


def _print_vision(out: dict) -> None:
    if "error" in out:
        click.echo(f"{'Vision':<48} not measured: {out['error']}")
        return
    for label, key in (("Vision image encode, seconds", "encode_s"),
                       ("Vision tokens per image", "image_tokens")):
        click.echo(f"{label:<48} {_summary_text(out.get(key))}")
    click.echo(f"{'Vision projector memory at load, MiB':<48} {out.get('mmproj_rss_mb')}")


def _measures(only: str) -> set[str]:
    chosen = {m.strip().lower() for m in only.split(",") if m.strip()}
    unknown = chosen - set(DAEMON_MEASURES)
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(DAEMON_MEASURES)} (P1-P5 run without "
                                 f"--only); got {only!r}", param_hint="--only")
    return chosen


def _daemon_config(state: State, model: Path, threads: int | None) -> dict:
    """The user's config for the bench's own daemon home: their model, tasks and routes, but
    the default stability window, no schedules, and nothing of theirs (inbox, done folder)."""
    import tomllib

    path = state.config.config_path
    raw = tomllib.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else {}
    inbox = {k: v for k, v in raw.get("inbox", {}).items() if k not in ("path", "done_folder")}
    model_keys = {k: v for k, v in raw.get("model", {}).items() if k != "sha256"}
    model_keys.update(path=str(model), idle_release=0, idle_unload=0)
    if threads:
        model_keys["threads"] = threads
    raw.pop("plugins_dir", None)          # the user's plugins are copied into the bench home
    return {**raw, "inbox": {**inbox, "stable_seconds": 2.0}, "model": model_keys,
            "jobs": {**raw.get("jobs", {}), "timeout_seconds": 600}, "schedules": {}}


def _p10_inputs(state: State, data: Path, n: int | None, quick: bool) -> dict:
    n = (0 if quick else 15) if n is None else n      # --inputs, or its default
    inputs = task_inputs(state.host.tasks, data, n)
    return {"task_inputs": inputs,
            "targets": {name: state.host.tasks[name].bench_p50_s for name in inputs}}


def task_inputs(tasks: dict, data: Path, n: int) -> dict[str, list[Path]]:
    """P10's inputs: for each task that names a folder of ``data`` (``bench_inputs``), one input
    to warm it and ``n`` to time, spread evenly over the folder's sorted inputs (its names are
    shuffled, its kinds are not grouped)."""
    from mustelid.evaluate import INPUT_SUFFIXES

    out: dict[str, list[Path]] = {}
    for name, task in tasks.items():
        folder = data / task.bench_inputs if task.bench_inputs and n > 0 else None
        if folder is None or not folder.is_dir():
            continue
        found = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
        if len(found) < 2:
            continue
        rest = found[1:]          # the first warms the task, unmeasured
        picked = [rest[int((i + 0.5) * len(rest) / n)] for i in range(min(n, len(rest)))]
        out[name] = [found[0]] + picked
    return out


def _image_task(state: State, name: str | None, images: list[Path],
                log: Callable[[str], None]) -> str | None:
    """The task P4/P5 run on ``images``: ``name``, or the first installed task that declares
    itself the bench's image workload (``bench_workload = True``)."""
    tasks = state.host.tasks
    if name is not None:
        if name not in tasks:
            raise click.ClickException(f"unknown task {name!r}; installed: "
                                       f"{', '.join(sorted(tasks))}")
        return name
    if not images:
        return None
    candidates = [n for n, task in tasks.items() if getattr(task, "bench_workload", False)]
    if not candidates:
        log("no installed task declares bench_workload: P4 and the image part of P5 are "
            "skipped (name one with --task)")
        return None
    return candidates[0]


def _print_table(out: dict, text_task: str) -> None:
    m = out["machine"]
    click.echo(f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads; load "
               f"{m['loadavg_before']} -> {m['loadavg_after']}")
    rows = [
        ("P1 daemon job vs one-shot script (x faster)", "p1", ("p1", "ratio"), ">= 1.5"),
        ("P1 same, open schema (grammar on both sides)", "p1", ("p1_open", "ratio"), "-"),
        ("P2 decode tok/s daemon / raw", "p2", ("p2", "ratio"), ">= 0.95"),
        ("P3 idle RSS after release / loaded", "p3", ("p3", "idle_rss_ratio"), "<= 0.4"),
        ("P3 first job after release / warm, prewarm", "p3",
         ("p3", "first_job_ratio_prewarm"), "<= 1.10"),
        ("P3 first job after release / warm, no prewarm", "p3",
         ("p3", "first_job_ratio_no_prewarm"), "-"),
        ("P4 receipt end to end, seconds", "p4", ("p4", "seconds"), "<= 3"),
        ("P5 prefix reuse on vs off (x faster)", "p5", ("p5", text_task, "speedup"), "-"),
    ]
    for label, _, keys, target in rows:
        node = out
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        click.echo(f"{label:<48} {_summary_text(node):<40} target {target}")
    for task, m in (out.get("p10") or {}).items():
        target = f"<= {m['target_p50_s']:g}" if m.get("target_p50_s") else "-"
        click.echo(f"{'P10 ' + task + ' end to end, seconds':<48} "
                   f"{_summary_text(m['seconds']):<40} target {target}")
    if "vision" in out:
        _print_vision(out["vision"])


def _summary_text(node: dict | None) -> str:
    """A ``measures.summary`` as the table shows it."""
    if not node or not node.get("n"):
        return "not measured"
    return f"{node['median']} (min {node['min']}, max {node['max']}, n {node['n']})"
