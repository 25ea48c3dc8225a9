"""Context annotations of conversations (paper 000) and their correlation report.

A context CSV has one row per recording, interlocutor role and annotator::

    file,annotator,role,gender,empathy,engagement,satisfaction,urgency,purpose,resolution
    call01,ann1,client,female,6,7,8,3,information,resolved
    call01,ann1,agent,male,8,8,,,,

Fields (validated by :class:`ContextAnnotation`; empty cells are "not annotated"):

* ``file`` (required), ``annotator`` (default ``1``), ``role``: ``client`` or ``agent`` (required;
  ``customer``/``caller`` and ``operator`` are accepted), ``social_role``: free text (paper 000's
  "secretary of the client", "hotel staff"...);
* ``gender``: ``male``, ``female`` or ``unknown`` (``m``/``f``/``u`` accepted);
* ``empathy``, ``engagement``, ``satisfaction``, ``urgency``: numbers from 0 (least) to 10;
* ``purpose``: free text; :data:`PURPOSES` gives the enumerated categories (purchase, issue,
  information, other) that the ``purpose_category`` column holds;
* ``resolution``: ``resolved``, ``unresolved``, ``partial`` (paper 000's "needs the client's /
  agent's further action") or ``unknown``.

Other columns are kept. :func:`read_context` raises :class:`AnnotationError` naming the file,
line and field. :func:`context_report` computes Pearson correlations (with p-values) between the
interval variables (per role, mean of the annotators, across recordings) and between annotators
(the same variable by two annotators), as tables and heatmap PNGs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .continuous import AnnotationError, read_text_csv

SCALES = ("empathy", "engagement", "satisfaction", "urgency")
PURPOSES = ("purchase", "issue", "information", "other")
RESOLUTIONS = ("resolved", "unresolved", "partial", "unknown")
GENDERS = ("male", "female", "unknown")
ROLES = ("client", "agent")

_GENDER = {"m": "male", "man": "male", "male": "male", "h": "male", "f": "female", "w": "female",
           "woman": "female", "female": "female", "u": "unknown", "unknown": "unknown", "?": "unknown",
           "na": "unknown", "n/a": "unknown"}
_ROLE = {"client": "client", "customer": "client", "caller": "client", "agent": "agent", "operator": "agent",
         "advisor": "agent", "adviser": "agent"}
_RESOLUTION = {"resolved": "resolved", "yes": "resolved", "solved": "resolved",
               "unresolved": "unresolved", "no": "unresolved", "not resolved": "unresolved",
               "partial": "partial", "partially resolved": "partial", "partly": "partial",
               "client action": "partial", "client_action": "partial", "agent action": "partial",
               "agent_action": "partial", "needs client action": "partial", "needs agent action": "partial",
               "unknown": "unknown", "?": "unknown"}
#: words that put a free-text purpose in a category (checked in this order: "reporting an issue
#: with a booking" is an issue, "asking about a booking" is information)
_PURPOSE_WORDS = {
    "issue": ("issue", "problem", "complaint", "report", "reporting", "incident", "claim"),
    "information": ("information", "info", "question", "inquiry", "enquiry", "ask", "asking"),
    "purchase": ("purchase", "buy", "buying", "booking", "book", "order", "reservation"),
}


class ContextAnnotation(BaseModel):
    """One annotator's context annotation of one interlocutor of one recording."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    file: str
    annotator: str = "1"
    role: Literal["client", "agent"]
    social_role: str | None = None
    gender: Literal["male", "female", "unknown"] | None = None
    empathy: float | None = None
    engagement: float | None = None
    satisfaction: float | None = None
    urgency: float | None = None
    purpose: str | None = None
    resolution: Literal["resolved", "unresolved", "partial", "unknown"] | None = None

    @field_validator("file", "annotator")
    @classmethod
    def _nonempty(cls, v: str) -> str:
        if not str(v).strip():
            raise ValueError("must not be empty")
        return str(v).strip()

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, v):
        if v is None or str(v).strip() == "":
            raise ValueError("missing (client or agent)")
        r = _ROLE.get(str(v).strip().lower())
        if r is None:
            raise ValueError(f"{v!r} is not a role (client or agent)")
        return r

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, v):
        if v is None or str(v).strip() == "":
            return None
        g = _GENDER.get(str(v).strip().lower())
        if g is None:
            raise ValueError(f"{v!r} is not a gender (male, female or unknown)")
        return g

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution(cls, v):
        if v is None or str(v).strip() == "":
            return None
        r = _RESOLUTION.get(str(v).strip().lower())
        if r is None:
            raise ValueError(f"{v!r} is not a resolution ({', '.join(RESOLUTIONS)})")
        return r

    @field_validator("purpose", "social_role", mode="before")
    @classmethod
    def _text(cls, v):
        if v is None or str(v).strip() == "":
            return None
        return str(v).strip()

    @field_validator(*SCALES, mode="before")
    @classmethod
    def _scale(cls, v):
        if v is None or (isinstance(v, str) and v.strip() == ""):
            return None
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a number (0-10)") from None
        if not math.isfinite(x) or x < 0 or x > 10:
            raise ValueError(f"{v!r} is outside the 0-10 scale")
        return x

    @property
    def purpose_category(self) -> str | None:
        return purpose_category(self.purpose)


def purpose_category(text: str | None) -> str | None:
    """The enumerated purpose (:data:`PURPOSES`) of a free-text purpose; unknown text -> ``other``."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return None
    t = str(text).strip().lower()
    if t in PURPOSES:
        return t
    tokens = t.replace("_", " ").replace("-", " ").split()
    for cat, words in _PURPOSE_WORDS.items():
        if any(w in tokens for w in words):
            return cat
    return "other"


def _error_from(path, line: int, err: ValidationError) -> AnnotationError:
    e = err.errors()[0]
    fieldname = ".".join(str(x) for x in e.get("loc", ())) or None
    msg = e.get("msg", "invalid value")
    msg = msg.removeprefix("Value error, ")
    if e.get("type") == "missing":
        msg = "missing value"
    elif e.get("type") == "literal_error":
        msg = f"{e.get('input')!r} is not one of {e.get('ctx', {}).get('expected', '')}"
    return AnnotationError(path, line, msg, field=fieldname)


def read_context(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a context CSV; one row per (file, annotator, role).

    Adds ``purpose_category``. Raises :class:`AnnotationError` naming file, line and field.
    """
    p, raw = read_text_csv(path)
    raw.columns = [c.lower() for c in raw.columns]
    if "file" not in raw.columns:
        for alt in ("recording", "call", "path"):
            if alt in raw.columns:
                raw = raw.rename(columns={alt: "file"})
                break
    for col in ("file", "role"):
        if col not in raw.columns:
            raise AnnotationError(p, 1, f"missing column {col!r} (found: {', '.join(raw.columns)})")
    if len(raw) == 0:
        raise AnnotationError(p, 1, "header but no rows")
    recs = []
    for i, row in enumerate(raw.to_dict("records")):
        line = i + 2
        data = {k: v for k, v in row.items() if not (k == "annotator" and str(v).strip() == "")}
        try:
            rec = ContextAnnotation(**data)
        except ValidationError as err:
            raise _error_from(p, line, err) from None
        d = rec.model_dump()
        d["purpose_category"] = rec.purpose_category
        d["line"] = line
        recs.append(d)
    df = pd.DataFrame(recs)
    dup = df.duplicated(["file", "annotator", "role"])
    if dup.any():
        r = df[dup].iloc[0]
        raise AnnotationError(p, int(r["line"]), f"annotator {r['annotator']!r} annotated the {r['role']} "
                              f"of {r['file']!r} twice")
    df.attrs["source"] = str(p)
    return df


# ------------------------------------------------------------------------------------ correlations

def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    from scipy.stats import pearsonr

    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan"), float("nan"), n
    r, pv = pearsonr(a[ok], b[ok])
    return float(r), float(pv), n


def correlation_matrix(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pairwise Pearson r, p-values and n of the columns of ``table`` (pairwise complete)."""
    cols = list(table.columns)
    x = table.to_numpy(float)
    r = pd.DataFrame(np.nan, index=cols, columns=cols)
    pv = pd.DataFrame(np.nan, index=cols, columns=cols)
    n = pd.DataFrame(0, index=cols, columns=cols)
    for i in range(len(cols)):
        for j in range(i, len(cols)):
            if i == j:
                ok = np.isfinite(x[:, i])
                r.iloc[i, i] = 1.0 if np.ptp(x[ok, i]) > 0 else np.nan
                pv.iloc[i, i], n.iloc[i, i] = 0.0, int(ok.sum())
                continue
            rr, pp, nn = _pearson(x[:, i], x[:, j])
            r.iloc[i, j] = r.iloc[j, i] = rr
            pv.iloc[i, j] = pv.iloc[j, i] = pp
            n.iloc[i, j] = n.iloc[j, i] = nn
    return r, pv, n


def _long(r: pd.DataFrame, pv: pd.DataFrame, n: pd.DataFrame) -> pd.DataFrame:
    cols = list(r.columns)
    rows = [{"a": a, "b": b, "r": r.loc[a, b], "p": pv.loc[a, b], "n": int(n.loc[a, b])}
            for i, a in enumerate(cols) for b in cols[i + 1:]]
    return pd.DataFrame(rows, columns=["a", "b", "r", "p", "n"])


def variable_table(df: pd.DataFrame, variables: Iterable[str] = SCALES, *, by_annotator: bool = False) -> pd.DataFrame:
    """One row per recording, one column per ``<variable>_<role>`` (mean of the annotators), or
    per ``<variable>_<role>_<annotator>`` with ``by_annotator``; empty combinations left out."""
    variables = [v for v in variables if v in df.columns]
    cols = ["role", "annotator"] if by_annotator else ["role"]
    long = df.melt(id_vars=["file", *cols], value_vars=variables, var_name="variable", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long.dropna(subset=["value"])
    if long.empty:
        return pd.DataFrame(index=pd.Index(sorted(df["file"].unique()), name="file"))
    long["column"] = long["variable"] + "_" + long["role"]
    if by_annotator:
        long["column"] = long["column"] + "_" + long["annotator"].astype(str)
    wide = long.pivot_table(index="file", columns="column", values="value", aggfunc="mean")
    order = [f"{v}_{r}" for v in variables for r in ROLES]
    if by_annotator:
        anns = sorted(df["annotator"].astype(str).unique())
        order = [f"{o}_{a}" for o in order for a in anns]
    return wide[[c for c in order if c in wide.columns]]


def annotator_correlations(df: pd.DataFrame, variables: Iterable[str] = SCALES) -> pd.DataFrame:
    """Pearson r (and p, n) between every pair of annotators for each ``<variable>_<role>``,
    across recordings."""
    import itertools

    anns = sorted(df["annotator"].astype(str).unique())
    rows = []
    for v in [v for v in variables if v in df.columns]:
        for role in ROLES:
            sub = df[df["role"] == role]
            w = sub.pivot_table(index="file", columns="annotator", values=v, aggfunc="mean")
            for a, b in itertools.combinations(anns, 2):
                if a not in w.columns or b not in w.columns:
                    continue
                r, pv, n = _pearson(w[a].to_numpy(float), w[b].to_numpy(float))
                if n == 0:
                    continue
                rows.append({"variable": f"{v}_{role}", "annotator_a": a, "annotator_b": b, "r": r, "p": pv, "n": n})
    return pd.DataFrame(rows, columns=["variable", "annotator_a", "annotator_b", "r", "p", "n"])


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def heatmap_png(r: pd.DataFrame, pv: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """A correlation heatmap (r in each cell, stars for p < .05 / .01 / .001) as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    k = max(len(r.columns), 1)
    size = min(2.5 + 0.55 * k, 18)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(r.to_numpy(float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(r.columns)), labels=list(r.columns), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(r.index)), labels=list(r.index), fontsize=8)
    if k <= 24:
        for i in range(len(r.index)):
            for j in range(len(r.columns)):
                v = r.iat[i, j]
                if np.isfinite(v) and i != j:
                    ax.text(j, i, f"{v:.2f}{_stars(pv.iat[i, j])}", ha="center", va="center", fontsize=6.5,
                            color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def context_report(df: pd.DataFrame, out_dir: str | os.PathLike | None = None,
                   variables: Iterable[str] = SCALES) -> dict[str, Any]:
    """Correlations between context variables and between annotators.

    Returns ``{"variables": long table (a, b, r, p, n), "variables_r", "variables_p": matrices,
    "annotators": table (variable, annotator_a, annotator_b, r, p, n), "by_annotator_r",
    "by_annotator_p": matrices over ``<variable>_<role>_<annotator>`` (paper 000, Fig. 2),
    "files": written paths}``. With ``out_dir``: ``context_variables.csv``,
    ``context_annotators.csv``, ``context_variables.png``, ``context_annotators.png``.
    """
    variables = list(variables)
    vt = variable_table(df, variables)
    r, pv, n = correlation_matrix(vt)
    at = variable_table(df, variables, by_annotator=True)
    r2, pv2, _ = correlation_matrix(at)
    ann = annotator_correlations(df, variables)
    res: dict[str, Any] = {"variables": _long(r, pv, n), "variables_r": r, "variables_p": pv,
                           "annotators": ann, "by_annotator_r": r2, "by_annotator_p": pv2, "files": []}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res["variables"].to_csv(out / "context_variables.csv", index=False, float_format="%.6g")
        ann.to_csv(out / "context_annotators.csv", index=False, float_format="%.6g")
        files = [out / "context_variables.csv", out / "context_annotators.csv"]
        if len(r.columns) >= 2:
            files.append(heatmap_png(r, pv, out / "context_variables.png",
                                     "Context variables (mean of annotators), Pearson r"))
        if len(r2.columns) >= 2:
            files.append(heatmap_png(r2, pv2, out / "context_annotators.png",
                                     "Context variables by annotator, Pearson r"))
        res["files"] = [str(f) for f in files]
    return res


def context_gold(df: pd.DataFrame, variables: Iterable[str] = SCALES) -> pd.DataFrame:
    """Gold context per recording and role: mean of the annotators for the 0-10 scales (paper
    000's gold standard for empathy), the most frequent value for gender / purpose / resolution."""
    rows = []
    for (f, role), g in df.groupby(["file", "role"], sort=True):
        rec: dict[str, Any] = {"file": f, "role": role, "n_annotators": g["annotator"].nunique()}
        for v in variables:
            if v in g.columns:
                vals = pd.to_numeric(g[v], errors="coerce").dropna()
                rec[v] = float(vals.mean()) if len(vals) else np.nan
        for c in ("gender", "purpose_category", "resolution"):
            if c in g.columns:
                vals = g[c].dropna()
                rec[c] = vals.mode().iloc[0] if len(vals) else None
        rows.append(rec)
    return pd.DataFrame(rows)


CALL_LEVEL = ("satisfaction", "urgency", "purpose_category", "resolution")  # about the call, from the client row


def attach_context(items: pd.DataFrame, context: pd.DataFrame, *, file_column: str | None = None,
                   role_column: str = "role") -> pd.DataFrame:
    """Add context columns to items (segments or manifest rows).

    ``context`` is :func:`read_context` output (reduced with :func:`context_gold`) or already
    gold. Recordings are matched by name, then by file stem (``calls/call01.wav`` -> ``call01``).
    With a ``role`` column in ``items``, that interlocutor's ``gender``, ``empathy`` and
    ``engagement`` are added; the call-level ``satisfaction``, ``urgency``, ``purpose_category``
    and ``resolution`` (annotated on the client) are added to every item. Existing non-empty
    values are kept. Items of recordings without context get empty values.
    """
    gold = context_gold(context) if "annotator" in context.columns else context
    col = file_column or ("file" if "file" in items.columns else "path")
    out = items.copy()
    recs = {(str(r["file"]), r["role"]): r for r in gold.to_dict("records")}
    stems = {(Path(f).stem, role): r for (f, role), r in recs.items()}

    def find(name: str, role: str):
        return recs.get((name, role)) or stems.get((Path(name).stem, role))

    person = ("gender", "empathy", "engagement")
    new: dict[str, list] = {c: [] for c in person + CALL_LEVEL}
    has_role = role_column in out.columns
    for row in out.to_dict("records"):
        name = str(row[col])
        client = find(name, "client")
        me = find(name, str(row[role_column]).strip().lower()) if has_role else None
        for c in person:
            new[c].append(me.get(c) if me is not None else None)
        for c in CALL_LEVEL:
            new[c].append(client.get(c) if client is not None else None)
    for c, vals in new.items():
        if not has_role and c in person:
            continue
        vals = pd.Series(vals, index=out.index, dtype=object)
        if c in out.columns:
            cur = out[c]
            blank = cur.isna() | (cur.astype(str).str.strip() == "")
            out[c] = cur.where(~blank, vals)
        else:
            out[c] = vals
    return out


__all__ = [
    "CALL_LEVEL",
    "GENDERS",
    "PURPOSES",
    "RESOLUTIONS",
    "ROLES",
    "SCALES",
    "ContextAnnotation",
    "annotator_correlations",
    "attach_context",
    "context_gold",
    "context_report",
    "correlation_matrix",
    "heatmap_png",
    "purpose_category",
    "read_context",
    "variable_table",
]
