"""Speaker-independent (grouped) folds.

``group_folds`` uses ``StratifiedGroupKFold`` (class proportions kept as close as the groups
allow) and falls back to ``GroupKFold`` when stratification is impossible. No group is ever on
both sides of a split and every group is tested exactly once; both are asserted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import CallemoError


class FoldError(CallemoError, ValueError):
    """Folds cannot be made (too few groups, missing column)."""


Folds = list[tuple[np.ndarray, np.ndarray]]


def _groups_of(df: pd.DataFrame, group: str) -> np.ndarray:
    if group not in df.columns:
        raise FoldError(f"no column {group!r} to group folds by (columns: {', '.join(map(str, df.columns))})")
    g = df[group]
    if g.isna().any():
        raise FoldError(f"column {group!r} has {int(g.isna().sum())} empty value(s); every item needs a group")
    return g.astype(str).to_numpy()


def check_folds(groups: Sequence[str] | np.ndarray, folds: Folds, *, every_group_tested: bool = True) -> None:
    """Assert that no group is on both sides of a split and each group is tested exactly once."""
    g = np.asarray(groups, dtype=object)
    tested: list[str] = []
    for i, (tr, te) in enumerate(folds):
        overlap = set(g[tr]) & set(g[te])
        if overlap:
            raise AssertionError(f"fold {i}: group(s) {sorted(overlap)[:5]} in both train and test")
        if len(np.intersect1d(tr, te)):
            raise AssertionError(f"fold {i}: items in both train and test")
        tested.extend(set(g[te]))
    if every_group_tested:
        counts = pd.Series(tested).value_counts()
        if set(counts.index) != set(g) or (counts != 1).any():
            raise AssertionError("not every group is tested exactly once")


def group_folds(
    df: pd.DataFrame,
    group: str = "speaker",
    k: int = 5,
    stratify: str | None = "emotion",
    seed: int = 0,
) -> Folds:
    """``k`` folds of positional ``(train_idx, test_idx)`` with no ``group`` value on both sides.

    Stratified by ``stratify`` where possible (``StratifiedGroupKFold``, shuffled with ``seed``),
    otherwise ``GroupKFold``. With fewer groups than ``k``, uses one fold per group and warns.
    """
    g = _groups_of(df, group)
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise FoldError(f"need at least 2 distinct values of {group!r} for grouped folds, found {n_groups}")
    k = int(k)
    if k < 2:
        raise FoldError(f"k must be at least 2 (got {k})")
    if k > n_groups:
        warnings.warn(f"k={k} folds but only {n_groups} groups in {group!r}: using k={n_groups} (leave one group out)",
                      stacklevel=2)
        k = n_groups
    folds = None
    X = np.zeros((len(g), 1))
    if stratify is not None and stratify in df.columns:
        from sklearn.model_selection import StratifiedGroupKFold

        y = df[stratify].astype(str).to_numpy()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "least populated class" warnings
                cand = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y, g))
            if all(len(te) > 0 and len(tr) > 0 for tr, te in cand):
                folds = cand
        except ValueError:
            folds = None
    if folds is None:
        from sklearn.model_selection import GroupKFold

        try:
            gkf = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        except TypeError:  # scikit-learn < 1.6 has no shuffle
            gkf = GroupKFold(n_splits=k)
        folds = list(gkf.split(X, None, g))
    folds = [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)) for tr, te in folds]
    check_folds(g, folds)
    return folds


def leave_one_group_out(df: pd.DataFrame, group: str = "speaker") -> Folds:
    """One fold per value of ``group`` (sorted by name): train on all others, test on it."""
    g = _groups_of(df, group)
    names = sorted(np.unique(g))
    if len(names) < 2:
        raise FoldError(f"need at least 2 distinct values of {group!r}, found {len(names)}")
    folds = [(np.flatnonzero(g != n), np.flatnonzero(g == n)) for n in names]
    check_folds(g, folds)
    return folds


def fold_names(df: pd.DataFrame, group: str, folds: Folds) -> list[list[str]]:
    """The test groups of each fold."""
    g = _groups_of(df, group)
    return [sorted(set(g[te])) for _, te in folds]


def is_stratified(df: pd.DataFrame, folds: Folds, stratify: str = "emotion") -> float:
    """Largest absolute difference between a test fold's class share and the overall share."""
    y = df[stratify].astype(str).to_numpy()
    overall = pd.Series(y).value_counts(normalize=True)
    worst = 0.0
    for _, te in folds:
        share = pd.Series(y[te]).value_counts(normalize=True).reindex(overall.index, fill_value=0)
        worst = max(worst, float((share - overall).abs().max()))
    return worst


__all__ = ["FoldError", "check_folds", "fold_names", "group_folds", "is_stratified", "leave_one_group_out"]
