#!/usr/bin/env python3
"""Scaling figures (issue 12): the local pool against Dask workers, the cluster path's overhead per
call, and queries over the results dataset of 10,000 calls.

1. *Throughput and memory*: ``--minutes`` of calls simulated once from a shared corpus into
   ``runs/scale/calls`` (``benchmarks/analyze_speed.make_calls``: ``callemo.simulate``), then
   ``callemo analyze calls --out OUT`` as a child process with ``--jobs 1``, ``--scheduler local:1``,
   ``--jobs 2`` and ``--scheduler local:2`` (in that order, so each pair runs close in time), plots,
   reports and the dataset included. Reported per run: wall time, audio hours per hour, calls per
   minute, CPU seconds of the child and all its workers (``RUSAGE_CHILDREN``: independent of what
   else the machine runs), and the peak RSS of each worker process (psutil, sampled every 0.2 s)
   and of the main process.
2. *Overhead per call*: ``--tiny`` 4-second calls cut from the simulated ones, analysed in this
   process with one worker: in process (no pool) against a warm one-worker ``LocalCluster``
   (started and warmed beforehand); (dask - local) / calls, best of two rounds each. Plus the
   start-up time of a ``local:1`` cluster.
3. *Dataset*: ``--dataset-calls`` synthetic calls (the JSON documents of run 1, with dates over 30
   days, 5 queues, jittered valences, review flags and a few words of transcript per segment)
   written with ``callemo.analyze.dataset.append_call``; then three DuckDB queries through
   ``open_dataset`` (first run and best of 3): the share of calls needing review per day, client
   valence by queue, a word search in the segments' text.
4. *Storage*: bytes written per hour of audio, by kind of output, from run 1.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/scale.py --minutes 60 --tiny 30 --dataset-calls 10000 \
        --json runs/scale/figures.json

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from analyze_speed import audio_seconds, make_calls  # noqa: E402


# -- 1. throughput and memory ----------------------------------------------------------------
def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args: list[str]) -> dict[str, Any]:
    """``callemo analyze ARGS --quiet`` in a child: wall, CPU, peak RSS of the main process and of
    each worker process (a spawned child: pool worker or Dask worker)."""
    import psutil

    cmd = [sys.executable, "-m", "callemo", "analyze", *args, "--quiet"]
    cpu0, t0 = _cpu_children(), time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    main = psutil.Process(p.pid)
    peaks: dict[int, float] = {}
    kinds: dict[int, str] = {}
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read() if p.stderr else ""), daemon=True)
    reader.start()
    while p.poll() is None:
        try:
            procs = [main, *main.children(recursive=True)]
        except psutil.Error:
            procs = []
        for q in procs:
            try:
                rss = q.memory_info().rss / 2**20
                if q.pid not in kinds:
                    cmdline = " ".join(q.cmdline())
                    kinds[q.pid] = ("main" if q.pid == p.pid else "tracker" if "resource_tracker" in cmdline
                                    else "worker" if "spawn" in cmdline else "other")
            except psutil.Error:
                continue
            peaks[q.pid] = max(peaks.get(q.pid, 0.0), rss)
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    reader.join(timeout=5)
    cpu = _cpu_children() - cpu0
    workers = sorted((peaks[k] for k, v in kinds.items() if v == "worker"), reverse=True)
    if p.returncode not in (0, 1):
        sys.stderr.write("".join(err)[-3000:])
    return {"wall_s": wall, "cpu_s": cpu, "exit": p.returncode, "main_peak_mib": peaks.get(p.pid, 0.0),
            "worker_peaks_mib": [round(w) for w in workers], "worker_processes": len(workers)}


def throughput(calls: Path, work: Path, model: list[str], n_files: int, secs: float) -> list[dict[str, Any]]:
    rows = []
    for label, args in (("pool --jobs 1", ["--jobs", "1"]), ("dask local:1", ["--scheduler", "local:1"]),
                        ("pool --jobs 2", ["--jobs", "2"]), ("dask local:2", ["--scheduler", "local:2"])):
        out = work / ("out_" + label.replace(" ", "_").replace(":", "").replace("--", ""))
        shutil.rmtree(out, ignore_errors=True)
        load = os.getloadavg()[0]
        r = run_cli([str(calls), "--out", str(out), *model, *args])
        n = sum(1 for f in out.rglob("*.json") if "dataset" not in f.relative_to(out).parts)
        workers = int(args[1].split(":")[-1]) if "local" in args[1] else int(args[1])
        r.update(run=label, out=str(out), workers=workers, calls_done=n, audio_s=secs, load_before=round(load, 1),
                 load_after=round(os.getloadavg()[0], 1),
                 audio_h_per_h=secs / r["wall_s"], calls_per_min=n / r["wall_s"] * 60,
                 audio_h_per_cpu_h=secs / r["cpu_s"] if r["cpu_s"] else None)
        if n != n_files:
            print(f"warning: {label}: {n} of {n_files} calls done (exit {r['exit']})", file=sys.stderr)
        print(f"  {label}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, workers {r['worker_peaks_mib']} MiB, "
              f"load {load:.1f}", file=sys.stderr, flush=True)
        rows.append(r)
    return rows


# -- 2. overhead per call ----------------------------------------------------------------------
def tiny_calls(src: list[Path], folder: Path, n: int, seconds: float = 4.0) -> list[Path]:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(folder.glob("*.wav"))
    if len(files) >= n:
        return files[:n]
    out = []
    for i in range(n):
        x, sr = sf.read(str(src[i % len(src)]), dtype="float32")
        k = int(seconds * sr)
        start = (i * 7 * sr) % max(1, len(x) - k)
        f = folder / f"tiny_{i:03d}.wav"
        sf.write(str(f), x[start:start + k], sr, subtype="PCM_16")
        out.append(f)
    return out


def _proc_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def overhead(files: list[Path], work: Path, model: str | None) -> dict[str, Any]:
    """Tiny calls with one worker: in this process against a warm one-worker LocalCluster (its
    scheduler runs in this process). Wall time and CPU time (this process + the worker); the CPU
    figure does not depend on what else runs on the machine."""
    import dask
    import distributed

    from callemo.analyze.batch import analyze_batch

    kw: dict[str, Any] = dict(model=model, html=False, plot=False, dataset=False, progress=False, force=True)
    t0 = time.perf_counter()
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # as local:N does
                          "distributed.worker.profile.enabled": False}):
        lc = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=40)
    start_s = time.perf_counter() - t0
    client = distributed.Client(lc, set_as_default=False)
    try:
        analyze_batch(files[:2], work / "tiny_warm", scheduler=lc.scheduler_address, **kw)  # loads the model there
        analyze_batch(files[:2], work / "tiny_warm_local", **kw)
        local, dask_, local_cpu, dask_cpu = [], [], [], []
        for _ in range(2):
            c0 = _proc_cpu()
            r = analyze_batch(files, work / "tiny_local", **kw)
            local_cpu.append(_proc_cpu() - c0)
            local.append(r.wall_seconds)
            c0, w0 = _proc_cpu(), sum(client.run(_proc_cpu).values())
            r = analyze_batch(files, work / "tiny_dask", scheduler=lc.scheduler_address, **kw)
            dask_cpu.append(_proc_cpu() - c0 + sum(client.run(_proc_cpu).values()) - w0)
            dask_.append(r.wall_seconds)
    finally:
        client.close()
        lc.close()
    n = len(files)
    return {"calls": n, "local_wall_s": [round(x, 2) for x in local], "dask_wall_s": [round(x, 2) for x in dask_],
            "local_cpu_s": [round(x, 2) for x in local_cpu], "dask_cpu_s": [round(x, 2) for x in dask_cpu],
            "local_per_call_s": min(local) / n, "dask_per_call_s": min(dask_) / n,
            "overhead_per_call_ms": (min(dask_) - min(local)) / n * 1000,
            "cpu_overhead_per_call_ms": (min(dask_cpu) - min(local_cpu)) / n * 1000, "cluster_start_s": start_s}


# -- Dask's defaults that cost CPU ---------------------------------------------------------------
def _cpu_of_two_analyses(f: str) -> float:
    """CPU seconds of this process for two analyses of ``f`` (after one to warm up)."""
    from callemo.analyze.pipeline import analyze_file
    from callemo.analyze.worker import worker_model

    m = worker_model(None)
    analyze_file(f, model=m)
    t = time.process_time()
    for _ in range(2):
        analyze_file(f, model=m)
    return time.process_time() - t


def dask_defaults(f: Path) -> dict[str, float]:
    """The same two analyses: in a plain process with and without ``MALLOC_TRIM_THRESHOLD_=65536``,
    and in a one-worker LocalCluster with and without the worker's profiler (trim unset)."""
    import dask
    import distributed

    res = {}
    for trim in (None, "65536"):
        env = dict(os.environ)
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
        if trim:
            env["MALLOC_TRIM_THRESHOLD_"] = trim
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                f"from scale import _cpu_of_two_analyses; print(_cpu_of_two_analyses({str(f)!r}))")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        res[f"plain process, MALLOC_TRIM_THRESHOLD_={trim or 'unset'}"] = float(out.stdout.split()[-1])
    for prof in (True, False):
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                              "distributed.worker.profile.enabled": prof}):
            lc = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                          silence_logs=50)
        with distributed.Client(lc, set_as_default=False) as c:
            res[f"Dask worker, profiler {'on' if prof else 'off'}"] = c.submit(
                _cpu_of_two_analyses, str(f), pure=False).result()
        lc.close()
    return res


# -- 3. the dataset ------------------------------------------------------------------------------
WORDS = ["refund", "cancel", "invoice", "thank", "sorry", "delivery", "password", "manager", "broken", "please"]
QUERIES = {
    "review share per day": "SELECT date, avg(needs_review::INT) AS share, count(*) AS calls FROM calls "
                            "GROUP BY date ORDER BY date",
    "client valence by queue": "SELECT queue, avg(valence_client) AS valence, avg(client_end_valence) AS end_valence, "
                               "count(*) AS calls FROM calls GROUP BY queue ORDER BY queue",
    "word search 'refund'": "SELECT call_id, start, text FROM segments WHERE text ILIKE '%refund%' ORDER BY call_id, "
                            "start",
}


def synth_dataset(templates: list[dict[str, Any]], out: Path, n: int, seed: int = 0) -> dict[str, Any]:
    from callemo.analyze.dataset import append_call

    rng = np.random.default_rng(seed)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    n_segments = 0
    for i in range(n):
        doc = copy.deepcopy(templates[i % len(templates)])
        s = doc["summary"]
        shift = float(rng.normal(0, 0.15))
        for role in ("agent", "client"):
            if (s.get("mean") or {}).get(role) and s["mean"][role].get("valence") is not None:
                s["mean"][role]["valence"] = float(s["mean"][role]["valence"]) + shift
        review = bool(rng.random() < 0.2)
        s["needs_review"] = review
        s["review_reasons"] = ["client valence drops"] if review else []
        for g in doc["segments"]:
            g["text"] = " ".join(rng.choice(WORDS, size=6))
        n_segments += len(doc["segments"])
        meta = {"date": f"2026-11-{1 + i % 30:02d}", "queue": f"queue{i % 5}"}
        append_call(out, f"calls/c{i:05d}", doc, meta)
    write_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in (out / "dataset").rglob("*.parquet"))
    return {"calls": n, "segments": n_segments, "write_s": write_s, "write_ms_per_call": write_s / n * 1000,
            "parquet_mib": size / 2**20}


def time_queries(out: Path) -> dict[str, Any]:
    from callemo.analyze.dataset import open_dataset

    res = {}
    for name, sql in QUERIES.items():
        times, rows = [], 0
        for _ in range(4):  # a fresh connection each time: nothing cached between runs but the OS's
            t0 = time.perf_counter()
            con = open_dataset(out)
            rows = len(con.execute(sql).fetchall())
            times.append(time.perf_counter() - t0)
            con.close()
        res[name] = {"first_s": times[0], "best_s": min(times[1:]), "rows": rows}
    return res


def compact_and_time(out: Path) -> dict[str, Any]:
    """Compact the dataset (one file per date and table, what a batch does at its end) and time the
    same queries again."""
    from callemo.analyze.dataset import compact_dataset

    t0 = time.perf_counter()
    merged = compact_dataset(out)
    compact_s = time.perf_counter() - t0
    files = sum(1 for _ in (out / "dataset").rglob("*.parquet"))
    return {"compact_s": compact_s, "dates": len(merged), "files_after": files, "queries": time_queries(out)}


# -- 4. storage ----------------------------------------------------------------------------------
def storage(out: Path, secs: float) -> dict[str, float]:
    by: dict[str, int] = {}
    for f in out.rglob("*"):
        if f.is_file():
            kind = "dataset" if "dataset" in f.relative_to(out).parts else (f.suffix or f.name)
            by[kind] = by.get(kind, 0) + f.stat().st_size
    hours = secs / 3600
    return {k: v / hours / 2**20 for k, v in sorted(by.items())} | {"total": sum(by.values()) / hours / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="minutes of calls for the throughput runs")
    ap.add_argument("--corpus", default="ravdess", help="shared corpus the calls are simulated from")
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--tiny", type=int, default=30, help="4-second calls for the overhead per call (0 = skip)")
    ap.add_argument("--dataset-calls", type=int, default=10000, help="synthetic calls in the dataset (0 = skip)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "scale")
    ap.add_argument("--skip-throughput", action="store_true", help="reuse the outputs of an earlier run")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dask-defaults", action="store_true",
                    help="only: CPU of two analyses of one call with and without Dask's MALLOC_TRIM_THRESHOLD_ and "
                         "worker profiler")
    a = ap.parse_args()
    if a.dask_defaults:
        calls = a.workdir / f"calls_{a.corpus}_{a.minutes:g}min"
        f = sorted(calls.rglob("*.wav"))[0]
        print(f"CPU seconds of two analyses of {f.name}:\n\n| where | CPU s |\n|---|---|")
        for k, v in dask_defaults(f).items():
            print(f"| {k} | {v:.2f} |")
        return

    work = a.workdir
    work.mkdir(parents=True, exist_ok=True)
    calls = work / f"calls_{a.corpus}_{a.minutes:g}min"
    files = sorted(calls.rglob("*.wav")) if calls.is_dir() else []
    if not files:
        files = make_calls(calls, a.minutes, a.corpus, a.seed)
    secs = audio_seconds(files)
    model = ["--model", a.model] if a.model else []
    fig: dict[str, Any] = {"cpus": os.cpu_count(), "calls": len(files), "audio_s": round(secs, 1),
                           "load_average_start": [round(x, 1) for x in os.getloadavg()]}
    print(f"{len(files)} calls, {secs / 60:.1f} min of audio in {calls}", file=sys.stderr, flush=True)
    if not a.skip_throughput:
        fig["runs"] = throughput(calls, work, model, len(files), secs)
    first = work / "out_pool_jobs_1"
    if (first / "summary.csv").exists():
        fig["storage_mib_per_audio_hour"] = storage(first, secs)
    if a.tiny:
        fig["overhead"] = overhead(tiny_calls(files, work / "tiny", a.tiny), work, a.model)
        print(f"  overhead: {fig['overhead']}", file=sys.stderr, flush=True)
    if a.dataset_calls:
        templates = [json.loads(f.read_text()) for f in sorted(first.rglob("*.json"))
                     if "dataset" not in f.relative_to(first).parts]
        ds = work / "dataset10k"
        fig["dataset"] = synth_dataset(templates, ds, a.dataset_calls, a.seed)
        fig["queries"] = time_queries(ds)
        fig["compaction"] = compact_and_time(ds)
    fig["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(fig, indent=1, default=float))
    report(fig)


def report(fig: dict[str, Any]) -> None:
    print(f"\n{fig['calls']} calls, {fig['audio_s'] / 60:.1f} min of audio; {fig['cpus']} CPUs; load average "
          f"{fig['load_average_start']} at start, {fig['load_average_end']} at end\n")
    if fig.get("runs"):
        print("| run | wall s | audio h / h | calls / min | CPU s | audio h / CPU h | worker peak RSS MiB "
              "| main peak RSS MiB |\n|---|---|---|---|---|---|---|---|")
        for r in fig["runs"]:
            print(f"| {r['run']} | {r['wall_s']:.1f} | {r['audio_h_per_h']:.1f} | {r['calls_per_min']:.1f} | "
                  f"{r['cpu_s']:.1f} | {r['audio_h_per_cpu_h'] or float('nan'):.1f} | "
                  f"{', '.join(map(str, r['worker_peaks_mib'])) or '-'} | {r['main_peak_mib']:.0f} |")
        by = {r["run"]: r for r in fig["runs"]}
        for n in (1, 2):
            p, d = by.get(f"pool --jobs {n}"), by.get(f"dask local:{n}")
            if p and d:
                print(f"\n{n} worker(s): Dask throughput / pool = {p['wall_s'] / d['wall_s']:.3f} (wall), "
                      f"{p['cpu_s'] / d['cpu_s']:.3f} (CPU)", end="")
        print()
    if fig.get("overhead"):
        o = fig["overhead"]
        print(f"\noverhead per call ({o['calls']} calls of 4 s, one worker): in process {o['local_per_call_s']:.3f} s,"
              f" warm local:1 cluster {o['dask_per_call_s']:.3f} s -> {o['overhead_per_call_ms']:.0f} ms per call "
              f"(wall), {o['cpu_overhead_per_call_ms']:.0f} ms CPU per call; cluster start {o['cluster_start_s']:.1f} s"
              f" (wall runs: local {o['local_wall_s']}, dask {o['dask_wall_s']}; CPU runs: local {o['local_cpu_s']}, "
              f"dask {o['dask_cpu_s']})")
    if fig.get("storage_mib_per_audio_hour"):
        print("\n| output | MiB per audio hour |\n|---|---|")
        for k, v in fig["storage_mib_per_audio_hour"].items():
            print(f"| {k} | {v:.2f} |")
    if fig.get("dataset"):
        d = fig["dataset"]
        print(f"\ndataset: {d['calls']} calls, {d['segments']} segments, {d['parquet_mib']:.1f} MiB of Parquet, "
              f"written in {d['write_s']:.0f} s ({d['write_ms_per_call']:.1f} ms per call)\n")
        c = fig.get("compaction") or {}
        cq = c.get("queries") or {}
        print("| query | one file per call: first s | best of 3 s | compacted: first s | best of 3 s | rows |\n"
              "|---|---|---|---|---|---|")
        for name, q in fig["queries"].items():
            k = cq.get(name) or {}
            print(f"| {name} | {q['first_s']:.2f} | {q['best_s']:.2f} | {k.get('first_s', float('nan')):.2f} | "
                  f"{k.get('best_s', float('nan')):.2f} | {q['rows']} |")
        if c:
            print(f"\ncompaction: {c['compact_s']:.0f} s for {c['dates']} dates -> {c['files_after']} files")


if __name__ == "__main__":
    main()
