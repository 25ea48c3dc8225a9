"""Hyper-parameter search with Optuna: the multitask weights of the continuous regressor (paper 000)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..evaluate.continuous import score_curves
from ..models.raw_cnn_lstm import RawCNNLSTMModel
from .continuous import fit_continuous


def search_alpha_beta(config: dict[str, Any], train: dict[str, Any], valid: dict[str, Any], *,
                      n_trials: int = 10, seed: int = 12, alpha_range=(1e-3, 1.0), beta_range=(1e-3, 1.0),
                      search_beta: bool = True, log: Callable[[str], None] | None = None,
                      ) -> tuple[dict[str, float], float, list[dict[str, Any]]]:
    """Optuna TPE search of the multitask weights alpha (context) and beta (gender), paper 000.

    ``train`` / ``valid``: dicts with ``signals``, ``traces``, ``context``, ``gender`` (the
    validation part should hold other speakers than the training part: a grouped split). Each
    trial trains ``config`` with the suggested weights (log-uniform) on ``train`` and scores the
    mean of CCC(V) and CCC(A) on ``valid``. Returns ``(best_params, best_value, trials)`` with
    ``trials`` a list of dicts (alpha, beta, value, ccc_valence, ccc_arousal).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: list[dict[str, Any]] = []

    def objective(trial):
        a = trial.suggest_float("alpha", *alpha_range, log=True)
        b = trial.suggest_float("beta", *beta_range, log=True) if search_beta else 0.0
        m = RawCNNLSTMModel(dict(config, alpha=a, beta=b))
        fit_continuous(m, train["signals"], train["traces"], context=train.get("context"), gender=train.get("gender"))
        sc = score_curves(m.predict_curves(valid["signals"]), valid["traces"])
        value = 0.5 * (sc["ccc_valence"] + sc["ccc_arousal"])
        trials.append({"trial": trial.number, "alpha": a, "beta": b, "value": value,
                       "ccc_valence": sc["ccc_valence"], "ccc_arousal": sc["ccc_arousal"]})
        if log:
            log(f"trial {trial.number}: alpha {a:.4g} beta {b:.4g} -> {value:.4f}")
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=int(n_trials))
    return dict(study.best_params, **({} if search_beta else {"beta": 0.0})), float(study.best_value), trials
