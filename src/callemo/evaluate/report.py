"""Console tables of evaluation results (rich)."""

from __future__ import annotations

from typing import Any


def _ci(r: dict[str, Any], key: str) -> str:
    v = r.get(key)
    ci = r.get(f"{key}_ci") or [None, None]
    if v is None:
        return "-"
    if ci[0] is None or ci[0] != ci[0]:
        return f"{v:.3f}"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _num(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.3f}"


def summary_table(result: dict[str, Any], title: str | None = None):
    """A rich Table: model and baselines (UA, WA, macro-F1 with 95 % CIs), or one row per held-out corpus."""
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    t.add_column("system")
    for c in ("UA", "WA", "macro-F1"):
        t.add_column(c, justify="right")
    t.add_column("n", justify="right")
    if "corpora" in result:
        for name, r in result["corpora"].items():
            t.add_row(f"held out: {name}", _ci(r, "ua"), _ci(r, "wa"), _ci(r, "macro_f1"), str(r.get("n", "")))
            maj = r.get("baselines", {}).get("majority")
            if maj:
                t.add_row(f"  majority ({maj.get('class')})", _ci(maj, "ua"), _ci(maj, "wa"), _ci(maj, "macro_f1"), "")
        t.add_row("mean", _ci(result, "ua"), _ci(result, "wa"), _ci(result, "macro_f1"), "")
        return t
    t.add_row("model", _ci(result, "ua"), _ci(result, "wa"), _ci(result, "macro_f1"), str(result.get("n", "")))
    for name, b in (result.get("baselines") or {}).items():
        t.add_row(f"{name} baseline", _ci(b, "ua"), _ci(b, "wa"), _ci(b, "macro_f1"), "")
    return t


def recall_table(result: dict[str, Any]):
    from rich.table import Table

    t = Table(title="per-class recall")
    t.add_column("label")
    t.add_column("recall", justify="right")
    t.add_column("support", justify="right")
    support = result.get("support", {})
    for lab, r in (result.get("per_class_recall") or {}).items():
        t.add_row(lab, "-" if r is None else f"{r:.3f}", str(support.get(lab, "")))
    return t


def breakdown_table(result: dict[str, Any]):
    """UA per gender / per corpus (the ``by`` entry of an evaluation), or None when there is none."""
    from rich.table import Table

    by = result.get("by") or {}
    if not by:
        return None
    t = Table(title="UA by group")
    t.add_column("group")
    t.add_column("UA", justify="right")
    t.add_column("n", justify="right")
    t.add_column("speakers", justify="right")
    for col, groups in by.items():
        for v, r in groups.items():
            t.add_row(f"{col}={v}", _ci(r, "ua"), str(r.get("n", "")), str(r.get("n_groups") or ""))
    return t


def print_result(result: dict[str, Any], console=None, title: str | None = None) -> None:
    """Print the summary, per-class and per-group tables, calibration and exclusions, and the
    protocol in one line."""
    from rich.console import Console

    console = console or Console()
    console.print(summary_table(result, title))
    if "per_class_recall" in result:
        console.print(recall_table(result))
    by = breakdown_table(result)
    if by is not None:
        console.print(by)
    if "ece" in result:
        ece, brier = result.get("ece"), result.get("brier")
        n = result.get("calibration_n", "?")
        console.print(f"calibration: ECE {_num(ece)}, Brier {_num(brier)} (over {n} items)", highlight=False)
    for note in (result.get("protocol") or {}).get("notes") or []:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    proto = result.get("protocol") or {}
    if proto:
        keys = ("kind", "group", "k", "n", "n_groups", "sample_rate", "telephone")
        bits = [f"{k}={proto[k]}" for k in keys if k in proto]
        ci = f"; CI: {proto['ci']}" if "ci" in proto else ""
        console.print("protocol: " + ", ".join(bits) + ci, highlight=False)


__all__ = ["breakdown_table", "print_result", "recall_table", "summary_table"]
