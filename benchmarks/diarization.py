"""Mono diarization benchmark on same-gender and mixed pairs, leave one corpus out (issue 9, item 2).

Calls are simulated per corpus (both speakers from that corpus), most of them same-gender pairs,
through the telephone line (8 kHz, noise, G.711). Silero speech regions are computed once per call
and cached, then each diarization setting runs :func:`callemo.prep.prepare_call` on the cached
regions. Scores: pyannote.metrics ``DiarizationErrorRate`` with a 0.25 s collar and without
(miss / false alarm / confusion apart), role accuracy, the call's diarization confidence and its
Spearman correlation with the call's DER, and the CPU seconds of diarization per audio second.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/diarization.py --sim-dir /tmp/diar_dev \
        --configs baseline,fused --loco --json /tmp/diar.json

``--configs``: names from :data:`CONFIGS` (``diarize_kw`` passed to ``prepare_call``). With
``--loco`` the setting with the lowest collar DER on two corpora is reported on the third.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))

#: named diarization settings (``diarize_kw`` of ``prepare_call``)
CONFIGS: dict[str, dict] = {
    "baseline": {"speaker_model": None, "nap": False},
    "gmm": {"nap": False},
    "nap": {"speaker_model": None},
    "nap+gmm": {},  # the default (gmm_weight 0.5)
    "nap+gmm1": {"gmm_weight": 1.0},
    "nap+gmm_sv0.7": {"sv_weight": 0.7},
}
#: settings whose nuisance directions are refitted without the held-out corpus (``--nap-utts``)


# ----------------------------------------------------------------------------- development calls

def simulate_dev_calls(out: Path, per_corpus: int, same_gender_share: float, seed: int) -> pd.DataFrame:
    """``per_corpus`` mono calls from each shared corpus alone (:func:`callemo.simulate.calls.corpus_calls`:
    realistic turn-taking, overlaps, backchannels, a third stored as 16 kbps MP3)."""
    from callemo.simulate.calls import corpus_calls

    parts = []
    for corpus in ("ravdess", "savee", "nemo"):
        idx = corpus_calls(corpus, SHARED, out / corpus, per_corpus, seed, stereo=False,
                           same_gender_share=same_gender_share)
        parts.append(idx.assign(corpus=corpus))
    index = pd.concat(parts, ignore_index=True)
    index["pair"] = np.where(index.same_gender.astype(bool), "same", "mixed")
    index["call"] = index["call"].astype(str)
    index.to_csv(out / "calls.csv", index=False)
    return index


def _vad_regions(path: str) -> list[tuple[float, float]]:
    """The speech regions ``prepare_call`` finds (its own VAD settings), computed once per call."""
    from callemo.prep import prepare_call

    return prepare_call(path, diarize_kw={"speaker_model": None}).speech


# ----------------------------------------------------------------------------- scoring

def _init():
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def _annotation(df: pd.DataFrame, label: str):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for s, e, lab in zip(df["start"], df["end"], df[label]):
        if e > s:
            a[Segment(float(s), float(e)), len(a)] = str(lab)
    return a


def _score_one(args) -> dict:
    path, csv, regions, name, cfg = args
    _init()
    from pyannote.metrics.diarization import DiarizationErrorRate

    from callemo.prep import prepare_call
    from callemo.prep.roles import role_accuracy

    c0 = time.process_time()
    pc = prepare_call(path, regions=regions, diarize_kw=CONFIGS[name] | cfg)
    cpu = time.process_time() - c0
    truth = pd.read_csv(csv)
    turns = pc.turns.reset_index()
    ref, hyp = _annotation(truth, "role"), _annotation(turns, "speaker")
    out = {"config": name, "call": Path(csv).stem, "path": path, "duration": pc.duration,
           "diarize_s": pc.timing.get("diarize", np.nan), "cpu_s": cpu,
           "confidence": pc.diarization_confidence,
           "role_acc": role_accuracy(turns, truth) if not turns.empty else 0.0}
    for collar in (0.25, 0.0):
        der = DiarizationErrorRate(collar=collar)
        d = der(ref, hyp, detailed=True)
        tag = "c25" if collar else "c0"
        keys = (("missed detection", "miss"), ("false alarm", "fa"), ("confusion", "conf"), ("total", "total"))
        for k, short in keys:
            out[f"{short}_{tag}"] = d[k]
    return out


def _summary(df: pd.DataFrame) -> dict:
    r = {}
    for tag in ("c25", "c0"):
        tot = df[f"total_{tag}"].sum()
        for short in ("miss", "fa", "conf"):
            r[f"{short}_{tag}"] = df[f"{short}_{tag}"].sum() / tot
        r[f"DER_{tag}"] = r[f"miss_{tag}"] + r[f"fa_{tag}"] + r[f"conf_{tag}"]
    r["role_acc"] = float(np.average(df.role_acc, weights=df.total_c0))
    r["diarize_rtf"] = df.diarize_s.sum() / df.duration.sum()
    r["prep_cpu_rtf"] = df.cpu_s.sum() / df.duration.sum()
    r["calls"] = len(df)
    return r


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim-dir", required=True)
    ap.add_argument("--per-corpus", type=int, default=12)
    ap.add_argument("--same-gender-share", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--configs", default="baseline,fused")
    ap.add_argument("--loco", action="store_true", help="pick the setting on two corpora, report it on the third")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--nap-utts", default=None,
                    help="utterance d-vectors (benchmarks/speaker_utterances.py): the nuisance directions of each "
                         "call are refitted on the OTHER corpora (default: the shipped ones, fitted on all three)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--calls-csv", default=None, help="write the per-call scores here")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    sim = Path(a.sim_dir)
    if not (sim / "calls.csv").exists():
        t = time.perf_counter()
        simulate_dev_calls(sim, a.per_corpus, a.same_gender_share, a.seed)
        print(f"simulated dev calls in {time.perf_counter() - t:.0f} s -> {sim}", file=sys.stderr)
    index = pd.read_csv(sim / "calls.csv")
    vad_json = sim / "vad.json"
    if not vad_json.exists():
        with ProcessPoolExecutor(a.jobs, initializer=_init) as ex:
            regs = list(ex.map(_vad_regions, index.mono))
        vad_json.write_text(json.dumps(dict(zip(index.call, regs))))
    vad = json.loads(vad_json.read_text())
    names = a.configs.split(",")
    nap: dict[str, dict] = {c: {} for c in index.corpus.unique()}
    if a.nap_utts:
        from callemo.prep.speaker_models import fit_nuisance

        u = np.load(a.nap_utts)
        for c in nap:
            keep = u["corpus"] != c
            nap[c] = {"nap": fit_nuisance(u["emb"][keep], u["speaker"][keep], 4)}
    jobs = [(r.mono, r.csv, vad[r.call], n, nap[r.corpus] if CONFIGS[n].get("nap", True) is True else {})
            for n in names for r in index.itertuples()]
    with ProcessPoolExecutor(a.jobs, initializer=_init) as ex:
        res = pd.DataFrame(list(ex.map(_score_one, jobs)))
    res = res.merge(index[["call", "corpus", "pair"]], on="call")
    res["DER_c25"] = (res.miss_c25 + res.fa_c25 + res.conf_c25) / res.total_c25
    res["confusion_c25"] = res.conf_c25 / res.total_c25
    if a.calls_csv:
        res.to_csv(a.calls_csv, index=False)
    from scipy.stats import spearmanr

    figures: dict = {"configs": {}, "loco": {}}
    for n in names:
        d = res[res.config == n]
        f = {"all": _summary(d)}
        for key, g in d.groupby("pair"):
            f[key] = _summary(g)
        for key, g in d.groupby("corpus"):
            f[key] = _summary(g)
        if d.confidence.notna().sum() > 2:
            f["spearman_conf_der"] = float(spearmanr(d.confidence, d.DER_c25).statistic)
            f["spearman_conf_confusion"] = float(spearmanr(d.confidence, d.confusion_c25).statistic)
        figures["configs"][n] = f
    if a.loco:
        held = []
        for corpus in sorted(index.corpus.unique()):
            train = res[res.corpus != corpus]
            scores = {n: _summary(train[train.config == n])["DER_c25"] for n in names}
            best = min(scores, key=scores.get)
            test = res[(res.corpus == corpus) & (res.config == best)]
            held.append(test)
            figures["loco"][corpus] = {"chosen": best, **_summary(test),
                                      "same": _summary(test[test.pair == "same"])}
        h = pd.concat(held)
        figures["loco"]["mean_over_folds"] = {
            k: float(np.mean([figures["loco"][c][k] for c in sorted(index.corpus.unique())]))
            for k in ("DER_c25", "conf_c25", "DER_c0", "role_acc")}
        figures["loco"]["pooled"] = _summary(h)
        if h.confidence.notna().sum() > 2:
            figures["loco"]["spearman_conf_der"] = float(spearmanr(h.confidence, h.DER_c25).statistic)
            figures["loco"]["spearman_conf_confusion"] = float(spearmanr(h.confidence, h.confusion_c25).statistic)
    hdr = (f"{'config':12s} {'subset':8s} {'n':>3s} {'DER.25':>7s} {'miss':>6s} {'FA':>6s} {'conf':>6s} "
           f"{'DER0':>7s} {'conf0':>6s} {'role':>6s} {'CPU RTF':>7s}")
    print(hdr)
    for n, f in figures["configs"].items():
        for key, s in f.items():
            if isinstance(s, dict):
                print(f"{n:12s} {key:8s} {s['calls']:3d} {s['DER_c25']:7.2%} {s['miss_c25']:6.2%} {s['fa_c25']:6.2%} "
                      f"{s['conf_c25']:6.2%} {s['DER_c0']:7.2%} {s['conf_c0']:6.2%} {s['role_acc']:6.2%} "
                      f"{s['prep_cpu_rtf']:7.4f}")
        if "spearman_conf_der" in f:
            print(f"{n:12s} Spearman(confidence, DER) = {f['spearman_conf_der']:.3f}, "
                  f"(confidence, confusion) = {f['spearman_conf_confusion']:.3f}")
    if a.loco:
        print("leave one corpus out:", json.dumps(figures["loco"], indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
