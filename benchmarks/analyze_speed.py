#!/usr/bin/env python3
"""Speed and memory of ``callemo analyze`` (issue 5: RTF <= 0.05 with --jobs 2; a one-hour call
in under 2 GB peak memory).

1. *Batch RTF*: builds ``--minutes`` of calls (simulated from a shared corpus with
   ``callemo.simulate.calls.simulate_calls`` when ``--corpus`` is there, otherwise copies of
   ``examples/call.wav`` with varied gains), then times ``callemo analyze DIR --out OUT --jobs N``
   as a subprocess (wall clock, everything included: start-up, model loading, VAD, diarization,
   emotion, plots, reports). RTF = wall seconds / audio seconds.
2. *One-hour call*: concatenates calls into one ``--long-minutes`` recording and runs
   ``callemo analyze`` on it in a subprocess, reporting its wall time and peak RSS (``ru_maxrss``
   of the child, i.e. the largest resident set of the analysing process).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analyze_speed.py --minutes 60 --jobs 2 --long-minutes 60
    # before the default model exists: --model standin (the default configuration, trained here)

3. *Transcripts* (``--transcribe auto|en|LANG``, ``--asr``): the same runs with ``callemo analyze
   --transcribe``; the long call is then also analysed without it, on the same file, so the two
   RTFs and peaks sit side by side (``long_plain_*``)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analyze_speed.py --minutes 0 --long-minutes 60 --transcribe auto

Prints a Markdown table; ``--json`` writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def make_calls(folder: Path, minutes: float, corpus: str, seed: int) -> list[Path]:
    """Calls totalling about ``minutes`` of audio in ``folder`` (mono 8 kHz)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    cdir = SHARED / corpus
    if corpus != "example" and cdir.is_dir():
        from callemo.simulate.calls import corpus_manifest, simulate_calls

        man = corpus_manifest(corpus, cdir)
        total, k, files = 0.0, 0, []
        while total < minutes * 60:
            n = max(1, int(np.ceil((minutes * 60 - total) / 90)))
            idx = simulate_calls(man, folder / f"batch{k}", n, seed + k, stereo=False, prefix=f"c{k}_")
            for r in idx.itertuples():
                files.append(Path(r.mono))
                total += float(r.duration)
            k += 1
        for f in folder.rglob("*"):  # keep only the mono calls
            if f.is_file() and f not in files:
                f.unlink()
        return files
    x, sr = sf.read(str(ROOT / "examples" / "call.wav"), dtype="float32")
    n = int(np.ceil(minutes * 60 / (len(x) / sr)))
    files = []
    rng = np.random.default_rng(seed)
    for i in range(n):
        f = folder / f"example_{i:04d}.wav"
        sf.write(str(f), np.clip(x * rng.uniform(0.5, 1.5), -1, 1), sr, subtype="ULAW")
        files.append(f)
    return files


def standin_model(directory: Path, corpus: str = "ravdess") -> Path:
    """Train the default model's configuration (``configs/default.yaml``: prosody functionals,
    per-speaker standardisation, RBF SVM, 8 kHz) on a small telephone-degraded subset of a shared
    corpus (4 classes, 4 files per speaker and class), for timing while the shipped default model
    is not there. Its accuracy is irrelevant here; its cost per segment is the default model's."""
    if (directory / "model.yaml").exists():
        return directory
    import yaml

    from callemo.io import load_audio, telephone
    from callemo.models.base import build_model
    from callemo.simulate.calls import corpus_manifest

    cfg_dir = ROOT / "src" / "callemo" / "configs"
    cfg = yaml.safe_load((cfg_dir / "default.yaml").read_text())
    while "extends" in cfg:
        base = yaml.safe_load((cfg_dir / f"{cfg.pop('extends')}.yaml").read_text())
        base.update(cfg)
        cfg = base
    cfg.pop("label_setting", None)
    man = corpus_manifest(corpus, SHARED / corpus)
    man = man[man["emotion"].isin(["neutral", "happy", "sad", "angry"])].groupby(["speaker", "emotion"]).head(4)
    rng = np.random.default_rng(0)
    sigs = [telephone(load_audio(p)[0], load_audio(p)[1], snr_db=25, rng=rng)[0] for p in man["path"]]
    model = build_model(cfg).fit(sigs, list(man["emotion"]), list(man["speaker"]))
    model.save(directory, name="benchmark stand-in (default config, RAVDESS subset)")
    return directory


def audio_seconds(files: list[Path]) -> float:
    import soundfile as sf

    return float(sum(sf.info(str(f)).duration for f in files))


def run_analyze(args: list[str]) -> tuple[float, float, int, float]:
    """Run ``callemo analyze`` in a child.

    Returns (wall s, peak RSS MiB of the largest process, exit code, CPU s of the child and its
    workers). CPU seconds do not depend on what else the machine runs; CPU / 2 estimates the
    wall time on two dedicated cores.
    """
    cmd = [sys.executable, "-m", "callemo", "analyze", *args, "--quiet"]
    # a fresh wrapper process, so the peak RSS is this command's alone (ru_maxrss of the children
    # = the largest single process among callemo and its workers)
    wrapper = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
               "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "sys.stderr.write(p.stderr[-3000:] if p.returncode not in (0, 1) else ''); "
               "print(json.dumps({'wall': time.perf_counter() - t, 'rc': p.returncode, 'maxrss_kib': r.ru_maxrss, "
               "'cpu': r.ru_utime + r.ru_stime}))")
    p = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    if p.stderr:
        sys.stderr.write(p.stderr)
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["wall"], d["maxrss_kib"] / 1024.0, d["rc"], d["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="minutes of calls for the batch RTF")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--long-minutes", type=float, default=60.0, help="length of the long call (0 = skip)")
    ap.add_argument("--corpus", default="ravdess", help="shared corpus to simulate calls from, or 'example'")
    ap.add_argument("--model", default=None,
                    help="model directory (default: the shipped model; 'standin' trains the default configuration "
                         "on a RAVDESS subset into the work folder)")
    ap.add_argument("--no-html", action="store_true", help="time without plots and reports")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated calls and outputs here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transcribe", default=None, metavar="LANG",
                    help="also transcribe (callemo analyze --transcribe --language LANG): auto | en | a code")
    ap.add_argument("--asr", default=None, help="with --transcribe: base | tiny.en")
    a = ap.parse_args()

    work = a.workdir or Path(tempfile.mkdtemp(prefix="callemo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if a.model == "standin":
        a.model = str(standin_model(work / "standin_model"))
    plain = (["--model", a.model] if a.model else []) + (["--no-html", "--no-plot"] if a.no_html else [])
    extra = plain + (["--transcribe", "--language", a.transcribe] if a.transcribe else []) + \
        (["--asr", a.asr] if a.asr and a.transcribe else [])
    figures: dict = {"jobs": a.jobs, "corpus": a.corpus, "cpus": os.cpu_count(), "transcribe": a.transcribe,
                     "asr": a.asr}
    try:
        if a.minutes > 0:
            calls = work / "calls"
            files = sorted(calls.rglob("*.wav")) if calls.is_dir() else []
            if not files:
                files = make_calls(calls, a.minutes, a.corpus, a.seed)
            secs = audio_seconds(files)
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            load0 = os.getloadavg()[0]
            wall, peak, rc, cpu = run_analyze([str(calls), "--out", str(out), "--jobs", str(a.jobs), *extra])
            figures.update(batch_calls=len(files), batch_audio_s=round(secs, 1), batch_wall_s=round(wall, 1),
                           batch_rtf=round(wall / secs, 4), batch_cpu_s=round(cpu, 1),
                           batch_rtf_cpu_per_core=round(cpu / a.jobs / secs, 4),
                           batch_peak_rss_mib=round(peak, 0), load_average_before=round(load0, 2),
                           load_average_after=round(os.getloadavg()[0], 2), batch_exit=rc)
            # per-stage timing from the JSONs (worker seconds)
            stages: dict[str, float] = {}
            for f in out.rglob("*.json"):
                for k, v in (json.loads(f.read_text()).get("timing") or {}).items():
                    stages[k] = stages.get(k, 0.0) + float(v)
            figures["batch_stage_seconds"] = {k: round(v, 1) for k, v in sorted(stages.items())}
        if a.long_minutes > 0:
            import soundfile as sf

            src = sorted((work / "calls").rglob("*.wav")) if (work / "calls").is_dir() else []
            if not src:
                src = make_calls(work / "calls", min(a.long_minutes, 10), a.corpus, a.seed)
            long = work / "long" / "hour.wav"
            long.parent.mkdir(parents=True, exist_ok=True)
            if not long.exists():
                parts, total, i = [], 0, 0
                while total < a.long_minutes * 60 * 8000:
                    x, sr = sf.read(str(src[i % len(src)]), dtype="float32")
                    assert sr == 8000
                    parts.append(x)
                    total += len(x)
                    i += 1
                sf.write(str(long), np.concatenate(parts)[: int(a.long_minutes * 60 * 8000)], 8000, subtype="ULAW")
            secs = audio_seconds([long])
            out = work / "out_long"
            shutil.rmtree(out, ignore_errors=True)
            wall, peak, rc, cpu = run_analyze([str(long), "--out", str(out), "--jobs", "1", *extra])
            figures.update(long_audio_s=round(secs, 1), long_wall_s=round(wall, 1), long_rtf=round(wall / secs, 4),
                           long_cpu_s=round(cpu, 1), long_peak_rss_mib=round(peak, 0), long_exit=rc)
            doc = json.loads((out / "hour.json").read_text())
            figures["long_stage_seconds"] = {k: round(float(v), 1) for k, v in (doc.get("timing") or {}).items()}
            if a.transcribe:
                tr = doc["summary"].get("transcript") or {}
                figures.update(long_language=tr.get("language"), long_asr=tr.get("asr"),
                               long_words=sum(len(s.get("words") or []) for s in doc["segments"]))
                shutil.rmtree(out, ignore_errors=True)
                wall, peak, rc, cpu = run_analyze([str(long), "--out", str(out), "--jobs", "1", *plain])
                figures.update(long_plain_wall_s=round(wall, 1), long_plain_rtf=round(wall / secs, 4),
                               long_plain_cpu_s=round(cpu, 1), long_plain_peak_rss_mib=round(peak, 0),
                               long_plain_exit=rc)
    finally:
        if a.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print("| figure | value |\n|---|---|")
    for k, v in figures.items():
        print(f"| {k} | {v} |")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
