"""Training configurations: named YAML files in ``callemo/configs/`` or any YAML/JSON path.

``extends: other_name`` starts from another configuration and overrides its keys. Every loaded
configuration is validated with pydantic against its model family's options (the keys the family
declares in :attr:`EmotionModel.defaults`, plus the keys every configuration may carry),
so a misspelt key or a value of the wrong type fails loudly, naming the file and the key, instead
of being silently ignored.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, ValidationError, create_model

from ..errors import CallemoError
from ..models.base import ModelError, model_class

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = "default"
#: keys any configuration may carry, whatever its model family
COMMON_KEYS = frozenset({"type", "name", "description", "label_setting", "labels", "sample_rate", "min_duration"})


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
            raise ConfigError(f"{src}: circular 'extends' ({' -> '.join((*_seen, str(base)))})")
        merged = load_config(base, (*_seen, str(base)))
        merged.pop("name", None)
        merged.update(cfg)
        cfg = merged
    if "type" not in cfg:
        raise ConfigError(f"{src}: the configuration needs a 'type' (svm, ensemble, cnn_bilstm, ...)")
    cfg.setdefault("name", Path(src).stem if src != "<dict>" else "custom")
    if not _seen:  # validate the merged result once, not every configuration it extends
        validate_config(cfg, src)
    return cfg


def _field_type(default: Any) -> Any:
    """The pydantic type of an option from its default: numbers and booleans are checked (``None``
    allowed), anything else (strings that may also be lists, nested mappings) only by name."""
    if isinstance(default, bool):
        return bool | None
    if isinstance(default, int):
        return int | None
    if isinstance(default, float):
        return float | None
    return Any


def validate_config(cfg: dict[str, Any], src: str = "<dict>") -> dict[str, Any]:
    """Check ``cfg`` against its model family's declared options; raise :class:`ConfigError`
    naming ``src``, the key and the closest known key. Families that declare no options
    (``defaults`` is ``None``) are checked for a known ``type`` only."""
    try:
        cls = model_class(str(cfg["type"]))
    except ModelError as e:
        raise ConfigError(f"{src}: {e}") from None
    defaults = cls.defaults
    if defaults is None:
        return cfg
    known = set(defaults) | COMMON_KEYS
    fields: dict[str, Any] = {k: (_field_type(defaults.get(k)), None) for k in sorted(known)}
    schema = create_model(f"{cls.model_type}_config", __config__=ConfigDict(extra="forbid"), **fields)
    try:
        schema.model_validate(cfg)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown key {key!r} for a {cls.model_type} model{hint}")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{src}: " + "; ".join(problems)) from None
    return cfg


def telephone_config(config: dict[str, Any]) -> dict[str, Any]:
    """The same configuration for 8 kHz telephone audio."""
    c = dict(config)
    c["sample_rate"] = 8000
    for key in ("members",):
        if key in c:
            c[key] = [dict(m, sample_rate=8000) for m in c[key]]
    return c


__all__ = [
    "COMMON_KEYS",
    "CONFIG_DIR",
    "DEFAULT_CONFIG",
    "ConfigError",
    "list_configs",
    "load_config",
    "telephone_config",
    "validate_config",
]
