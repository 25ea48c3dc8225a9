"""Call benchmark (issue 9): calls from unseen speakers, corpora and languages.

**Leave one corpus out** (``--protocol loco``, the headline): for each shared corpus (RAVDESS,
SAVEE, nEMO) the emotion model is trained on the OTHER two with the default model's
configuration and recipe (``benchmarks/train_default_model.py``: 4 classes, telephone quality),
and calls are simulated from the held-out corpus only (:func:`callemo.simulate.calls.corpus_calls`:
agent >= 80 % neutral turns, client with emotional episodes, >= half same-gender pairs, gaps of
0.1-1.5 s, ~15 % overlapping speaker changes, backchannels, speakers levelled to -26 +- 4 dBFS,
8 kHz G.711 with noise at 15-35 dB SNR, a third archived as 16 kbps MP3; reference turns from
silero-vad on the clean wideband source). VAD and diarization run with their shipped settings,
none tuned on the held-out corpus. ``--protocol in-corpus`` runs the shipped default model
(trained on all three corpora) on the same calls; ``both`` gives the two lines.

Each call is analysed in mono and in stereo (``callemo.analyze.analyze_file``, emotions for both
roles). Reported per fold, averaged over the folds, and split by same-gender / mixed pairs (and
G.711 / MP3 storage in the JSON):

* DER with a 0.25 s collar and without (pyannote.metrics, overlapped speech scored; missed
  speech, false alarm and confusion apart), from the preparation's speaker turns;
* role accuracy: share of the reference speech time whose predicted role matches;
* client-turn UA (4 classes) over the client's reference utterances, each given the emotion of
  the predicted segment that overlaps it most (a segment of the same predicted role first);
  ``unknown`` or no segment counts as wrong; the per-role confusion matrices (JSON);
* the share of neutral agent utterances called angry, and called anything but neutral (of all
  neutral agent utterances);
* ECE (10 bins, top label) and AUROC of the confidence for "the prediction is right", over the
  utterances of both roles that got probabilities;
* RTF: analysis wall seconds / audio seconds per process (and CPU seconds).

Per-fold models are cached under ``runs/loco_calls/models/`` (keyed by the configuration and the
training corpora; ``--retrain`` after changing training code), the simulated calls under
``runs/loco_calls/calls/``. Examples::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/calls.py --protocol both --calls 8 --json runs/loco_calls.json
    python benchmarks/calls.py --quick                       # one fold (nEMO), 3 calls
    python benchmarks/calls.py --fold nemo --calls 6 --component diarization   # preparation only, no model
    python benchmarks/calls.py --fold ravdess --calls 6 --component emotion    # fold model on the reference turns
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
RUNS = ROOT / "runs" / "loco_calls"
CORPORA = ("ravdess", "savee", "nemo")
KINDS = ("mono", "stereo")
GROUPS = ("all", "same", "mixed", "g711", "mp3")
COMPONENTS = ("full", "diarization", "emotion")


# ----------------------------------------------------------------------------- fold models

def _shipped_unknown_below() -> float | None:
    """The shipped default model's ``unknown_below`` (fold models answer ``unknown`` where it would)."""
    from callemo.models.base import default_model_dir, read_card

    v = read_card(default_model_dir()).get("unknown_below")
    return None if v is None else float(v)


def fold_model_dir(held_out: str, config: str = "default", runs: Path = RUNS, calibration: str = "temperature") -> Path:
    """Where the model trained without ``held_out`` lives (key: configuration, training corpora and recipe)."""
    from callemo.train.fit import load_config

    train = sorted(c for c in CORPORA if c != held_out)
    blob = json.dumps({"config": load_config(config), "train": train, "setting": "4class", "telephone": True,
                       "calibration": calibration, "unknown_below": _shipped_unknown_below()},
                      sort_keys=True, default=str)
    key = hashlib.sha1(blob.encode()).hexdigest()[:10]
    return runs / "models" / f"{config}_without_{held_out}_{key}"


def train_fold_model(held_out: str, *, config: str = "default", data: Path = SHARED, runs: Path = RUNS,
                     retrain: bool = False, jobs: int = 1, calibration: str = "temperature") -> Path:
    """Train ``config`` on the shared corpora except ``held_out`` by the default model's recipe
    (``benchmarks/train_default_model.py``: 4 classes, every file at telephone quality without
    added noise, the configuration's own noise augmentation; probabilities calibrated on held-out
    predictions among the two training corpora only, ``calibration``; ``unknown_below`` as the
    shipped default model's). Cached; returns the folder."""
    out = fold_model_dir(held_out, config, runs, calibration)
    if (out / "model.yaml").exists() and not retrain:
        return out
    from callemo.corpora import build_manifest
    from callemo.labels.schemes import apply_setting
    from callemo.train.calibration import heldout_calibration
    from callemo.train.fit import load_config, train_from_manifest
    from callemo.train.manifest import load_signals

    train = [c for c in CORPORA if c != held_out]
    df = pd.concat([apply_setting(build_manifest(c, data / c), "4class") for c in train], ignore_index=True)
    t = time.perf_counter()
    print(f"training {config} without {held_out} ({len(df)} utterances of {'+'.join(train)}) -> {out}", flush=True)
    signals = load_signals(df, 8000, telephone=True, snr_range=None, jobs=jobs)
    cal = None
    if calibration != "none":
        cfg = load_config(config)
        cal, cal_card = heldout_calibration(cfg, signals, df["emotion"], df["speaker"], df["corpus"], calibration)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    m = train_from_manifest(df, config, tmp, telephone=True, setting="4class", signals=signals,
                            description=f"leave-one-corpus-out fold model: {config} trained without {held_out}",
                            training_recipe=f"python benchmarks/calls.py (fold {held_out})")
    if cal is not None:
        m.card["calibration"] = cal_card
    # like the shipped model: its `unknown` threshold, with or without a calibrator
    m.set_calibration(cal, unknown_below=_shipped_unknown_below())
    m.save(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    print(f"  trained in {time.perf_counter() - t:.0f} s", flush=True)
    return out


# ----------------------------------------------------------------------------- held-out calls

def fold_calls(held_out: str, n_calls: int, seed: int = 0, *, data: Path = SHARED, runs: Path = RUNS) -> pd.DataFrame:
    """The simulated calls of a fold (from ``held_out`` only), cached under ``runs/loco_calls/calls``."""
    from callemo.simulate.calls import SIM_VERSION, corpus_calls

    d = runs / "calls" / f"{held_out}_n{n_calls}_s{seed}_v{SIM_VERSION}"
    if (d / "calls.csv").exists():
        index = pd.read_csv(d / "calls.csv")
        if len(index) == n_calls:
            return index
    t = time.perf_counter()
    index = corpus_calls(held_out, data, d, n_calls, seed)
    print(f"simulated {n_calls} calls from {held_out} ({index.duration.sum() / 60:.1f} min) in "
          f"{time.perf_counter() - t:.0f} s -> {d}", flush=True)
    return index


# ----------------------------------------------------------------------------- running the pipeline

_MODELS: dict[str, Any] = {}
_KEPT: dict[str, Any] = {}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def _model(path: str | None):
    from callemo.models.base import load_model

    key = str(path)
    if key not in _MODELS:
        _MODELS[key] = load_model(path)
    return _MODELS[key]


def _prepare_and_keep(*args: Any, **kw: Any):
    """``prepare_call`` that keeps its result, so the benchmark scores the very turns the analysis used."""
    from callemo.prep.call import prepare_call

    pc = prepare_call(*args, **kw)
    _KEPT["prepared"] = pc
    return pc


def _oracle_segments(path: str, truth: pd.DataFrame, model, stereo: bool) -> pd.DataFrame:
    """The model's predictions on the reference utterances (no VAD, no diarization)."""
    from callemo.io import load_audio

    x, sr = load_audio(path, int(model.sample_rate), mono=False)
    ref = truth[~truth.backchannel.astype(bool)].reset_index(drop=True)
    sigs, keep = [], []
    for i, r in ref.iterrows():
        src = x[int(r.channel)] if (stereo and x.ndim == 2) else (x.mean(axis=0) if x.ndim == 2 else x)
        sig = src[int(r.start * sr) : int(r.end * sr)]
        if len(sig) >= float(model.min_duration) * sr - 1:
            sigs.append(sig)
            keep.append(i)
    labels = [str(v) for v in model.labels]
    seg = ref[["start", "end", "role"]].copy()
    seg["emotion"] = "unknown"
    seg["confidence"] = np.nan
    for lab in labels:
        seg["p_" + lab] = np.nan
    if sigs:
        p = np.asarray(model.predict_proba(sigs, [ref.role[i] for i in keep]), float)
        seg.loc[keep, [f"p_{lab}" for lab in labels]] = p
        seg.loc[keep, "emotion"] = [labels[j] for j in p.argmax(axis=1)]
        seg.loc[keep, "confidence"] = model.confidence(p)
    return seg


def _run(job: dict[str, Any]) -> dict[str, Any]:
    _init_worker()
    comp, path = job["component"], job["path"]
    # an empty feature cache per analysis: the same segments analysed before (the other protocol,
    # a rerun) must not make the RTF look cheaper than a call analysed once
    cache = tempfile.mkdtemp(prefix="callemo_bench_cache_")
    os.environ["CALLEMO_CACHE"] = cache
    t, c = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {k: job[k] for k in ("fold", "call", "kind", "protocol")}
    try:
        turns = segs = None
        if comp == "diarization":
            turns = _prepare_and_keep(path).turns.reset_index()
        elif comp == "full":
            from callemo.analyze.pipeline import analyze_file

            res = analyze_file(path, model=_model(job["model"]), emotions="all", prepare=_prepare_and_keep)
            turns = _KEPT.pop("prepared").turns.reset_index()
            segs = res.segments.reset_index()
        else:
            segs = _oracle_segments(path, pd.read_csv(job["csv"]), _model(job["model"]), job["kind"] == "stereo")
        out["wall_s"], out["cpu_s"] = time.perf_counter() - t, time.process_time() - c
        if turns is not None:
            out["turns"] = turns[["start", "end", "speaker", "role"]].to_dict("list")
        if segs is not None:
            cols = ["start", "end", "role", "emotion", "confidence"] + [k for k in segs.columns
                                                                          if str(k).startswith("p_")]
            out["segments"] = segs[cols].to_dict("list")
    except Exception as e:  # the benchmark reports it and goes on
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


# ----------------------------------------------------------------------------- scoring

def match_emotions(truth: pd.DataFrame, segs: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per reference utterance (backchannels left out): ``role, true, predicted``, the
    ``confidence`` and the probabilities of the predicted segment that overlaps it most (same
    predicted role first; the confidence is the top probability where the segments have no
    ``confidence`` column); ``predicted`` is ``missed`` where no segment overlaps it."""
    rows = []
    s0, s1 = segs["start"].to_numpy(float), segs["end"].to_numpy(float)
    pcols = [f"p_{lab}" for lab in labels]
    for r in truth[~truth.backchannel.astype(bool)].itertuples():
        ov = np.clip(np.minimum(s1, r.end) - np.maximum(s0, r.start), 0, None)
        same = ov * (segs["role"].astype(str).to_numpy() == r.role)
        pick = same if same.max(initial=0) > 0 else ov
        row = {"role": r.role, "true": r.emotion, "predicted": "missed", "confidence": np.nan,
               **dict.fromkeys(pcols, np.nan)}
        if pick.max(initial=0) > 0:
            s = segs.iloc[int(np.argmax(pick))]
            row["predicted"] = str(s["emotion"])
            row.update({c: float(s[c]) if c in s and pd.notna(s[c]) else np.nan for c in pcols})
            probs = [row[c] for c in pcols]
            conf = s["confidence"] if "confidence" in s else (np.nanmax(probs) if np.isfinite(probs).any() else np.nan)
            row["confidence"] = float(conf) if pd.notna(conf) else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["role", "true", "predicted", "confidence", *pcols])


def _der_parts(truth: pd.DataFrame, turns: pd.DataFrame) -> dict[str, dict[str, float]]:
    from pyannote.metrics.diarization import DiarizationErrorRate

    from callemo.simulate.calls import annotation

    ref, hyp = annotation(truth, "role"), annotation(turns, "speaker")
    out = {}
    for name, collar in (("collar", 0.25), ("nocollar", 0.0)):
        d = DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, detailed=True)
        out[name] = {k: float(d[k]) for k in ("total", "missed detection", "false alarm", "confusion")}
    return out


def confidence_ece(conf: np.ndarray, right: np.ndarray, n_bins: int = 10) -> float:
    """ECE of a confidence for "the prediction is right": the bins of
    :func:`callemo.evaluate.metrics.expected_calibration_error` (``(b/n, (b+1)/n]``, 0 in the first)."""
    conf, right = np.asarray(conf, float), np.asarray(right, float)
    bins = np.clip(np.ceil(np.round(conf * n_bins, 9)).astype(np.int64) - 1, 0, n_bins - 1)
    gap = np.abs(np.bincount(bins, weights=right, minlength=n_bins) - np.bincount(bins, weights=conf, minlength=n_bins))
    return float(gap.sum() / len(bins))


def _emotion_figures(em: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from callemo.evaluate.metrics import confusion_matrix, expected_calibration_error, unweighted_average_recall

    f: dict[str, Any] = {}
    cl = em[em.role == "client"]
    f["n_client"] = len(cl)
    f["client_ua"] = float(unweighted_average_recall(cl.true, cl.predicted, labels)) if len(cl) else float("nan")
    an = em[(em.role == "agent") & (em.true == "neutral")]
    f["n_agent_neutral"] = len(an)
    f["agent_neutral_as_angry"] = float((an.predicted == "angry").mean()) if len(an) else float("nan")
    other = an.predicted.isin(labels) & (an.predicted != "neutral")
    f["agent_neutral_not_neutral"] = float(other.mean()) if len(an) else float("nan")
    f["no_label_share"] = float((~em.predicted.isin(labels)).mean()) if len(em) else float("nan")
    pcols = [f"p_{lab}" for lab in labels]
    judged = em.dropna(subset=[*pcols, "confidence"])
    judged = judged[judged.true.isin(labels)]
    f["n_judged"] = len(judged)
    if len(judged):
        p = judged[pcols].to_numpy(float)
        conf = judged["confidence"].to_numpy(float)
        right = (np.asarray(labels)[p.argmax(axis=1)] == judged.true.to_numpy()).astype(int)
        # of the confidence the analysis reports (the model's confidence map, or the top probability)
        f["ece"] = confidence_ece(conf, right)
        f["ece_top_probability"] = float(expected_calibration_error(judged.true.tolist(), p, labels))
        f["auroc"] = float(roc_auc_score(right, conf)) if 0 < right.sum() < len(right) else float("nan")
        f["accuracy_judged"] = float(right.mean())
    cols = [*labels, "unknown", "missed"]
    f["confusion"] = {}
    for role in ("client", "agent"):
        e = em[em.role == role]
        if len(e):
            cm = confusion_matrix(e.true, e.predicted, cols)
            f["confusion"][role] = {"labels": cols, "matrix": np.asarray(cm)[: len(labels)].astype(int).tolist()}
    return f


def score(results: list[dict[str, Any]], index: pd.DataFrame, labels: list[str] | None,
          confidence: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Figures of one fold (one protocol): per kind (mono/stereo), per group of calls.

    ``confidence`` (the fold model's :meth:`confidence`) recomputes each segment's reported
    confidence from its kept probabilities, so a confidence map fitted after the analyses
    (``--fit-confidence``) is scored by ``--rescore`` without analysing again (the map changes
    neither labels nor probabilities)."""
    from callemo.prep.roles import role_accuracy

    calls = index.set_index("call")
    per_call: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    errors = []
    for res in results:
        if "error" in res:
            errors.append(f"{res['call']} {res['kind']}: {res['error']}")
            continue
        meta = calls.loc[res["call"]]
        truth = pd.read_csv(meta.csv)
        row: dict[str, Any] = {"call": res["call"], "same": bool(meta.same_gender), "storage": meta.storage,
                               "duration": float(meta.duration), "wall_s": res["wall_s"], "cpu_s": res["cpu_s"]}
        if "turns" in res:
            turns = pd.DataFrame(res["turns"])
            row["der"] = _der_parts(truth, turns)
            sp = float((truth.end - truth.start).sum())
            row["role_time"] = (role_accuracy(turns, truth) if len(turns) else 0.0) * sp
            row["speech"] = sp
        if "segments" in res and labels is not None:
            em = match_emotions(truth, pd.DataFrame(res["segments"]), labels)
            pcols = [f"p_{lab}" for lab in labels]  # match_emotions always has them (NaN: not judged)
            has_p = em[pcols].notna().all(axis=1).to_numpy()
            if confidence is not None and has_p.any():
                em.loc[has_p, "confidence"] = confidence(em.loc[has_p, pcols].to_numpy(float))
            row["emotions"] = em
        per_call[res["kind"]].append(row)
    out: dict[str, Any] = {}
    for kind, rows in per_call.items():
        if not rows:
            continue
        out[kind] = {}
        for g in GROUPS:
            sel = [r for r in rows if g == "all" or (g == "same" and r["same"]) or (g == "mixed" and not r["same"])
                   or r["storage"] == g]
            if sel:
                out[kind][g] = _group_figures(sel, labels, with_confusion=(g == "all"))
    if errors:
        out["errors"] = errors[:5]
    return out


def _group_figures(rows: list[dict[str, Any]], labels: list[str] | None, with_confusion: bool) -> dict[str, Any]:
    dur = sum(r["duration"] for r in rows)
    f: dict[str, Any] = {"n_calls": len(rows), "audio_min": dur / 60, "rtf": sum(r["wall_s"] for r in rows) / dur,
                         "cpu_rtf": sum(r["cpu_s"] for r in rows) / dur}
    if "der" in rows[0]:
        for name, prefix in (("collar", "der"), ("nocollar", "der_nocollar")):
            parts = ("total", "missed detection", "false alarm", "confusion")
            tot = {k: sum(r["der"][name][k] for r in rows) for k in parts}
            f[prefix] = (tot["missed detection"] + tot["false alarm"] + tot["confusion"]) / tot["total"]
            f[prefix + "_missed"] = tot["missed detection"] / tot["total"]
            f[prefix + "_false_alarm"] = tot["false alarm"] / tot["total"]
            f[prefix + "_confusion"] = tot["confusion"] / tot["total"]
        f["role_accuracy"] = sum(r["role_time"] for r in rows) / sum(r["speech"] for r in rows)
    if labels is not None and "emotions" in rows[0]:
        e = _emotion_figures(pd.concat([r["emotions"] for r in rows], ignore_index=True), labels)
        if not with_confusion:
            e.pop("confusion")
        f.update(e)
    return f


def mean_over_folds(folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each figure averaged over the folds that have it (mixed pairs: not in SAVEE, all male)."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        for g in GROUPS:
            figs = [f[kind][g] for f in folds.values() if kind in f and g in f[kind]]
            if not figs:
                continue
            keys = [k for k, v in figs[0].items() if isinstance(v, (int, float))]
            out.setdefault(kind, {})[g] = {k: float(np.nanmean([fg.get(k, np.nan) for fg in figs])) for k in keys}
            out[kind][g]["n_folds"] = len(figs)
    return out


# ----------------------------------------------------------------------------- confidence maps

def heldout_predictions(fold: str, n_calls: int, seed: int, runs: Path = RUNS) -> pd.DataFrame:
    """The fold's utterances (both roles, mono and stereo) with the probabilities of the loco
    analysis (its kept raw outputs) and the true label; those the model judged only."""
    raw = runs / "results" / f"full_loco_{fold}_n{n_calls}_s{seed}.json"
    if not raw.exists():
        raise SystemExit(f"{raw}: run the loco protocol of this fold first (no raw outputs to fit on)")
    index = fold_calls(fold, n_calls, seed, runs=runs).set_index("call")
    out = []
    for res in json.loads(raw.read_text()):
        if "segments" not in res:
            continue
        segs = pd.DataFrame(res["segments"])
        labels = [str(c)[2:] for c in segs.columns if str(c).startswith("p_")]
        em = match_emotions(pd.read_csv(index.loc[res["call"]].csv), segs, labels)
        out.append(em.assign(call=res["call"], kind=res["kind"]))
    em = pd.concat(out, ignore_index=True)
    return em.dropna(subset=[c for c in em.columns if str(c).startswith("p_")])[lambda d: d.true.isin(labels)]


def fit_confidence_maps(models: dict[tuple[str, str], str | None], n_calls: int, seed: int, runs: Path = RUNS,
                        ship: bool = False) -> None:
    """Fit each fold model's :class:`~callemo.models.confidence.ConfidenceMap` on the loco
    predictions of the OTHER folds (so the benchmark's confidence figures stay held out) and write
    it into the fold model's card; ``ship``: fit one on all three folds into the default model's card."""
    import yaml

    from callemo.models.base import MODEL_CARD, default_model_dir
    from callemo.models.confidence import ConfidenceMap

    preds = {f: heldout_predictions(f, n_calls, seed, runs) for f in CORPORA}
    labels = [c[2:] for c in preds[CORPORA[0]].columns if c.startswith("p_")]

    def fit(folds: list[str]) -> ConfidenceMap:
        d = pd.concat([preds[f] for f in folds], ignore_index=True)
        return ConfidenceMap.fit(d[[f"p_{lab}" for lab in labels]].to_numpy(float), d.true, labels,
                                 fitted_on=f"loco call benchmark predictions (benchmarks/calls.py, {n_calls} calls "
                                           f"per fold, seed {seed}, mono + stereo, both roles) of the folds "
                                           f"{'+'.join(folds)}: {len(d)} utterances")

    def write(directory: Path, m: ConfidenceMap) -> None:
        card_path = directory / MODEL_CARD
        card = yaml.safe_load(card_path.read_text())
        card["confidence_map"] = m.to_card()
        card_path.write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True))
        print(f"confidence map ({m.fitted_on}) -> {card_path}", flush=True)

    for (proto, fold), model in models.items():
        if proto == "loco" and model is not None:
            write(Path(model), fit([f for f in CORPORA if f != fold]))
    if ship:
        write(default_model_dir(), fit(list(CORPORA)))


# ----------------------------------------------------------------------------- output

_COLS = [("der", "DER", "{:6.1%}"), ("der_missed", "miss", "{:5.1%}"), ("der_false_alarm", "FA", "{:5.1%}"),
         ("der_confusion", "conf", "{:5.1%}"), ("der_nocollar", "DER0", "{:6.1%}"),
         ("role_accuracy", "role", "{:6.1%}"),
         ("client_ua", "UA", "{:5.3f}"), ("agent_neutral_as_angry", "N>A", "{:5.1%}"),
         ("agent_neutral_not_neutral", "N>!N", "{:5.1%}"), ("ece", "ECE", "{:5.3f}"), ("auroc", "AUROC", "{:5.3f}"),
         ("rtf", "RTF", "{:6.4f}"), ("cpu_rtf", "cpuRTF", "{:6.4f}")]


def table(figures: dict[str, Any]) -> str:
    head = f"{'':28s}" + "".join(f"{h:>8s}" for _, h, _ in _COLS)
    lines = [head]
    for proto in ("loco", "in_corpus"):
        if proto not in figures:
            continue
        blocks = [(f"{proto} {fold}", figs) for fold, figs in figures[proto]["folds"].items()]
        blocks.append((f"{proto} MEAN", figures[proto]["mean"]))
        for name, figs in blocks:
            for kind in KINDS:
                for g in ("all", "same", "mixed"):
                    f = figs.get(kind, {}).get(g)
                    if not f:
                        continue
                    cells = []
                    for k, _, fmt in _COLS:
                        v = f.get(k)
                        empty = v is None or (isinstance(v, float) and np.isnan(v))
                        cells.append(f"{'-':>8s}" if empty else f"{fmt.format(v):>8s}")
                    lines.append(f"{name + ' ' + kind + ' ' + g:28s}" + "".join(cells))
        lines.append("")
    return "\n".join(lines)


def markdown(figures: dict[str, Any], folds: bool = True) -> str:
    """The docs' table: per protocol, each fold's and the mean figures per kind (the mean also for
    same-gender and mixed pairs)."""
    def pct(f: dict[str, Any], k: str) -> str:
        v = f.get(k)
        return "-" if v is None or np.isnan(v) else f"{100 * v:.1f}"

    def num(f: dict[str, Any], k: str, d: int = 3) -> str:
        v = f.get(k)
        return "-" if v is None or np.isnan(v) else f"{v:.{d}f}"

    out = ["| protocol, fold | audio | pairs | DER % (miss / FA / conf) | DER % no collar | role acc. % | "
           "client UA | neutral agent -> angry / not neutral % | ECE | AUROC | CPU RTF |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for proto in ("loco", "in_corpus"):
        if proto not in figures:
            continue
        blocks = list(figures[proto]["folds"].items()) if folds else []
        blocks.append(("mean", figures[proto]["mean"]))
        for name, figs in blocks:
            for kind in KINDS:
                for g in ("all", "same", "mixed") if name == "mean" else ("all",):
                    f = figs.get(kind, {}).get(g)
                    if not f:
                        continue
                    der = (f"{pct(f, 'der')} ({pct(f, 'der_missed')} / {pct(f, 'der_false_alarm')} / "
                           f"{pct(f, 'der_confusion')})")
                    label = f"**{proto} {name}**" if name == "mean" and g == "all" else f"{proto} {name}"
                    out.append(f"| {label} | {kind} | {g} | {der} | {pct(f, 'der_nocollar')} | "
                               f"{pct(f, 'role_accuracy')} | {num(f, 'client_ua')} | "
                               f"{pct(f, 'agent_neutral_as_angry')} / {pct(f, 'agent_neutral_not_neutral')} | "
                               f"{num(f, 'ece')} | {num(f, 'auroc')} | {num(f, 'cpu_rtf', 4)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=("loco", "in-corpus", "both"), default="loco")
    ap.add_argument("--fold", action="append", choices=CORPORA, help="held-out corpus (repeat; default: all three)")
    ap.add_argument("--calls", type=int, default=8, help="calls per fold")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--component", choices=COMPONENTS, default="full",
                    help="full analysis; diarization = preparation only (no model); emotion = model on reference turns")
    ap.add_argument("--config", default="default", help="configuration of the fold models")
    ap.add_argument("--calibration", choices=("temperature", "vector", "none"), default="none",
                    help="held-out calibration of the fold models; 'none' is the shipped default model's recipe "
                         "(docs/models.md: calibration fitted on other corpora did not transfer)")
    ap.add_argument("--fold-model", action="append", default=[], metavar="FOLD=DIR",
                    help="use this model directory for a fold instead of training one (e.g. a kept baseline)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--retrain", action="store_true", help="train the fold models again")
    ap.add_argument("--train-only", action="store_true", help="train (or find) the fold models and stop")
    ap.add_argument("--fit-confidence", action="store_true",
                    help="fit each fold model's confidence map on the other folds' kept loco predictions, "
                         "write it into the fold model's card, and stop")
    ap.add_argument("--ship-confidence", action="store_true",
                    help="with --fit-confidence: also fit one on all three folds into the default model's card")
    ap.add_argument("--quick", action="store_true", help="3 calls of the nEMO fold (a smoke run)")
    ap.add_argument("--runs", default=str(RUNS), help="cache of fold models and simulated calls")
    ap.add_argument("--rescore", action="store_true",
                    help="score the raw results kept under runs/ again (folds may have been run apart)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--markdown", action="store_true", help="also print the docs' markdown table")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    runs = Path(a.runs)
    folds = a.fold or (["nemo"] if a.quick else list(CORPORA))
    n_calls = 3 if a.quick else a.calls
    protocols = ["loco", "in_corpus"] if a.protocol == "both" else [a.protocol.replace("-", "_")]
    if a.component == "diarization":
        protocols = ["loco"]  # no model involved
    t_start = time.perf_counter()
    given = dict(v.split("=", 1) for v in a.fold_model)
    if set(given) - set(CORPORA) or not all((Path(d) / "model.yaml").exists() for d in given.values()):
        raise SystemExit(f"--fold-model takes FOLD=DIR with FOLD in {CORPORA} and a model directory: {a.fold_model}")
    models: dict[tuple[str, str], str | None] = {}
    for fold in folds:
        for proto in protocols:
            if a.component == "diarization":
                models[(proto, fold)] = None
            elif proto == "loco" and fold in given:
                models[(proto, fold)] = given[fold]
            elif proto == "loco":
                models[(proto, fold)] = str(train_fold_model(fold, config=a.config, runs=runs, retrain=a.retrain,
                                                             calibration=a.calibration))
            else:
                models[(proto, fold)] = None  # the shipped default model
    if a.train_only:
        return {}
    if a.fit_confidence:
        if a.component != "full" or "loco" not in protocols:
            raise SystemExit("--fit-confidence fits on the loco protocol's full analyses")
        fit_confidence_maps(models, n_calls, a.seed, runs, ship=a.ship_confidence)
        return {}
    indexes = {fold: fold_calls(fold, n_calls, a.seed, runs=runs) for fold in folds}
    jobs = [{"protocol": proto, "fold": fold, "call": r.call, "kind": kind, "path": getattr(r, kind), "csv": r.csv,
             "model": model, "component": a.component}
            for (proto, fold), model in models.items() for r in indexes[fold].itertuples() for kind in KINDS]
    results = []
    for proto, fold in models:  # raw outputs kept per fold: --rescore combines folds run apart
        raw = runs / "results" / f"{a.component}_{proto}_{fold}_n{n_calls}_s{a.seed}.json"
        todo = [j for j in jobs if (j["protocol"], j["fold"]) == (proto, fold)]
        if a.rescore:
            if not raw.exists():
                raise SystemExit(f"{raw}: no raw results of this fold to score again (run it without --rescore)")
            results += json.loads(raw.read_text())
            continue
        t = time.perf_counter()
        if a.jobs > 1:
            # spawned, not forked: a parent that has just trained a fold model holds thread pools
            # whose locks a forked child inherits (the workers hung)
            with ProcessPoolExecutor(max_workers=a.jobs, initializer=_init_worker,
                                     mp_context=multiprocessing.get_context("spawn")) as ex:
                res = list(ex.map(_run, todo))
        else:
            res = [_run(j) for j in todo]
        print(f"{proto} {fold}: ran {len(todo)} analyses in {time.perf_counter() - t:.0f} s", flush=True)
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(res, default=float))
        results += res
    figures: dict[str, Any] = {
        "command": "python benchmarks/calls.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "component": a.component, "calls_per_fold": n_calls, "seed": a.seed, "config": a.config,
    }
    for proto in protocols:
        per_fold = {}
        for fold in folds:
            model = models[(proto, fold)]
            labels = None if a.component == "diarization" else [str(v) for v in _model(model).labels]
            res = [r for r in results if r["protocol"] == proto and r["fold"] == fold]
            conf = None if a.component == "diarization" else _model(model).confidence
            per_fold[fold] = score(res, indexes[fold], labels, conf)
            per_fold[fold]["model"] = model or "default"
        figures[proto] = {"folds": per_fold, "mean": mean_over_folds(per_fold)}
    figures["wall_s"] = time.perf_counter() - t_start
    print()
    print(table(figures))
    if a.markdown:
        print(markdown(figures))
    for proto in protocols:
        for f in figures[proto]["folds"].values():
            for err in f.get("errors", []):
                print(f"ERROR {proto} {err}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(figures, indent=1, default=float))
    return figures


if __name__ == "__main__":
    main()
