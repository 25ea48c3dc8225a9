"""Call benchmark (issue 5): simulated telephone calls from the shared corpora -> preparation
(and, when ``callemo.analyze.analyze_file`` exists, the full analysis) -> DER, role accuracy,
emotion accuracy on client turns, real-time factor, peak memory.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 python benchmarks/calls.py --calls 30 --jobs 2

DER: pyannote.metrics ``DiarizationErrorRate(collar=0.25)`` (0.25 s forgiven on each side of every
reference boundary; overlapped speech is scored, not skipped), accumulated over all calls.
Role accuracy: share of the truth's speech time whose predicted role matches.
RTF: processing seconds / audio seconds: wall seconds per process, CPU seconds per process (what
a call costs on one core, whatever else the machine is doing), and wall clock over the batch
(``--jobs N``). Peak memory: ``ru_maxrss`` of a fresh process preparing (or analysing) a
one-hour call built by tiling simulated calls (``--hour``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _init_worker():
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def _run_one(args) -> dict:
    path, kind, analyze = args
    _init_worker()
    from callemo.prep import prepare_call

    t = time.perf_counter()
    pc = prepare_call(path)
    prep_s = time.perf_counter() - t
    out = {"path": path, "kind": kind, "prep_s": prep_s, "prep_cpu_s": pc.timing.get("cpu", prep_s), "duration": pc.duration,
           "turns": pc.turns.reset_index().to_dict("list")}
    if analyze:
        try:
            from callemo.analyze import analyze_file

            t = time.perf_counter()
            res = analyze_file(path)
            out["analyze_s"] = time.perf_counter() - t
            seg = res.segments.reset_index()
            out["pred"] = seg[[c for c in ("start", "end", "role", "emotion") if c in seg.columns]].to_dict("list")
        except Exception as e:  # noqa: BLE001 - the benchmark reports it and goes on
            out["analyze_error"] = f"{type(e).__name__}: {e}"
    return out


def _annotation(df: pd.DataFrame, label: str):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for s, e, lab in zip(df["start"], df["end"], df[label]):
        if e > s:
            a[Segment(float(s), float(e)), len(a)] = str(lab)
    return a


def _emotion_hits(truth: pd.DataFrame, pred: pd.DataFrame) -> tuple[float, float]:
    """Seconds of client truth utterances whose best-overlapping predicted client segment has the
    same emotion (calm counted as neutral), and seconds judged."""
    norm = {"calm": "neutral"}
    hit = tot = 0.0
    p = pred[(pred.get("role") == "client")] if "role" in pred else pred
    for r in truth[truth.role == "client"].itertuples():
        ov = (np.minimum(p["end"], r.end) - np.maximum(p["start"], r.start)).clip(lower=0)
        if len(ov) == 0 or ov.max() <= 0:
            tot += r.end - r.start
            continue
        emo = str(p["emotion"].iloc[int(np.argmax(ov.to_numpy()))])
        tot += r.end - r.start
        hit += (r.end - r.start) * (norm.get(emo, emo) == norm.get(r.emotion, r.emotion))
    return hit, tot


def _hour_memory(sim_dir: Path, analyze: bool) -> dict:
    """Peak RSS of a fresh process preparing (and analysing) a one-hour call."""
    import soundfile as sf

    hour = sim_dir / "hour.wav"
    if not hour.exists():
        parts, n = [], 0
        for p in sorted(sim_dir.glob("call*[0-9].wav")):
            x, sr = sf.read(str(p), dtype="float32")
            parts.append(x)
            n += len(x)
            if n >= 3600 * 8000:
                break
        x = np.concatenate(parts)
        reps = int(np.ceil(3600 * 8000 / len(x)))
        sf.write(str(hour), np.tile(x, reps)[: 3600 * 8000], 8000, subtype="PCM_16")
    code = (
        "import resource,time,torch,json;torch.set_num_threads(1);"
        "from callemo.prep import prepare_call;t=time.perf_counter();"
        f"pc=prepare_call({str(hour)!r});d=time.perf_counter()-t;r={{'prep_s':d,'turns':len(pc.turns)}};"
        + ("\ntry:\n from callemo.analyze import analyze_file;t=time.perf_counter();"
           f"analyze_file({str(hour)!r});r['analyze_s']=time.perf_counter()-t\nexcept Exception as e: r['analyze_error']=str(e)\n"
           if analyze else "\n")
        + "r['peak_mb']=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024;print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        return {"error": out.stderr[-2000:]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--corpora", default="ravdess,savee,nemo")
    ap.add_argument("--sim-dir", default=None, help="where simulated calls go (default: $CALLEMO_CACHE/bench_calls_<seed>_<n>)")
    ap.add_argument("--no-analyze", action="store_true", help="preparation only, even when the analysis exists")
    ap.add_argument("--hour", action="store_true", help="also measure peak memory on a one-hour call")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from pyannote.metrics.diarization import DiarizationErrorRate

    from callemo.prep.roles import role_accuracy
    from callemo.simulate.calls import corpus_manifest, simulate_calls

    cache = Path(os.environ.get("CALLEMO_CACHE", Path.home() / ".cache" / "callemo"))
    sim_dir = Path(a.sim_dir) if a.sim_dir else cache / f"bench_calls_{a.seed}_{a.calls}"
    index_csv = sim_dir / "calls.csv"
    if not index_csv.exists():
        names = [c for c in a.corpora.split(",") if (SHARED / c).is_dir()]
        if not names:
            print(f"no corpus found under {SHARED}", file=sys.stderr)
            return {}
        manifest = pd.concat([corpus_manifest(c, SHARED / c) for c in names], ignore_index=True)
        t = time.perf_counter()
        simulate_calls(manifest, sim_dir, n_calls=a.calls, seed=a.seed)
        print(f"simulated {a.calls} calls from {','.join(names)} in {time.perf_counter() - t:.0f} s -> {sim_dir}")
    index = pd.read_csv(index_csv)
    analyze = False
    if not a.no_analyze:
        try:
            from callemo.analyze import analyze_file  # noqa: F401

            analyze = True
        except ImportError:
            pass
    jobs = [(r.mono, "mono", analyze) for r in index.itertuples()] + [(r.stereo, "stereo", analyze) for r in index.itertuples()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs, initializer=_init_worker) as ex:
        results = list(ex.map(_run_one, jobs))
    wall = time.perf_counter() - t0
    figures: dict = {"calls": len(index), "audio_hours": float(index.duration.sum() / 3600), "collar": 0.25,
                     "jobs": a.jobs}
    by_call = {Path(r.mono).stem: r for r in index.itertuples()}
    for kind in ("mono", "stereo"):
        der = DiarizationErrorRate(collar=0.25)
        role_num = role_den = 0.0
        emo_hit = emo_tot = 0.0
        prep = dur = ana = cpu = 0.0
        errors = []
        for res in results:
            if res["kind"] != kind:
                continue
            stem = Path(res["path"]).stem.replace("_stereo", "")
            truth = pd.read_csv(by_call[stem].csv)
            turns = pd.DataFrame(res["turns"])
            if turns.empty:
                turns = pd.DataFrame({"start": [], "end": [], "speaker": [], "role": []})
            der(_annotation(truth, "role"), _annotation(turns, "speaker"))
            sp = float((truth.end - truth.start).sum())
            role_num += role_accuracy(turns, truth) * sp if not turns.empty else 0.0
            role_den += sp
            prep += res["prep_s"]
            cpu += res["prep_cpu_s"]
            dur += res["duration"]
            if "pred" in res:
                h, t = _emotion_hits(truth, pd.DataFrame(res["pred"]))
                emo_hit += h
                emo_tot += t
                ana += res.get("analyze_s", 0.0)
            if "analyze_error" in res:
                errors.append(res["analyze_error"])
        d = {
            "DER": abs(der),
            "confusion": der["confusion"] / der["total"],
            "missed": der["missed detection"] / der["total"],
            "false_alarm": der["false alarm"] / der["total"],
            "role_accuracy": role_num / role_den if role_den else float("nan"),
            "prep_rtf_per_process": prep / dur,
            "prep_cpu_rtf": cpu / dur,
        }
        if emo_tot:
            d["client_emotion_accuracy"] = emo_hit / emo_tot
            d["analyze_rtf_per_process"] = ana / dur
        if errors:
            d["analyze_errors"] = errors[:3]
        figures[kind] = d
    total_audio = sum(r["duration"] for r in results)
    figures["batch_wall_rtf"] = wall / total_audio
    figures["peak_rss_mb_batch_parent"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if a.hour:
        figures["one_hour_call"] = _hour_memory(sim_dir, analyze)
    print(f"\n{len(index)} simulated calls ({figures['audio_hours'] * 60:.1f} min), DER collar 0.25 s, jobs={a.jobs}")
    print(f"{'':8s} {'DER':>7s} {'conf':>7s} {'miss':>7s} {'FA':>7s} {'role acc':>9s} {'prep RTF':>9s} {'CPU RTF':>8s} {'emo acc':>8s}")
    for kind in ("mono", "stereo"):
        d = figures[kind]
        emo = f"{d['client_emotion_accuracy']:.3f}" if "client_emotion_accuracy" in d else "-"
        print(f"{kind:8s} {d['DER']:7.4f} {d['confusion']:7.4f} {d['missed']:7.4f} {d['false_alarm']:7.4f} "
              f"{d['role_accuracy']:9.4f} {d['prep_rtf_per_process']:9.4f} {d['prep_cpu_rtf']:8.4f} {emo:>8s}")
    print(f"batch wall-clock RTF (mono+stereo, {'prep, then the full analysis' if analyze else 'prep'}, jobs={a.jobs}): {figures['batch_wall_rtf']:.4f}")
    for kind in ("mono", "stereo"):
        if "analyze_rtf_per_process" in figures[kind]:
            print(f"{kind}: full analysis RTF per process {figures[kind]['analyze_rtf_per_process']:.4f}")
    if "one_hour_call" in figures:
        print(f"one-hour call: {figures['one_hour_call']}")
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
