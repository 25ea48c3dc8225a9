"""Configurations and training from a manifest into a model directory (weights + model card).

A configuration is a YAML mapping (see ``callemo/configs/``) loaded by name (``svm_speaker``) or
by path. ``extends: other_name`` starts from another configuration and overrides its keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..errors import CallemoError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = "default"

#: licences of the shared corpora (a model inherits the most restrictive)
CORPUS_LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0 (RAVDESS, Livingstone & Russo 2018)",
    "nemo": "CC BY-NC-SA 4.0 (nEMO, Christop 2024)",
    "savee": "research use only, on registration (SAVEE, Haq & Jackson 2009)",
}


class ConfigError(CallemoError, ValueError):
    """A configuration cannot be found or read."""


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _read_yaml(p: Path) -> dict[str, Any]:
    try:
        cfg = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML ({e})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{p}: a configuration must be a mapping of keys to values")
    return cfg


def load_config(name_or_path: str | os.PathLike | dict | None = None, _seen: tuple = ()) -> dict[str, Any]:
    """A configuration dict from a name in ``callemo/configs`` or a YAML path (``None``: default)."""
    if isinstance(name_or_path, dict):
        cfg = dict(name_or_path)
        src = "<dict>"
    else:
        key = str(name_or_path or DEFAULT_CONFIG)
        p = Path(key).expanduser()
        if p.suffix in (".yaml", ".yml") and p.exists():
            cfg, src = _read_yaml(p), str(p)
        elif (CONFIG_DIR / f"{key}.yaml").exists():
            p = CONFIG_DIR / f"{key}.yaml"
            cfg, src = _read_yaml(p), key
        elif p.exists() and p.is_file():
            cfg, src = _read_yaml(p), str(p)
        else:
            raise ConfigError(f"{key}: no such configuration file or name; known names: {', '.join(list_configs())}")
    base = cfg.pop("extends", None)
    if base:
        if str(base) in _seen:
            raise ConfigError(f"{src}: circular 'extends' ({' -> '.join(_seen + (str(base),))})")
        merged = load_config(base, _seen + (str(base),))
        merged.pop("name", None)
        merged.update(cfg)
        cfg = merged
    if "type" not in cfg:
        raise ConfigError(f"{src}: the configuration needs a 'type' (svm, ensemble, cnn_bilstm, ...)")
    cfg.setdefault("name", Path(src).stem if src != "<dict>" else "custom")
    return cfg


def telephone_config(config: dict[str, Any]) -> dict[str, Any]:
    """The same configuration for 8 kHz telephone audio."""
    c = dict(config)
    c["sample_rate"] = 8000
    for key in ("members",):
        if key in c:
            c[key] = [dict(m, sample_rate=8000) for m in c[key]]
    return c


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


def data_summary(df: pd.DataFrame, *, manifest: str | None = None, telephone: bool = False, sample_rate: int | None = None,
                 setting: Any = None, label_column: str = "emotion") -> dict[str, Any]:
    dur = None
    if "start" in df.columns and "end" in df.columns:
        seg = (df["end"].astype(float) - df["start"].astype(float)).dropna()
        if len(seg):
            dur = float(seg.sum())
    out: dict[str, Any] = {
        "manifest": manifest,
        "n_items": int(len(df)),
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
    from ..models.base import build_model
    from .manifest import load_signals, read_manifest

    cfg = load_config(config)
    if telephone and int(cfg.get("sample_rate", 16000)) != 8000:
        cfg = telephone_config(cfg)
    if isinstance(manifest, pd.DataFrame):
        df, mpath = manifest.copy(), None
    else:
        df, mpath = read_manifest(manifest), str(Path(manifest).resolve())
    setting = setting if setting is not None else cfg.get("label_setting")
    if setting is not None:
        from ..labels.schemes import apply_setting

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
    from ..models.base import fit_kwargs

    gender = df["gender"].astype(str).tolist() if "gender" in df.columns and df["gender"].notna().all() else None
    model.fit(signals, y, speakers, progress=progress, **fit_kwargs(model, gender=gender))
    corpora = df["corpus"].unique().tolist() if "corpus" in df.columns else []
    card = {
        "training_data": data_summary(df, manifest=mpath, telephone=telephone, sample_rate=sr, setting=setting, label_column=label_column),
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


__all__ = ["CONFIG_DIR", "ConfigError", "CORPUS_LICENCES", "data_summary", "list_configs", "load_config",
           "telephone_config", "train_from_manifest", "training_licence"]
