"""Evaluation: metrics with bootstrap CIs, speaker-independent folds, baselines, significance
tests, plots, and the cross-validation / held-out / leave-one-corpus-out protocols.

Submodules: :mod:`.metrics`, :mod:`.folds`, :mod:`.baselines`, :mod:`.significance`,
:mod:`.plots`, :mod:`.protocol`, :mod:`.report`. See ``docs/evaluation.md``.
"""

from . import baselines, folds, metrics, significance
from .baselines import majority_baseline, random_baseline
from .folds import group_folds, leave_one_group_out
from .metrics import ccc, classification_report
from .protocol import crossval, evaluate_model, leave_one_corpus_out, to_json
from .significance import paired_bootstrap, permutation_test, wilcoxon

__all__ = [
    "baselines",
    "ccc",
    "classification_report",
    "crossval",
    "evaluate_model",
    "folds",
    "group_folds",
    "leave_one_corpus_out",
    "leave_one_group_out",
    "majority_baseline",
    "metrics",
    "paired_bootstrap",
    "permutation_test",
    "random_baseline",
    "significance",
    "to_json",
    "wilcoxon",
]
