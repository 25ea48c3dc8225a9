"""Confusion-matrix figure (PNG, matplotlib Agg) and CSV writers for evaluation results."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np


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
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def confusion_csv(cm: Sequence[Sequence[float]] | np.ndarray, labels: Sequence[str], path: str | os.PathLike) -> Path:
    """Confusion counts as CSV: first column ``true``, then one column per predicted label."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    m = np.asarray(cm)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true"] + list(labels))
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


def write_outputs(result: dict[str, Any], prefix: str | os.PathLike, *, title: str | None = None) -> dict[str, Path]:
    """``<prefix>_confusion.csv``, ``<prefix>_confusion.png`` and ``<prefix>_report.csv``."""
    p = Path(prefix)
    return {
        "confusion_csv": confusion_csv(result["confusion"], result["labels"], p.with_name(p.name + "_confusion.csv")),
        "confusion_png": confusion_png(result["confusion"], result["labels"], p.with_name(p.name + "_confusion.png"), title=title),
        "report_csv": report_csv(result, p.with_name(p.name + "_report.csv")),
    }


__all__ = ["confusion_png", "confusion_csv", "report_csv", "write_outputs"]
