"""Training from a manifest into a model directory (weights + model card with its training data,
metrics and licence). Configurations are read by :mod:`callemo.train.config`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CallemoError
from ..labels.schemes import apply_setting
from ..models.base import build_model
from .config import load_config, telephone_config
from .manifest import load_signals, read_manifest
from .tasks import fit_model

#: licences of the shared corpora (a model inherits the most restrictive)
CORPUS_LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0 (RAVDESS, Livingstone & Russo 2018)",
    "nemo": "CC BY-NC-SA 4.0 (nEMO, Christop 2024)",
    "savee": "research use only, on registration (SAVEE, Haq & Jackson 2009)",
}


def training_licence(corpora) -> dict[str, Any]:
    names = sorted({str(c).lower() for c in corpora if isinstance(c, str) and c})
    known = {n: CORPUS_LICENCES[n] for n in names if n in CORPUS_LICENCES}
    unknown = [n for n in names if n not in CORPUS_LICENCES]
    text = "; ".join(known.values())
    if unknown:
        text += ("; " if text else "") + f"check the licences of: {', '.join(unknown)}"
    restricted = bool(known)
    return {
        "training_data": text or "unknown (user-supplied data: check its licence)",
        "use": "research and non-commercial use only (inherited from the training data)" if restricted
        else "as permitted by the licence of the training data",
    }


def data_summary(df: pd.DataFrame, *, manifest: str | None = None, telephone: bool = False,
                 sample_rate: int | None = None,
                 setting: Any = None, label_column: str = "emotion") -> dict[str, Any]:
    dur = None
    if "start" in df.columns and "end" in df.columns:
        seg = (df["end"].astype(float) - df["start"].astype(float)).dropna()
        if len(seg):
            dur = float(seg.sum())
    out: dict[str, Any] = {
        "manifest": manifest,
        "n_items": len(df),
        "n_speakers": int(df["speaker"].nunique()) if "speaker" in df.columns else None,
        "labels": {str(k): int(v) for k, v in df[label_column].value_counts().sort_index().items()},
        "telephone": bool(telephone),
        "sample_rate": sample_rate,
        "label_setting": setting if (setting is None or isinstance(setting, str)) else dict(setting),
    }
    if "corpus" in df.columns:
        out["corpora"] = {str(k): int(v) for k, v in df["corpus"].value_counts().sort_index().items()}
    if dur is not None:
        out["segment_seconds"] = round(dur, 1)
    return out


def train_from_manifest(
    manifest: str | os.PathLike | pd.DataFrame,
    config: str | os.PathLike | dict | None,
    out_dir: str | os.PathLike | None = None,
    *,
    telephone: bool = False,
    setting: Any = None,
    jobs: int = 1,
    progress: bool = False,
    metrics: dict[str, Any] | None = None,
    signals=None,
    label_column: str = "emotion",
    **card_extra: Any,
):
    """Train ``config`` on a manifest (path or DataFrame) and save it to ``out_dir`` (if given).

    ``telephone`` degrades the audio to 8 kHz mu-law telephone quality and sets the model's sample
    rate to 8000. ``setting`` (default: the config's ``label_setting``) applies a label setting.
    The model card records features, sample rate, labels, training data, ``metrics`` (pass the
    evaluation result with its protocol) and the licence of the training data. Returns the model.
    """
    cfg = load_config(config)
    if telephone and int(cfg.get("sample_rate", 16000)) != 8000:
        cfg = telephone_config(cfg)
    if isinstance(manifest, pd.DataFrame):
        df, mpath = manifest.copy(), None
    else:
        df, mpath = read_manifest(manifest), str(Path(manifest).resolve())
    setting = setting if setting is not None else cfg.get("label_setting")
    if setting is not None:
        keep = apply_setting(df, setting, column=label_column)
        if signals is not None:
            pos = df.index.get_indexer(keep.index)
            signals = [signals[i] for i in pos]
        df = keep
    df = df.reset_index(drop=True)
    if len(df) == 0:
        raise CallemoError(f"{mpath or 'manifest'}: no rows left to train on (label setting {setting!r})")
    model = build_model(cfg)
    sr = int(model.sample_rate)
    if signals is None:
        signals = load_signals(df, sr, telephone=telephone, jobs=jobs, progress=progress)
    y = df[label_column].astype(str).tolist()
    speakers = df["speaker"].astype(str).tolist() if "speaker" in df.columns else None
    gender = df["gender"].astype(str).tolist() if "gender" in df.columns and df["gender"].notna().all() else None
    fit_model(model, signals, y, speakers, progress=progress, gender=gender)
    corpora = df["corpus"].unique().tolist() if "corpus" in df.columns else []
    card = {
        "training_data": data_summary(df, manifest=mpath, telephone=telephone, sample_rate=sr, setting=setting,
                                      label_column=label_column),
        "license": training_licence(corpora),
        "metrics": metrics or {},
        "intended_use": "categorical emotion of speech segments (>= min_duration seconds); acted training "
                        "data: expect lower accuracy on spontaneous call-center speech",
    }
    card.update(card_extra)
    if out_dir is not None:
        model.save(out_dir, **card)
    else:
        model.card.update(card)
    return model


__all__ = ["CORPUS_LICENCES", "data_summary", "train_from_manifest", "training_licence"]
