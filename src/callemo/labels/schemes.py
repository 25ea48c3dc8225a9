"""Label settings used in the papers: the full set, 4 classes, polarity, binary; merges; rare classes.

Canonical emotion names (every corpus reader maps to these)::

    neutral, calm, happy, sad, angry, fearful, disgust, surprised

Settings (:func:`apply_setting`):

- ``full``: every label as it is (after mapping known synonyms to the canonical names).
- ``4class``: ``neutral, happy, sad, angry``; every other row is dropped (calm is *dropped*, not
  merged; say ``merge: {calm: neutral}`` to keep it as neutral).
- ``polarity``: ``negative`` = angry, sad, fearful, disgust; ``positive`` = happy, surprised;
  ``neutral`` = neutral, calm. Surprise is ambiguous in valence; the acted corpora portray mostly
  pleasant surprise, and Russell's circumplex puts "astonished" slightly on the pleasant side.
- ``binary``: ``neutral`` (neutral, calm) vs ``emotional`` (every other label, including ones
  outside the canonical set such as ``frustrated``; non-labels like ``unknown``/``other``/``xxx``
  are dropped).

A :class:`LabelSetting` bundles a setting with merges, dropped labels and a minimum class size so
that a configuration can say ``{setting: 4class, merge: {calm: neutral}, min_count: 30}``. The order
of operations is: synonyms -> ``merge`` -> setting -> ``drop`` -> ``drop_rare(min_count)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import CallemoError

CANONICAL = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]

#: spelling variants in corpora and annotation tools -> canonical names (only true variants:
#: different emotions such as excited or annoyed are merged explicitly with ``merge``)
SYNONYMS = {
    "neu": "neutral", "neutrality": "neutral",
    "cal": "calm",
    "hap": "happy", "happiness": "happy", "joy": "happy", "joyful": "happy",
    "sadness": "sad",
    "anger": "angry", "ang": "angry", "mad": "angry",
    "fear": "fearful", "afraid": "fearful", "fea": "fearful", "scared": "fearful",
    "disgusted": "disgust", "dis": "disgust",
    "surprise": "surprised", "sur": "surprised", "ps": "surprised",
}

POLARITY = {
    "angry": "negative", "sad": "negative", "fearful": "negative", "disgust": "negative",
    "happy": "positive", "surprised": "positive",
    "neutral": "neutral", "calm": "neutral",
}
BINARY = {label: ("neutral" if label in ("neutral", "calm") else "emotional") for label in CANONICAL}
#: values that are not an emotion (no agreement, other, missing): dropped by every setting but ``full``
NON_LABELS = {"", "unknown", "other", "oth", "xxx", "none", "nan", "n/a", "na"}

#: the label order of each setting (``full``: the canonical order)
SETTING_LABELS = {
    "full": list(CANONICAL),
    "4class": ["neutral", "happy", "sad", "angry"],
    "polarity": ["negative", "neutral", "positive"],
    "binary": ["neutral", "emotional"],
}
SETTINGS = tuple(SETTING_LABELS)

# Russell's circumplex (valence, arousal) in [-1, 1]. These are approximate placements, not measured
# values: the angle of each category follows Russell (1980, Fig. 2: "happy" ~ 10 deg, "astonished"
# ~ 70 deg, "angry"/"afraid" ~ 100-115 deg, "sad" ~ 210 deg, "calm"/"relaxed" ~ 300-320 deg) and
# Posner, Russell & Peterson (2005); the distance from the centre reflects how intense the acted
# portrayals are. Values are rounded to 0.1. Fear sits a little above anger in arousal and a little
# less negative in valence; disgust is negative with moderate arousal (it is not on Russell's
# original circle; placed after Scherer 2005's Geneva wheel). Coarse labels are the means of their
# members (see below).
_BASE = {
    "neutral": (0.0, 0.0),
    "calm": (0.4, -0.6),
    "happy": (0.8, 0.4),
    "sad": (-0.7, -0.5),
    "angry": (-0.7, 0.7),
    "fearful": (-0.6, 0.8),
    "disgust": (-0.7, 0.3),
    "surprised": (0.2, 0.8),
}


def _mean(labels: Iterable[str]) -> tuple[float, float]:
    pts = [_BASE[x] for x in labels]
    return (round(sum(p[0] for p in pts) / len(pts), 2), round(sum(p[1] for p in pts) / len(pts), 2))


CIRCUMPLEX: dict[str, tuple[float, float]] = dict(_BASE)
CIRCUMPLEX["negative"] = _mean([k for k, v in POLARITY.items() if v == "negative"])
CIRCUMPLEX["positive"] = _mean([k for k, v in POLARITY.items() if v == "positive"])
CIRCUMPLEX["emotional"] = _mean([k for k, v in BINARY.items() if v == "emotional"])


class LabelError(CallemoError, ValueError):
    """A label setting cannot be applied (unknown setting, bad merge, nothing left)."""


def canonical_label(label: str) -> str:
    """The canonical name of a label (``anger`` -> ``angry``); unknown names are returned lower-cased."""
    x = str(label).strip().lower()
    return SYNONYMS.get(x, x)


def canonicalize(df: pd.DataFrame, column: str = "emotion") -> pd.DataFrame:
    """Map known synonyms in ``column`` to canonical names (a copy)."""
    out = df.copy()
    out[column] = out[column].map(canonical_label)
    return out


def merge_labels(df: pd.DataFrame, mapping: Mapping[str, str], column: str = "emotion") -> pd.DataFrame:
    """Rename labels (``{calm: neutral, surprised: happy}``); labels not in ``mapping`` stay."""
    out = df.copy()
    m = {canonical_label(k): str(v).strip().lower() for k, v in (mapping or {}).items()}
    out[column] = out[column].map(lambda x: m.get(x, x))
    return out


def drop_labels(df: pd.DataFrame, labels: Iterable[str], column: str = "emotion") -> pd.DataFrame:
    drop = {canonical_label(x) for x in labels}
    return df[~df[column].isin(drop)].copy()


def drop_rare(df: pd.DataFrame, min_count: int, column: str = "emotion") -> pd.DataFrame:
    """Drop the rows of classes with fewer than ``min_count`` rows (paper 001 uses 30)."""
    if not min_count or min_count <= 1:
        return df.copy()
    counts = df[column].value_counts()
    keep = counts[counts >= min_count].index
    return df[df[column].isin(keep)].copy()


def apply_setting(df: pd.DataFrame, setting: str | Mapping[str, Any] | LabelSetting = "full",
                  column: str = "emotion") -> pd.DataFrame:
    """Apply a label setting (a name, a config mapping or a :class:`LabelSetting`).

    Returns a copy with ``column`` relabelled and the rows outside the setting dropped; the
    original index is kept (use ``.reset_index(drop=True)`` for positions).
    """
    return LabelSetting.from_config(setting).apply(df, column)


@dataclass
class LabelSetting:
    """A label setting plus merges, dropped labels and a minimum class size."""

    setting: str = "full"
    merge: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    min_count: int = 0

    def __post_init__(self):
        self.setting = str(self.setting).strip().lower()
        aliases = {"4": "4class", "four": "4class", "4-class": "4class", "4classes": "4class", "all": "full",
                   "valence": "polarity", "neutral_emotional": "binary", "2class": "binary"}
        self.setting = aliases.get(self.setting, self.setting)
        if self.setting not in SETTING_LABELS:
            raise LabelError(f"unknown label setting {self.setting!r}; known: {', '.join(SETTINGS)}")
        self.merge = {str(k): str(v) for k, v in dict(self.merge or {}).items()}
        self.drop = [str(x) for x in (self.drop or [])]
        self.min_count = int(self.min_count or 0)

    @classmethod
    def from_config(cls, obj: str | Mapping[str, Any] | LabelSetting | None) -> LabelSetting:
        if obj is None:
            return cls()
        if isinstance(obj, LabelSetting):
            return obj
        if isinstance(obj, str):
            return cls(setting=obj)
        if isinstance(obj, Mapping):
            known = {"setting", "merge", "drop", "min_count"}
            extra = set(obj) - known - {"name"}
            if extra:
                raise LabelError(f"unknown key(s) in label setting: {', '.join(sorted(extra))} "
                                 f"(known: {', '.join(sorted(known))})")
            return cls(
                setting=obj.get("setting", obj.get("name", "full")),
                merge=obj.get("merge") or {},
                drop=obj.get("drop") or [],
                min_count=obj.get("min_count") or 0,
            )
        raise LabelError(f"cannot read a label setting from {obj!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "merge": dict(self.merge), "drop": list(self.drop),
                "min_count": self.min_count}

    def map_label(self, label: str) -> str | None:
        """The label of one item under this setting (``None`` = dropped; ignores ``min_count``)."""
        if label is None or (isinstance(label, float) and label != label) or str(label).strip() == "":
            return None  # a missing label is dropped by every setting
        x = canonical_label(label)
        m = {canonical_label(k): str(v).strip().lower() for k, v in self.merge.items()}
        x = m.get(x, x)
        mapped = self._setting_map(x)
        if mapped is None or mapped in {canonical_label(d) for d in self.drop}:
            return None
        return mapped

    def _setting_map(self, x: str) -> str | None:
        if self.setting == "full":
            return x
        if self.setting == "4class":
            return x if x in SETTING_LABELS["4class"] else None
        if self.setting == "polarity":
            return POLARITY.get(x, x if x in SETTING_LABELS["polarity"] else None)
        if self.setting == "binary":
            if x in NON_LABELS:
                return None
            return BINARY.get(x, "neutral" if x == "neutral" else "emotional")
        raise AssertionError(self.setting)

    def apply(self, df: pd.DataFrame, column: str = "emotion") -> pd.DataFrame:
        if column not in df.columns:
            raise LabelError(f"no column {column!r} to apply the label setting to "
                             f"(columns: {', '.join(map(str, df.columns))})")
        out = df.copy()
        out[column] = out[column].map(lambda v: self.map_label(v))
        out = out[out[column].notna()].copy()
        out = drop_rare(out, self.min_count, column)
        return out

    def labels(self, df: pd.DataFrame | None = None, column: str = "emotion") -> list[str]:
        """The label order: the setting's order, restricted to what ``df`` holds after applying."""
        if df is None:
            base = list(SETTING_LABELS[self.setting])
            return base
        present = set(self.apply(df, column)[column])
        order = [x for x in SETTING_LABELS[self.setting] if x in present]
        return order + sorted(present - set(order))


__all__ = [
    "BINARY",
    "CANONICAL",
    "CIRCUMPLEX",
    "NON_LABELS",
    "POLARITY",
    "SETTINGS",
    "SETTING_LABELS",
    "SYNONYMS",
    "LabelError",
    "LabelSetting",
    "apply_setting",
    "canonical_label",
    "canonicalize",
    "drop_labels",
    "drop_rare",
    "merge_labels",
]
