"""The evaluation protocol: speaker-independent cross-validation, held-out evaluation, and
leave-one-corpus-out, each with bootstrap CIs over speakers and chance baselines beside the model.

Results are plain dicts (JSON-serialisable through :func:`to_json`) with at least ``ua``, ``wa``,
``macro_f1``, ``ua_ci``, ``wa_ci``, ``macro_f1_ci``, ``per_class_recall``, ``confusion``,
``labels``, ``baselines`` and ``protocol``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CallemoError
from ..io.files import atomic_write_text
from ..utils import plain
from . import metrics
from .baselines import majority_class, majority_predictions, random_baseline
from .folds import check_folds, group_folds, leave_one_group_out
from .metrics import bootstrap_scores, classification_report, percentile_ci


class EvaluationError(CallemoError, ValueError):
    """An evaluation cannot run (no labels, misaligned signals, missing column)."""


def _log(progress: bool, msg: str) -> None:
    if progress:
        from rich.console import Console

        Console(stderr=True).print(msg, highlight=False, markup=False)


def apply_label_setting(df: pd.DataFrame, signals, setting, label_column: str):
    """Apply a label setting (keeping ``signals`` aligned) and reset the index to positions."""
    if label_column not in df.columns:
        raise EvaluationError(f"manifest has no {label_column!r} column")
    d = df.reset_index(drop=True)
    if signals is not None and len(signals) != len(d):
        raise EvaluationError(f"{len(signals)} signals for {len(d)} manifest rows")
    if setting is not None:
        from ..labels.schemes import apply_setting

        d = apply_setting(d, setting, column=label_column)
        keep = d.index.to_numpy()
        if signals is not None:
            signals = [signals[i] for i in keep]
        d = d.reset_index(drop=True)
    if len(d) == 0:
        raise EvaluationError("no items left to evaluate (after the label setting)")
    return d, signals


def _ci_groups(df: pd.DataFrame, group: str) -> tuple[np.ndarray | None, str | None]:
    """Bootstrap unit: speakers when the manifest has them, else the fold group, else items."""
    for col in ("speaker", group):
        if col in df.columns:
            return df[col].astype(str).to_numpy(), col
    return None, None


def _unit(col: str | None) -> str:
    return "items" if col is None else ("speakers" if col == "speaker" else f"groups of {col!r}")


def _sample_rate(config: dict[str, Any], sr: int | None) -> int:
    from ..models.base import build_model

    return int(sr) if sr else int(getattr(build_model(config), "sample_rate", 16000))


def _fit_predict(config, signals, y, speakers, tr, te, gender=None):
    from ..models.base import build_model
    from ..train.tasks import fit_model

    model = build_model(config)
    fit_model(model, [signals[i] for i in tr], [y[i] for i in tr], [speakers[i] for i in tr],
              gender=None if gender is None else [gender[i] for i in tr])
    proba = np.asarray(model.predict_proba([signals[i] for i in te], [speakers[i] for i in te]))
    if proba.shape != (len(te), len(model.labels)):
        raise EvaluationError(f"model returned probabilities of shape {proba.shape}, "
                              f"expected {(len(te), len(model.labels))}")
    labels = list(model.labels)
    return [labels[j] for j in proba.argmax(axis=1)], proba, labels


def run_folds(
    df: pd.DataFrame,
    config: dict[str, Any],
    folds,
    signals: Sequence[np.ndarray],
    *,
    label_column: str = "emotion",
    fold_group: str = "speaker",
    progress: bool = False,
) -> dict[str, Any]:
    """Fit on each training fold, predict each test fold; pooled predictions and per-fold scores."""
    y = df[label_column].astype(str).tolist()
    speakers = df["speaker"].astype(str).tolist() if "speaker" in df.columns else df[fold_group].astype(str).tolist()
    gcol = df[fold_group].astype(str).to_numpy()
    # multitask models (CNN-BiLSTM emotion + gender) get the gender column when the manifest has one
    gender = df["gender"].astype(str).tolist() if "gender" in df.columns and df["gender"].notna().all() else None
    pred = np.empty(len(df), dtype=object)
    per_fold = []
    for i, (tr, te) in enumerate(folds):
        t0 = time.perf_counter()
        p, _, model_labels = _fit_predict(config, signals, y, speakers, tr, te, gender)
        pred[te] = p
        yt = [y[j] for j in te]
        r = classification_report(yt, p, None, n_boot=0)
        per_fold.append({
            "fold": i,
            "test_groups": sorted(set(gcol[te])),
            "n_train": len(tr),
            "n_test": len(te),
            "ua": r["ua"],
            "wa": r["wa"],
            "macro_f1": r["macro_f1"],
            "majority_class": majority_class([y[j] for j in tr]),
            "model_labels": model_labels,
            "seconds": round(time.perf_counter() - t0, 2),
        })
        names = ", ".join(per_fold[-1]["test_groups"][:4]) + (" ..." if len(per_fold[-1]["test_groups"]) > 4 else "")
        _log(progress, f"fold {i + 1}/{len(folds)} [{names}]: UA {r['ua']:.3f}  WA {r['wa']:.3f}  "
                       f"({len(tr)} train / {len(te)} test, {per_fold[-1]['seconds']:.1f} s)")
    return {"predictions": pred.tolist(), "folds": per_fold}


def _signals_for(d: pd.DataFrame, signals, rate: int, *, telephone: bool, jobs: int, progress: bool,
                 noise: bool = True):
    """``signals`` when given, else the manifest's audio loaded at ``rate`` (with ``telephone``,
    noise as in training unless ``noise=False``: codec only)."""
    if signals is not None:
        return signals
    from ..train.manifest import load_signals

    kw: dict[str, Any] = {} if noise else {"snr_range": None}
    return load_signals(d, rate, telephone=telephone, jobs=jobs, progress=progress, **kw)


def _label_order(y: Sequence[str], setting) -> list[str]:
    present = sorted(set(map(str, y)))
    if setting is not None:
        from ..labels.schemes import SETTING_LABELS, LabelSetting

        order = [x for x in SETTING_LABELS[LabelSetting.from_config(setting).setting] if x in present]
        return order + [x for x in present if x not in order]
    from ..labels.schemes import CANONICAL, SETTING_LABELS

    for cand in (SETTING_LABELS["4class"], SETTING_LABELS["polarity"], SETTING_LABELS["binary"], CANONICAL):
        if set(present) <= set(cand):
            return [x for x in cand if x in present]
    return present


def crossval(
    df: pd.DataFrame,
    config: dict[str, Any],
    *,
    group: str = "speaker",
    k: int = 5,
    seed: int = 0,
    sr: int | None = None,
    telephone: bool = False,
    jobs: int = 1,
    progress: bool = True,
    signals: Sequence[np.ndarray] | None = None,
    n_boot: int = 1000,
    stratify: bool = True,
    label_column: str = "emotion",
    setting: Any = None,
) -> dict[str, Any]:
    """Grouped (speaker-independent) k-fold cross-validation of ``build_model(config)``.

    Each fold trains a fresh model on the training speakers and predicts the test speakers; the
    pooled predictions give UA/WA/macro-F1 with 95 % bootstrap CIs over speakers, per-class recall
    and the confusion matrix; ``folds`` holds per-fold scores; ``baselines`` the random and
    majority (of each training fold) baselines on the same items. Audio is loaded at the model's
    ``sample_rate`` (or ``sr``), telephone-degraded when ``telephone``. Pass ``signals`` (aligned
    with ``df``) to reuse loaded audio; ``setting`` applies a label setting first (default: the
    config's ``label_setting`` key, if any).
    """
    if setting is None:
        setting = config.get("label_setting")
    d, signals = apply_label_setting(df, signals, setting, label_column)
    rate = _sample_rate(config, sr)
    signals = _signals_for(d, signals, rate, telephone=telephone, jobs=jobs, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folds = group_folds(d, group, k=k, stratify=label_column if stratify else None, seed=seed)
    notes = [str(w.message) for w in caught]
    for n in notes:
        warnings.warn(n, stacklevel=2)
    check_folds(d[group].astype(str).to_numpy(), folds)
    run = run_folds(d, config, folds, signals, label_column=label_column, fold_group=group, progress=progress)
    y = d[label_column].astype(str).tolist()
    labels = _label_order(y, setting)
    groups, ci_unit = _ci_groups(d, group)
    result = classification_report(y, run["predictions"], labels, groups=groups, n_boot=n_boot, seed=seed)
    maj = classification_report(y, majority_predictions(y, folds), result["labels"], groups=groups, n_boot=n_boot,
                                seed=seed)
    maj["method"] = "most frequent class of each training fold"
    maj["classes"] = [f["majority_class"] for f in run["folds"]]
    rnd = random_baseline(y, labels, groups=groups, seed=seed)
    fold_ua = [f["ua"] for f in run["folds"]]
    result.update(
        folds=run["folds"],
        fold_ua_mean=float(np.mean(fold_ua)),
        fold_ua_std=float(np.std(fold_ua, ddof=1)) if len(fold_ua) > 1 else 0.0,
        baselines={"random": rnd, "majority": maj},
        predictions=run["predictions"],
        y_true=y,
        protocol={
            "kind": "crossval",
            "group": group,
            "k": len(folds),
            "k_requested": int(k),
            "stratified": bool(stratify),
            "seed": int(seed),
            "n": len(d),
            "n_groups": int(d[group].nunique()),
            "sample_rate": rate,
            "telephone": bool(telephone),
            "ci": f"95% percentile bootstrap over {_unit(ci_unit)} (n_boot={n_boot}) of the pooled test predictions",
            "label_setting": _setting_dict(setting),
            "config": config,
            "notes": notes,
        },
    )
    return result


def _setting_dict(setting):
    if setting is None:
        return None
    from ..labels.schemes import LabelSetting

    return LabelSetting.from_config(setting).to_dict()


def setting_exclusions(df: pd.DataFrame, setting: Any, label_column: str = "emotion") -> dict[str, int]:
    """Rows a label setting drops, counted by their original label (``{}`` without a setting)."""
    if setting is None or label_column not in df.columns:
        return {}
    from ..labels.schemes import apply_setting

    d = df.reset_index(drop=True)
    kept = apply_setting(d, setting, column=label_column).index
    gone = d.loc[~d.index.isin(kept), label_column].astype(str)
    return {str(k): int(v) for k, v in gone.value_counts().sort_index().items()}


def _warn(notes: list[str], msg: str) -> None:
    notes.append(msg)
    warnings.warn(msg, stacklevel=3)


def _breakdown(d: pd.DataFrame, y: list[str], pred: list[str], labels: list[str], groups, *, n_boot: int,
               seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """UA (with a CI over speakers) per value of the manifest's ``gender`` and ``corpus`` columns."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    ya, pa = np.asarray(y, dtype=object), np.asarray(pred, dtype=object)
    for col in ("gender", "corpus"):
        if col not in d.columns:
            continue
        values = d[col].astype(str).where(d[col].notna(), "missing").to_numpy()
        out[col] = {}
        for v in sorted(set(values)):
            idx = np.flatnonzero(values == v)
            g = None if groups is None else groups[idx]
            r = classification_report(ya[idx], pa[idx], labels, groups=g, n_boot=n_boot, seed=seed)
            out[col][v] = {k: r[k] for k in ("ua", "ua_ci", "wa", "macro_f1", "n", "n_groups")}
            if "unavailable" in r["ci"]:
                out[col][v]["ci_unavailable"] = r["ci"]["unavailable"]
    return out


def evaluate_model(
    model,
    df: pd.DataFrame,
    *,
    telephone: bool = False,
    noise: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = False,
    signals: Sequence[np.ndarray] | None = None,
    group: str = "speaker",
    label_column: str = "emotion",
    setting: Any = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Score a trained model on a manifest.

    The result has UA/WA/macro-F1 with CIs over speakers, per-class recall, confusion, the random
    baseline, and the calibration of the probabilities: ``ece`` (top label, ``n_bins`` equal-width
    bins), ``brier`` (multiclass) and the ``reliability`` table, over the items whose label the
    model knows. ``by`` holds UA per ``gender`` and per ``corpus`` when the manifest has those
    columns. Per item: ``predictions``, ``y_true``, ``proba`` (columns ``model_labels``),
    ``paths``, ``speakers``.

    Nothing is dropped silently: rows outside the label ``setting`` (``excluded``), labels the model
    cannot predict (kept, counted as errors) and a single speaker (no CI: ``ci.unavailable``) each
    give a warning, also listed in ``protocol.notes``. ``signals`` align with the rows of ``df``
    (the setting then keeps the matching ones); without them the audio is loaded (with ``telephone``:
    noise only when ``noise``).
    """
    notes: list[str] = []
    excluded = setting_exclusions(df, setting, label_column)
    d, signals = apply_label_setting(df, signals, setting, label_column)
    if excluded:
        name = _setting_dict(setting)["setting"]
        _warn(notes, f"{sum(excluded.values())} of {len(df)} row(s) have labels outside the label setting {name!r} "
                     f"and are not evaluated: " + ", ".join(f"{k} ({v})" for k, v in excluded.items()))
    rate = int(getattr(model, "sample_rate", 16000))
    signals = _signals_for(d, signals, rate, telephone=telephone, jobs=jobs, progress=progress, noise=noise)
    y = d[label_column].astype(str).tolist()
    speakers = d["speaker"].astype(str).tolist() if "speaker" in d.columns else None
    proba = np.asarray(model.predict_proba(list(signals), speakers), dtype=float)
    mlabels = [str(x) for x in model.labels]
    if proba.shape != (len(d), len(mlabels)):
        raise EvaluationError(f"model returned probabilities of shape {proba.shape}, expected {(len(d), len(mlabels))}")
    pred = [mlabels[j] for j in proba.argmax(axis=1)]
    unknown = sorted(set(y) - set(mlabels))
    unknown_counts = {u: int(sum(v == u for v in y)) for u in unknown}
    if unknown:
        _warn(notes, f"{sum(unknown_counts.values())} item(s) have label(s) the model cannot predict "
                     f"({', '.join(f'{k}: {v}' for k, v in unknown_counts.items())}; model labels: {mlabels}); "
                     "they count as errors and are left out of ece/brier. "
                     "Apply the matching label setting (--setting).")
    groups, ci_unit = _ci_groups(d, group)
    labels = mlabels + unknown
    card = getattr(model, "card", None) or {}
    result = classification_report(y, pred, labels, groups=groups, n_boot=n_boot, seed=seed,
                                   group_name="speaker" if ci_unit == "speaker" else "group")
    if "unavailable" in result["ci"]:
        _warn(notes, f"the data has {result['ci']['unavailable']}: no confidence interval is reported")
    known = np.asarray([v in mlabels for v in y])
    if known.any():
        yk = [v for v, k in zip(y, known) if k]
        ece = metrics.expected_calibration_error(yk, proba[known], mlabels, n_bins=n_bins)
        brier = metrics.brier_score(yk, proba[known], mlabels)
        reliability = metrics.reliability_table(yk, proba[known], mlabels, n_bins=n_bins)
    else:
        ece = brier = float("nan")
        reliability = None
    result.update(
        ece=ece,
        brier=brier,
        reliability=reliability,
        calibration_n=int(known.sum()),
        excluded={"outside_label_setting": excluded, "unknown_to_model": unknown_counts},
        by=_breakdown(d, y, pred, labels, groups, n_boot=n_boot, seed=seed),
        baselines={"random": random_baseline(y, labels, groups=groups, seed=seed)},
        predictions=pred,
        y_true=y,
        proba=proba.tolist(),
        model_labels=mlabels,
        paths=d["path"].astype(str).tolist() if "path" in d.columns else None,
        speakers=speakers,
        protocol={
            "kind": "held-out evaluation",
            "n": len(d),
            "n_excluded": int(sum(excluded.values())),
            "n_groups": len(set(groups)) if groups is not None else None,
            "sample_rate": rate,
            "telephone": bool(telephone),
            "ci": (f"unavailable: {result['ci']['unavailable']}" if "unavailable" in result["ci"]
                   else f"95% percentile bootstrap over {_unit(ci_unit)} (n_boot={n_boot})"),
            "calibration": f"top-label ECE with {n_bins} equal-width bins; multiclass Brier score",
            "label_setting": _setting_dict(setting),
            "model": {k: card[k] for k in ("type", "labels", "sample_rate", "created") if k in card},
            "notes": notes,
        },
    )
    return result


def leave_one_corpus_out(
    df: pd.DataFrame,
    config: dict[str, Any],
    *,
    corpus: str = "corpus",
    seed: int = 0,
    sr: int | None = None,
    telephone: bool = False,
    jobs: int = 1,
    progress: bool = True,
    signals: Sequence[np.ndarray] | None = None,
    n_boot: int = 1000,
    label_column: str = "emotion",
    setting: Any = None,
) -> dict[str, Any]:
    """Train on all corpora but one, test on the held-out one, for each corpus.

    ``corpora`` maps each held-out corpus to its report (CIs over its speakers, majority baseline of
    the training corpora, random baseline). The top-level ``ua``/``wa``/``macro_f1`` are the means
    over held-out corpora, with a CI from resampling speakers within each corpus independently
    (stratified bootstrap) and averaging the replicates.
    """
    if setting is None:
        setting = config.get("label_setting")
    d, signals = apply_label_setting(df, signals, setting, label_column)
    if corpus not in d.columns:
        raise EvaluationError(f"manifest has no {corpus!r} column to hold corpora out by")
    rate = _sample_rate(config, sr)
    signals = _signals_for(d, signals, rate, telephone=telephone, jobs=jobs, progress=progress)
    folds = leave_one_group_out(d, corpus)
    run = run_folds(d, config, folds, signals, label_column=label_column, fold_group=corpus, progress=progress)
    y = np.asarray(d[label_column].astype(str).tolist(), dtype=object)
    pred = np.asarray(run["predictions"], dtype=object)
    spk = d["speaker"].astype(str).to_numpy() if "speaker" in d.columns else None
    labels = _label_order(list(y), setting)
    per_corpus, boots = {}, []
    for (tr, te), f in zip(folds, run["folds"]):
        name = f["test_groups"][0]
        g = None if spk is None else spk[te]
        rep = classification_report(y[te], pred[te], labels, groups=g, n_boot=n_boot, seed=seed)
        maj = classification_report(y[te], [majority_class(y[tr])] * len(te), labels, groups=g, n_boot=n_boot,
                                    seed=seed)
        maj["class"] = majority_class(y[tr])
        rep["baselines"] = {"random": random_baseline(y[te], labels, seed=seed), "majority": maj}
        rep["n_train"] = len(tr)
        per_corpus[name] = rep
        if n_boot:
            boots.append(bootstrap_scores(y[te], pred[te], labels, groups=g, n_boot=n_boot, seed=seed))
    mean = {m: float(np.mean([r[m] for r in per_corpus.values()])) for m in ("ua", "wa", "macro_f1")}
    if boots:
        avg = np.mean(np.stack(boots), axis=0)
        cis = {m: percentile_ci(avg[:, j]) for j, m in enumerate(("ua", "wa", "macro_f1"))}
    else:
        cis = {m: [float("nan"), float("nan")] for m in ("ua", "wa", "macro_f1")}
    return {
        **mean,
        "ua_ci": cis["ua"],
        "wa_ci": cis["wa"],
        "macro_f1_ci": cis["macro_f1"],
        "labels": labels,
        "corpora": per_corpus,
        "folds": run["folds"],
        "predictions": run["predictions"],
        "y_true": list(y),
        "protocol": {
            "kind": "leave-one-corpus-out",
            "corpus_column": corpus,
            "n": len(d),
            "sample_rate": rate,
            "telephone": bool(telephone),
            "seed": int(seed),
            "ci": f"95% percentile bootstrap over speakers within each held-out corpus (n_boot={n_boot}); "
                  "top-level numbers are means over held-out corpora",
            "label_setting": _setting_dict(setting),
            "config": config,
        },
    }


# ---------------------------------------------------------------------------------------------


#: per-item fields of a result, left out of the JSON unless asked for
PER_ITEM = ("predictions", "y_true", "proba", "paths", "speakers")


def to_json(result: dict[str, Any], path: str | os.PathLike | None = None, *, predictions: bool = False) -> str:
    """Serialise a result (NaN -> null, numpy -> Python); write it atomically to ``path`` if given.

    Per-item fields (:data:`PER_ITEM`) are left out unless ``predictions=True``. The object always
    has the numbers ``ua``, ``wa``, ``macro_f1`` and the pair ``ua_ci``.
    """
    missing = [k for k in ("ua", "wa", "macro_f1", "ua_ci") if k not in result]
    if missing:
        raise EvaluationError(f"result lacks {', '.join(missing)}")
    skip = set() if predictions else set(PER_ITEM)
    obj = plain({k: v for k, v in result.items() if k not in skip})
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if path is not None:
        atomic_write_text(path, text + "\n")
    return text


__all__ = [
    "PER_ITEM",
    "EvaluationError",
    "crossval",
    "evaluate_model",
    "leave_one_corpus_out",
    "run_folds",
    "setting_exclusions",
    "to_json",
]
