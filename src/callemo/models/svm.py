"""Functional features -> standardisation (global or per speaker) -> selection -> classifier.

``svm``: the paper-001 classifier (RBF SVM, balanced class weights, one-vs-rest decision shape,
calibrated probabilities) over one or several fused feature sets, with optional per-speaker
standardisation, ANOVA feature selection and an inner speaker-grouped grid search of C / gamma.
The classifier can also be a logistic regression (``classifier.type: logreg``).

``ensemble``: a soft vote (weighted mean of class probabilities) of several ``svm`` members, e.g.
one per feature set.

Configuration (YAML, see ``callemo/configs/svm*.yaml``)::

    type: svm
    sample_rate: 16000          # audio is resampled to this before features (telephone: 8000)
    features: [prosody]         # names or {name: ..., params...}; several = fusion
    normalisation: speaker      # none | global | speaker
    shrink: 3.0                 # speaker statistics pseudo-count toward the training prior
    selection: {k: 300}         # ANOVA F top-k (or fraction 0<k<1); null = all features
    classifier: {type: svc, C: 1.0, gamma: scale}
    tune: {C: [0.3, 1, 3, 10], gamma: [scale], folds: 3}   # inner grouped CV (optional)
    min_duration: 1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..features import SpeakerStandardizer, extract, get_extractor
from .base import EmotionModel, ModelError, register_model
from .calibration import Calibrator
from .card import dump_sklearn, load_sklearn

WEIGHTS = "model.joblib"


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


class _FunctionalsModel(EmotionModel):
    """Shared plumbing: features from signals, label handling."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.sample_rate = int(self.config.get("sample_rate", 16000))
        self.min_duration = float(self.config.get("min_duration", 1.0))
        self.labels = list(self.config.get("labels") or [])

    def _extractors(self, specs) -> list:
        out = []
        for spec in _as_list(specs) or ["prosody"]:
            if isinstance(spec, str):
                spec = {"name": spec}
            spec = dict(spec)
            spec.setdefault("sample_rate", self.sample_rate)
            out.append(get_extractor(spec))
        return out

    def _features(self, extractors, signals, progress: bool = False) -> np.ndarray:
        jobs = int(self.config.get("jobs", 1))
        cache = self.config.get("cache", True)
        mats = [extract(e, signals, jobs=jobs, cache=cache, progress=progress) for e in extractors]
        return np.hstack(mats) if mats else np.zeros((len(signals), 0), np.float32)


class _SoftmaxSVC:
    """An SVC whose probabilities are the softmax of its one-vs-rest decision values (used only when
    a class has too few training items for Platt calibration)."""

    def __init__(self, svc):
        self.svc = svc

    def fit(self, X, y, sample_weight=None):
        self.svc.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.svc.classes_
        return self

    def predict_proba(self, X):
        d = np.asarray(self.svc.decision_function(X), dtype=np.float64)
        if d.ndim == 1:  # two classes
            d = np.stack([-d, d], axis=1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


#: options of every functionals model (``svm`` and ``ensemble``), with their defaults; declared so
#: that configuration validation (:func:`callemo.train.config.validate_config`) rejects a misspelt key
_FUNCTIONALS_DEFAULTS: dict[str, Any] = {
    "features": None, "jobs": 1, "cache": True, "seed": 0, "normalisation": "global", "shrink": 3.0,
    "balance_speaker_stats": False, "robust_speaker_stats": False, "speaker_scale": 1.0,
    "classifier": None, "selection": None, "tune": None, "sample_weight": None, "noise_augment": None,
    "call_stats": None, "few_segments": None,
}


@register_model("svm")
class SVMModel(_FunctionalsModel):
    """Functionals -> standardisation -> selection -> SVM (or logistic regression)."""

    defaults: ClassVar[dict[str, Any] | None] = dict(_FUNCTIONALS_DEFAULTS)

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.extractors = self._extractors(self.config.get("features"))
        self.normaliser: SpeakerStandardizer | None = None
        self.selector = None
        #: the fitted classifier (an sklearn estimator or :class:`_SoftmaxSVC`), None until trained
        self.clf: Any | None = None
        self.best_params_: dict[str, Any] = {}
        #: post-hoc calibration fitted on held-out corpora (:meth:`set_calibration`), None = none
        self.calibrator: Calibrator | None = None

    # -- features -------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return [f"{e.name}:{n}" for e in self.extractors for n in e.feature_names]

    def features(self, signals: Sequence[np.ndarray], progress: bool = False) -> np.ndarray:
        return self._features(self.extractors, signals, progress)

    # -- training -------------------------------------------------------------------------
    def _classifier(self, params: dict[str, Any], calibrated: bool = True, min_class_count: int | None = None):
        c = dict(self.config.get("classifier") or {})
        c.update(params)
        kind = c.pop("type", "svc")
        seed = int(self.config.get("seed", 0))
        if kind == "svc":
            from sklearn.svm import SVC

            svc = SVC(kernel=c.get("kernel", "rbf"), C=float(c.get("C", 1.0)), gamma=c.get("gamma", "scale"),
                      class_weight="balanced", decision_function_shape="ovr", random_state=seed, cache_size=500)
            if not calibrated:
                return svc
            from sklearn.calibration import CalibratedClassifierCV

            # Platt scaling fitted on internal cross-validated decision values, then one SVM on all
            # the data (what SVC(probability=True) did, without its deprecation)
            folds = int(c.get("calibration_folds", 5))
            if min_class_count is not None:
                folds = min(folds, int(min_class_count))
            if folds < 2:  # too few items of some class to calibrate: softmax of the decision values
                return _SoftmaxSVC(svc)
            return CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        if kind == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=float(c.get("C", 1.0)), class_weight="balanced", max_iter=3000)
        raise ModelError(f"unknown classifier type {kind!r} (svc, logreg)")

    def _selector(self, n_features: int):
        sel = self.config.get("selection")
        if not sel:
            return None
        from sklearn.feature_selection import SelectKBest, f_classif

        k = sel.get("k", 0.5) if isinstance(sel, dict) else sel
        k = float(k)
        k = int(round(k * n_features)) if 0 < k < 1 else int(k)
        k = max(1, min(n_features, k))
        return SelectKBest(f_classif, k=k)

    def fit(self, signals, y, speakers=None, progress: bool = False, **kw) -> SVMModel:
        signals, y, speakers = noise_copies(
            signals, y, speakers, self.config.get("noise_augment"), int(self.sample_rate),
            cache=self.config.get("cache", True),
        )
        X = self.features(signals, progress=progress)
        return self.fit_features(X, y, speakers)

    def fit_features(self, X: np.ndarray, y: Sequence[str], speakers: Sequence[str] | None = None) -> SVMModel:
        return self._fit_features(X, np.asarray([str(v) for v in y], dtype=object), speakers)

    def _fit_features(self, X: np.ndarray, y: np.ndarray, speakers: Sequence[str] | None) -> SVMModel:
        if len(y) != len(X):
            raise ModelError(f"{len(X)} feature rows but {len(y)} labels")
        present = sorted(set(y.tolist()))
        if len(present) < 2:
            raise ModelError(f"need at least two classes to train, got {present}")
        labels = list(self.config.get("labels") or present)
        missing = [v for v in present if v not in labels]
        if missing:
            raise ModelError(f"training labels {missing} are not in the configured labels {labels}")
        self.labels = labels
        self.normaliser = SpeakerStandardizer(
            self.config.get("normalisation", "global"),
            shrink=float(self.config.get("shrink", 3.0)),
            balance_classes=bool(self.config.get("balance_speaker_stats", False)),
            robust=bool(self.config.get("robust_speaker_stats", False)),
            speaker_scale=float(self.config.get("speaker_scale", 1.0)),
        )
        Z = self.normaliser.fit_transform(X, speakers, y.tolist())
        if self.config.get("call_stats") and speakers is not None and self.normaliser.mode == "speaker":
            Z, y, speakers = self._call_like(X, y, speakers)
        Z, y, speakers = self._augment(X, Z, y, speakers)
        self.selector = self._selector(Z.shape[1])
        if self.selector is not None:
            import warnings

            with warnings.catch_warnings():  # constant features simply rank last
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                Z = self.selector.fit_transform(Z, y)
        params = self._tune(Z, y, speakers) if self.config.get("tune") else {}
        self.best_params_ = params
        self.clf = clf = self._classifier(params, min_class_count=int(min(np.unique(y, return_counts=True)[1])))
        sw = self._sample_weight(speakers, len(y))
        if sw is None:
            clf.fit(Z, y)
        else:
            clf.fit(Z, y, sample_weight=sw)
        # support vectors at float32 precision: the model directory stores them as float32 (half the
        # size) and the model in memory predicts exactly as the saved one
        for svc in _fitted_svcs(clf):
            svc.support_vectors_ = svc.support_vectors_.astype(np.float32).astype(np.float64)
        return self

    def _sample_weight(self, speakers, n: int):
        """``sample_weight: speaker`` gives every training speaker the same total weight (corpora
        differ a lot in items per speaker); ``sqrt_speaker`` is halfway."""
        mode = self.config.get("sample_weight")
        if not mode or speakers is None:
            return None
        g = np.asarray([str(s) for s in speakers])
        _, inv, cnt = np.unique(g, return_inverse=True, return_counts=True)
        w = 1.0 / cnt[inv] if mode == "speaker" else 1.0 / np.sqrt(cnt[inv])
        if mode not in ("speaker", "sqrt_speaker"):
            raise ModelError(f"sample_weight must be speaker or sqrt_speaker, not {mode!r}")
        return w * (n / w.sum())

    def _call_like(self, X: np.ndarray, y: np.ndarray, speakers: Sequence[str]):
        """Training rows standardised the way a call standardises them (``call_stats``).

        In a call a speaker's statistics come from a few turns, most of them neutral; in the acted
        corpora from a class-balanced set. With ``call_stats: {draws: 1, size: [4, 8], neutral: 0.6}``
        every emotional item of a training speaker (or a random ``share`` of its items, the others keeping
        whole-speaker rows) is put ``draws`` times into a random group of
        ``size`` items of that speaker, at least a share ``neutral`` of them neutral (drawn from the
        speaker's neutral items), and standardised with that group's statistics (with the same
        shrinkage as at test time). The rows kept are the emotional items and some of the group's
        neutral items, so that each class keeps about its share of the training set (``draws: 1``
        gives about as many rows as the plain training set); ``keep_full: true`` also keeps the rows
        standardised over the whole speaker. Speakers without neutral items keep whole-speaker rows
        only.
        """
        cs = dict(self.config.get("call_stats") or {})
        draws = int(cs.get("draws", 1))
        share = float(cs.get("share", 1.0))  # share of each speaker's items standardised in call-like groups
        lo, hi = (int(v) for v in cs.get("size", (4, 8)))
        min_neutral = float(cs.get("neutral", 0.6))
        neutral = str(cs.get("label", "neutral"))
        if not (1 <= lo <= hi) or not (0.0 <= min_neutral < 1.0) or draws < 1 or not 0.0 < share <= 1.0:
            raise ModelError(f"call_stats needs draws >= 1, 1 <= size[0] <= size[1], 0 <= neutral < 1 and "
                             f"0 < share <= 1, got {cs}")
        norm = self.normaliser
        if norm is None:
            raise ModelError("call_stats: the standardiser is not fitted")
        rng = np.random.default_rng(int(self.config.get("seed", 0)))
        g = np.asarray([str(s) for s in speakers], dtype=object)
        members: list[np.ndarray] = []
        gids: list[str] = []
        keep: list[np.ndarray] = []  # per group, positions (inside its members) of the rows kept
        whole = np.zeros(len(y), bool)
        for s in dict.fromkeys(g.tolist()):
            own = np.flatnonzero(g == s)
            neu, emo = own[y[own] == neutral], own[y[own] != neutral]
            if len(neu) == 0 or len(emo) == 0:
                whole[own] = True
                continue
            if share < 1.0:  # the other items keep whole-speaker rows (the statistics still use them all)
                grouped = rng.random(len(own)) < share
                whole[own[~grouped]] = True
                emo_rows, n_neu_rows = emo[grouped[y[own] != neutral]], int(grouped[y[own] == neutral].sum())
            else:
                emo_rows, n_neu_rows = emo, len(neu)
            for d in range(draws):
                order = rng.permutation(emo_rows)
                pos, j = 0, 0
                while pos < len(order):
                    k = int(rng.integers(lo, hi + 1))
                    e = max(1, min(int(np.floor(k * (1.0 - min_neutral) + 1e-9)), len(order) - pos))
                    m = max(k - e, 1)
                    nsel = rng.choice(neu, size=m, replace=len(neu) < m)
                    grp = np.concatenate([order[pos:pos + e], nsel])
                    members.append(grp)
                    gids.append(f"{s}#call{d}#{j}")
                    # neutral rows kept in the speaker's own neutral : emotional proportion (in expectation)
                    kn = min(m, int(rng.binomial(e, min(1.0, n_neu_rows / max(len(emo_rows), 1)))))
                    keep.append(np.concatenate([np.arange(e), e + rng.choice(m, size=kn, replace=False)]))
                    pos, j = pos + e, j + 1
        Zs, ys, gs = [], [], []
        if members:
            rows = np.concatenate(members)
            labels_g = np.repeat(np.asarray(gids, dtype=object), [len(m) for m in members])
            Zg = norm.transform(X[rows], labels_g.tolist())
            off = np.cumsum([0] + [len(m) for m in members[:-1]])
            sel = np.concatenate([o + kp for o, kp in zip(off, keep)])
            Zs.append(Zg[sel])
            ys.append(y[rows[sel]])
            gs.append(g[rows[sel]])
        if cs.get("keep_full", False):
            whole[:] = True
        if whole.any():  # whole-speaker statistics from all of the speaker's items
            Zs.append(norm.transform(X, g.tolist())[whole])
            ys.append(y[whole])
            gs.append(g[whole])
        return np.vstack(Zs), np.concatenate(ys), np.concatenate(gs)

    def _augment(self, X, Z, y, speakers):
        """``few_segments: [1, 3]`` adds copies of the training set normalised as if each speaker had
        only 1 (3, ...) segments (random chunks of the speaker's segments, with the shrinkage used at
        test time), so the classifier also learns the few-segments regime of short calls."""
        norm = self.normaliser
        assert norm is not None, "fit_features fits the standardiser before augmenting"
        ks = _as_list(self.config.get("few_segments"))
        if not ks or speakers is None or norm.mode != "speaker":
            return Z, y, speakers
        rng = np.random.default_rng(int(self.config.get("seed", 0)))
        g = np.asarray([str(s) for s in speakers], dtype=object)
        Zs, ys, gs = [Z], [y], [g]
        for k in ks:
            chunk = np.empty(len(g), dtype=object)
            for s in dict.fromkeys(g.tolist()):
                idx = np.where(g == s)[0]
                rng.shuffle(idx)
                for j, i in enumerate(idx):
                    chunk[i] = f"{s}#{k}#{j // int(k)}"
            Zs.append(norm.transform(X, chunk.tolist()))
            ys.append(y)
            gs.append(g)
        return np.vstack(Zs), np.concatenate(ys), np.concatenate(gs)

    def _tune(self, Z, y, speakers) -> dict[str, Any]:
        """Inner speaker-grouped grid search of the classifier's parameters (balanced accuracy)."""
        from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold

        tune = dict(self.config["tune"])
        folds = int(tune.pop("folds", 3))
        grid = {k: _as_list(v) for k, v in tune.items()}
        if not grid:
            return {}
        est = self._classifier({}, calibrated=False)
        groups = None if speakers is None else np.asarray([str(s) for s in speakers])
        if groups is not None and len(set(groups)) >= folds:
            cv, fit_kw = GroupKFold(n_splits=folds), {"groups": groups}
        else:
            cv, fit_kw = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0), {}
        gs = GridSearchCV(
            est, grid, scoring="balanced_accuracy", cv=cv, n_jobs=int(self.config.get("jobs", 1)), refit=False
        )
        gs.fit(Z, y, **fit_kw)
        return dict(gs.best_params_)

    # -- inference ------------------------------------------------------------------------
    def _check_fitted(self):
        if self.clf is None:
            raise ModelError("the model is not trained yet (fit it or load a trained model directory)")

    def predict_proba(self, signals, speakers=None, progress: bool = False) -> np.ndarray:
        self._check_fitted()
        if len(signals) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.predict_proba_features(self.features(signals, progress=progress), speakers)

    def predict_proba_features(self, X: np.ndarray, speakers=None) -> np.ndarray:
        self._check_fitted()
        clf, norm = self.clf, self.normaliser
        assert clf is not None and norm is not None, "fit / load set the classifier and standardiser together"
        Z = norm.transform(X, speakers)
        if self.selector is not None:
            Z = self.selector.transform(Z)
        p = clf.predict_proba(Z)
        out = np.zeros((len(X), len(self.labels)), dtype=np.float64)
        for j, c in enumerate(clf.classes_):
            out[:, self.labels.index(str(c))] = p[:, j]
        s = out.sum(axis=1, keepdims=True)
        out = out / np.where(s > 0, s, 1.0)
        if self.calibrator is not None:
            out = self.calibrator.transform(out)
        return out.astype(np.float32)

    def set_calibration(self, calibrator: Calibrator | None, unknown_below: float | None = None) -> None:
        """Calibrate the probabilities with ``calibrator`` (fitted on held-out predictions of this
        model's configuration; its labels must be the model's) and, if given, set the confidence
        below which a prediction is ``unknown``. Both are saved in the model card."""
        if calibrator is not None and list(calibrator.labels) != list(self.labels):
            raise ModelError(f"calibrator labels {calibrator.labels} differ from the model's {self.labels}")
        self.calibrator = calibrator
        if unknown_below is not None:
            if not 0.0 <= float(unknown_below) < 1.0:
                raise ModelError(f"unknown_below must be in [0, 1), not {unknown_below}")
            self.unknown_below = float(unknown_below)

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        import copy

        clf = copy.deepcopy(self.clf)
        for svc in _fitted_svcs(clf):
            svc.support_vectors_ = svc.support_vectors_.astype(np.float32)
        return {"normaliser": self.normaliser, "selector": self.selector, "clf": clf, "labels": self.labels,
                "best_params": self.best_params_}

    def _set_state(self, st: dict[str, Any]) -> None:
        self.normaliser, self.selector, self.clf = st["normaliser"], st["selector"], st["clf"]
        for svc in _fitted_svcs(self.clf):  # libsvm predicts with float64
            svc.support_vectors_ = np.asarray(svc.support_vectors_, dtype=np.float64)
        self.labels = list(st["labels"])
        self.best_params_ = dict(st.get("best_params") or {})

    def _card(self) -> dict[str, Any]:
        card = {
            "features": [e.params() for e in self.extractors],
            "n_features": len(self.feature_names),
            "normalisation": self.config.get("normalisation", "global"),
            "classifier": {**dict(self.config.get("classifier") or {"type": "svc"}), **self.best_params_},
            "unknown_below": float(self.unknown_below),
        }
        if self.calibrator is not None:
            card["calibration"] = {**dict(self.card.get("calibration") or {}), **self.calibrator.to_dict()}
        return card

    def _save(self, directory: Path) -> dict[str, Any]:
        self._check_fitted()
        return {**self._card(), **dump_sklearn(self._state(), directory / WEIGHTS)}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> SVMModel:
        m, state = _read_weights(cls, directory, card)
        m._set_state(state)
        if card.get("calibration"):
            try:
                m.calibrator = Calibrator.from_dict(card["calibration"])
            except (TypeError, ValueError) as e:
                raise ModelError(f"{directory}: invalid 'calibration' in the model card ({e})") from None
            if m.calibrator.labels != list(card["labels"]):
                raise ModelError(
                    f"{directory}: calibration labels {m.calibrator.labels} differ from the model's {card['labels']}"
                )
        return m


@register_model("ensemble")
class EnsembleModel(_FunctionalsModel):
    """Soft vote of several ``svm`` members (each with its own features / normalisation)."""

    #: the members' options (shared by every member unless a member sets its own) plus the vote
    defaults: ClassVar[dict[str, Any] | None] = {**_FUNCTIONALS_DEFAULTS, "members": None, "weights": None}

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        members = self.config.get("members") or []
        if not members:
            raise ModelError("an ensemble needs 'members' (a list of svm configurations)")
        self.members: list[SVMModel] = []
        for m in members:
            mc = {k: v for k, v in self.config.items() if k not in ("members", "weights", "type")}
            mc.update(m)
            mc["type"] = "svm"
            mc["sample_rate"] = self.sample_rate
            self.members.append(SVMModel(mc))
        w = self.config.get("weights") or [1.0] * len(self.members)
        if len(w) != len(self.members):
            raise ModelError(f"ensemble: {len(w)} weights for {len(self.members)} members")
        self.weights = np.asarray(w, float) / float(np.sum(w))

    @property
    def per_speaker_normalisation(self) -> bool:
        return any(m.per_speaker_normalisation for m in self.members)

    def fit(self, signals, y, speakers=None, progress: bool = False, **kw) -> EnsembleModel:
        for m in self.members:
            m.fit(signals, y, speakers, progress=progress)
        self.labels = list(self.members[0].labels)
        return self

    def fit_features(self, Xs: Sequence[np.ndarray], y, speakers=None) -> EnsembleModel:
        for m, X in zip(self.members, Xs):
            m.fit_features(X, y, speakers)
        self.labels = list(self.members[0].labels)
        return self

    def predict_proba(self, signals, speakers=None, progress: bool = False) -> np.ndarray:
        if len(signals) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.predict_proba_features([m.features(signals, progress=progress) for m in self.members], speakers)

    def predict_proba_features(self, Xs: Sequence[np.ndarray], speakers=None) -> np.ndarray:
        p = 0.0
        for w, m, X in zip(self.weights, self.members, Xs):
            pm = m.predict_proba_features(X, speakers)
            p = p + w * pm[:, [m.labels.index(c) for c in self.labels]]
        return np.asarray(p, np.float32)

    def _save(self, directory: Path) -> dict[str, Any]:
        state = {"members": [m._state() for m in self.members], "labels": self.labels}
        pinned = dump_sklearn(state, directory / WEIGHTS)
        feats = []
        for m in self.members:
            feats += [e.params() for e in m.extractors if e.params() not in feats]
        return {"features": feats, "members": [m._card() for m in self.members],
                "normalisation": sorted({str(m.config.get("normalisation", "global")) for m in self.members}),
                **pinned}

    @classmethod
    def _load(cls, directory: Path, card: dict[str, Any]) -> EnsembleModel:
        m, st = _read_weights(cls, directory, card)
        for mem, s in zip(m.members, st["members"]):
            mem._set_state(s)
        m.labels = list(st["labels"])
        return m


def _read_weights(cls, directory: Path, card: dict[str, Any]):
    """A fresh model of ``cls`` from its card's configuration, and the state saved beside it
    (refused, with what to do, when the card's scikit-learn version is not the running one)."""
    f = directory / WEIGHTS
    if not f.exists():
        raise ModelError(f"{directory}: missing {WEIGHTS}")
    cfg = dict(card.get("config") or {})
    cfg.setdefault("sample_rate", card.get("sample_rate", 16000))
    state = load_sklearn(f, card)
    return cls(cfg), state


#: the channels a multi-condition copy can go through (``noise_augment: {codecs: [...]}``)
CODECS = ("g711", "mp3")


def noise_copies(signals, y, speakers, spec: dict[str, Any] | None, sr: int, cache: bool | str = True):
    """Multi-condition training: add ``copies`` noisy versions of every training signal per codec.

    ``spec`` = ``{copies: 1, snr: [10, 30], seed: 0, codecs: [g711, mp3]}`` (the config's
    ``noise_augment``; ``None`` or ``copies: 0`` = off). Noise is pink-tilted at an SNR drawn per
    copy; at 8 kHz the copy goes through G.711 mu-law again, as real telephone noise would, and the
    ``mp3`` copies then also through a 16 kbps MP3 file (:func:`callemo.io.telephone.mp3_roundtrip`),
    as call archives store them. ``codecs`` defaults to ``[g711]``. Labels and speakers are repeated.
    The noise of a copy is seeded from the signal's own samples (and ``seed``, the copy number and
    the codec), not from its position, so a signal gets the same noisy copy in every training
    subset (the feature cache then serves cross-validation folds and the final model alike). The
    MP3 encode (about 15 ms per 3 s signal) is kept in the feature cache too (``cache`` as in
    :func:`callemo.features.extract`), so a retrain on cached features does not redo it.
    """
    if not spec or int(spec.get("copies", 1)) <= 0:
        return signals, y, speakers
    import functools
    import zlib

    from ..features.cache import cached_bytes
    from ..io.telephone import MP3_16KBPS_LEVEL, TELEPHONE_SR, add_noise, mp3_decode, mp3_encode, mulaw

    copies = int(spec.get("copies", 1))
    lo, hi = (float(v) for v in spec.get("snr", (10.0, 30.0)))
    seed = int(spec.get("seed", 0))
    codecs = [str(c) for c in (spec.get("codecs") or ["g711"])]
    bad = [c for c in codecs if c not in CODECS]
    if bad:
        raise ModelError(f"noise_augment: unknown codec(s) {bad}; choose from {list(CODECS)}")
    out_sig, out_y = list(signals), list(y)
    out_spk = None if speakers is None else list(speakers)
    for k, codec in enumerate(codecs):
        for c in range(copies):
            for x in signals:
                x = np.ascontiguousarray(x, np.float32)
                # the first codec keeps the seeds of a single-codec spec: its copies are cache hits
                rng = np.random.default_rng([seed, c, zlib.crc32(x.tobytes())] + ([k] if k else []))
                z = add_noise(x, float(rng.uniform(lo, hi)), rng)
                z = mulaw(z) if sr == TELEPHONE_SR else z
                if codec == "mp3":
                    data = cached_bytes(z, sr, {"name": "mp3_16kbps", "version": 1, "level": MP3_16KBPS_LEVEL},
                                        functools.partial(mp3_encode, z, sr), cache)
                    z = mp3_decode(data, len(z))
                out_sig.append(z)
            out_y += list(y)
            if out_spk is not None:
                out_spk += list(speakers)
    return out_sig, out_y, out_spk


def _fitted_svcs(clf) -> list:
    """The fitted ``SVC`` objects inside a classifier (plain, Platt-calibrated or softmax-wrapped)."""
    from sklearn.svm import SVC

    out = [clf] if isinstance(clf, SVC) else []
    for cc in getattr(clf, "calibrated_classifiers_", None) or []:
        est = getattr(cc, "estimator", None)
        if isinstance(est, SVC):
            out.append(est)
    inner = getattr(clf, "svc", None)
    if isinstance(inner, SVC):
        out.append(inner)
    return [s for s in out if hasattr(s, "support_vectors_")]
