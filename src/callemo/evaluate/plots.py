"""Figures (confusion matrix, reliability diagram; PNG, matplotlib Agg) and CSV writers
(confusion, report, per-item predictions) for evaluation results."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io.files import atomic_write_text


def _save(fig: Any, path: str | os.PathLike, dpi: int) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def confusion_png(
    cm: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Confusion matrix image: colours = row-normalised recall, text = share and (count)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    m = np.asarray(cm, dtype=float)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(labels)
    size = max(3.5, 0.75 * n + 1.8)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="recall (row-normalised)")
    if title:
        ax.set_title(title)
    return _save(fig, path, dpi)


def confusion_csv(cm: Sequence[Sequence[float]] | np.ndarray, labels: Sequence[str], path: str | os.PathLike) -> Path:
    """Confusion counts as CSV: first column ``true``, then one column per predicted label."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    m = np.asarray(cm)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true", *labels])
        for lab, row in zip(labels, m):
            w.writerow([lab] + [int(v) for v in row])
    return out


def report_csv(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Per-class recall and support, plus the summary rows (ua, wa, macro_f1 with CIs), as CSV."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "value", "ci_low", "ci_high", "support"])
        for k in ("ua", "wa", "macro_f1"):
            ci = result.get(f"{k}_ci") or [None, None]
            w.writerow([k, _fmt(result.get(k)), _fmt(ci[0]), _fmt(ci[1]), result.get("n", "")])
        for k in ("ece", "brier"):
            if k in result:
                w.writerow([k, _fmt(result[k]), "", "", result.get("calibration_n", "")])
        for col, groups in (result.get("by") or {}).items():
            for v, r in groups.items():
                ci = r.get("ua_ci") or [None, None]
                w.writerow([f"ua_{col}_{v}", _fmt(r.get("ua")), _fmt(ci[0]), _fmt(ci[1]), r.get("n", "")])
        support = result.get("support", {})
        for lab, r in (result.get("per_class_recall") or {}).items():
            w.writerow([f"recall_{lab}", _fmt(r), "", "", support.get(lab, "")])
    return out


def _fmt(v) -> str:
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if np.isnan(f) else f"{f:.6g}"


def reliability_png(
    table: dict[str, Any],
    path: str | os.PathLike,
    *,
    ece: float | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Reliability diagram of a :func:`callemo.evaluate.metrics.reliability_table`: accuracy per
    confidence bin (bars), the bin's mean confidence (diamonds) and the gap between them, against the
    diagonal of perfect calibration, with the item count per bin below."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    edges = np.asarray(table["edges"], dtype=float)
    count = np.asarray(table["count"], dtype=float)
    acc = np.asarray([np.nan if a is None else a for a in table["accuracy"]], dtype=float)
    conf = np.asarray([np.nan if c is None else c for c in table["confidence"]], dtype=float)
    width = np.diff(edges)
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(4.5, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="#888", lw=1, label="perfect calibration")
    ax.bar(edges[:-1], np.nan_to_num(acc), width=width, align="edge", color="#4c72b0", edgecolor="white",
           label="accuracy in the bin")
    centres = edges[:-1] + width / 2
    used = count > 0
    ax.vlines(centres[used], acc[used], conf[used], color="#c44e52", lw=2, label="gap")
    ax.plot(centres[used], conf[used], "D", color="#dd8452", ms=5, label="mean confidence in the bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    head = title or "reliability"
    ax.set_title(head + (f" (ECE {ece:.3f})" if ece is not None and np.isfinite(ece) else ""))
    axn.bar(edges[:-1], count, width=width, align="edge", color="#888", edgecolor="white")
    axn.set_xlabel("confidence (top label)")
    axn.set_ylabel("items")
    return _save(fig, path, dpi)


def predictions_csv(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """One row per item: ``path, speaker, true, predicted, confidence, p_<label>...`` (columns of
    ``result["model_labels"]``), from an :func:`callemo.evaluate.protocol.evaluate_model` result."""
    import pandas as pd

    labels = [str(x) for x in result["model_labels"]]
    proba = np.asarray(result["proba"], dtype=float).reshape(len(result["y_true"]), len(labels))
    n = len(result["y_true"])
    df = pd.DataFrame({
        "path": result.get("paths") or [""] * n,
        "speaker": result.get("speakers") or [""] * n,
        "true": result["y_true"],
        "predicted": result["predictions"],
        "confidence": proba.max(axis=1) if n else [],
    })
    for j, lab in enumerate(labels):
        df[f"p_{lab}"] = proba[:, j]
    out = Path(path)
    atomic_write_text(out, df.to_csv(index=False, float_format="%.6g"))
    return out


def write_outputs(result: dict[str, Any], prefix: str | os.PathLike, *, title: str | None = None) -> dict[str, Path]:
    """``<prefix>_confusion.csv``, ``<prefix>_confusion.png``, ``<prefix>_report.csv`` and, when the
    result has a reliability table, ``<prefix>_reliability.png``."""
    p = Path(prefix)
    paths = {
        "confusion_csv": confusion_csv(result["confusion"], result["labels"], p.with_name(p.name + "_confusion.csv")),
        "confusion_png": confusion_png(result["confusion"], result["labels"], p.with_name(p.name + "_confusion.png"),
                                       title=title),
        "report_csv": report_csv(result, p.with_name(p.name + "_report.csv")),
    }
    if result.get("reliability"):
        paths["reliability_png"] = reliability_png(result["reliability"], p.with_name(p.name + "_reliability.png"),
                                                   ece=result.get("ece"), title=title)
    return paths


__all__ = ["confusion_csv", "confusion_png", "predictions_csv", "reliability_png", "report_csv", "write_outputs"]
