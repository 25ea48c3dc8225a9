"""Readers for the public emotional-speech corpora: each builds a manifest DataFrame.

``build_manifest(name, directory)`` for ``ravdess``, ``savee`` and ``nemo``. Columns: ``path``
(absolute), ``start``/``end`` (NaN: whole files), ``speaker`` (prefixed by the corpus, e.g.
``ravdess_01``, so corpora can be concatenated), ``emotion`` (canonical names: neutral, calm,
happy, sad, angry, fearful, disgust, surprised), ``gender`` (``m``/``f``), ``corpus``,
``language`` and corpus-specific context (RAVDESS ``intensity``, ``statement``, ``repetition``;
SAVEE ``sentence``; nEMO ``age``, ``text``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CallemoError

AUDIO_SUFFIXES = (".flac", ".wav")


class CorpusError(CallemoError, ValueError):
    """A folder is not the corpus it was said to be (or is incomplete)."""


def _audio_files(d: Path) -> list[Path]:
    """The audio files below ``d``, sorted."""
    return [f for f in sorted(d.rglob("*")) if f.suffix.lower() in AUDIO_SUFFIXES]


def _frame(rows: list[dict], corpus: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df.insert(1, "start", np.nan)
    df.insert(2, "end", np.nan)
    df = df.sort_values(["speaker", "path"], kind="stable").reset_index(drop=True)
    return df


# ---------------------------------------------------------------------------------------------
# RAVDESS
RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def read_ravdess(directory: str | os.PathLike) -> pd.DataFrame:
    """RAVDESS audio-only speech (modality 03, vocal channel 01): 1440 files, 24 actors.

    ``MM-VV-EE-II-SS-RR-AA``: emotion EE, intensity II (01 normal, 02 strong), statement SS,
    repetition RR, actor AA (odd = male, even = female). Song and video files are skipped.
    """
    d = _check_dir(directory, "ravdess")
    rows = []
    for f in _audio_files(d):
        m = _RAVDESS_RE.match(f.stem)
        if not m:
            continue
        modality, channel, emo, intensity, statement, rep, actor = m.groups()
        if modality != "03" or channel != "01":
            continue
        if emo not in RAVDESS_EMOTIONS:
            raise CorpusError(f"{f}: unknown RAVDESS emotion code {emo}")
        rows.append({
            "path": str(f.absolute()),
            "speaker": f"ravdess_{actor}",
            "emotion": RAVDESS_EMOTIONS[emo],
            "gender": "m" if int(actor) % 2 == 1 else "f",
            "corpus": "ravdess",
            "language": "en-US",
            "intensity": "strong" if intensity == "02" else "normal",
            "statement": int(statement),
            "repetition": int(rep),
        })
    if not rows:
        raise CorpusError(
            f"{d}: not a RAVDESS folder (no audio-only speech files named like "
            "Actor_01/03-01-05-01-01-01-01.flac found)"
        )
    return _frame(rows, "ravdess")


# ---------------------------------------------------------------------------------------------
# SAVEE
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
SAVEE_EMOTIONS = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad",
                  "su": "surprised"}
_SAVEE_FLAT = re.compile(r"^(DC|JE|JK|KL)_(a|d|f|h|n|sa|su)(\d\d)$")
_SAVEE_STEM = re.compile(r"^(a|d|f|h|n|sa|su)(\d\d)$")


def read_savee(directory: str | os.PathLike) -> pd.DataFrame:
    """SAVEE: 480 files, 4 male speakers (DC, JE, JK, KL), British English.

    Accepts the flat layout ``SPK_EMONN.flac`` and the original ``AudioData/SPK/EMONN.wav``.
    """
    d = _check_dir(directory, "savee")
    rows = []
    for f in _audio_files(d):
        m = _SAVEE_FLAT.match(f.stem)
        if m:
            spk, emo, num = m.groups()
        else:
            m = _SAVEE_STEM.match(f.stem)
            if not (m and f.parent.name in SAVEE_SPEAKERS):
                continue
            spk = f.parent.name
            emo, num = m.groups()
        rows.append({
            "path": str(f.absolute()),
            "speaker": f"savee_{spk}",
            "emotion": SAVEE_EMOTIONS[emo],
            "gender": "m",
            "corpus": "savee",
            "language": "en-GB",
            "sentence": f"{emo}{num}",
        })
    if not rows:
        raise CorpusError(f"{d}: not a SAVEE folder (no files named like DC_a01.flac or DC/a01.wav found)")
    return _frame(rows, "savee")


# ---------------------------------------------------------------------------------------------
# nEMO
NEMO_EMOTIONS = {
    "anger": "angry", "fear": "fearful", "happiness": "happy", "sadness": "sad",
    "surprised": "surprised", "neutral": "neutral",
}


def read_nemo(directory: str | os.PathLike) -> pd.DataFrame:
    """nEMO (Polish): ``data.tsv`` + ``samples/``; 4481 files, 9 speakers.

    ``file_id`` names the original .wav; the audio may be the .flac (or .wav) of the same stem.
    Whitespace around ``speaker_id`` is stripped.
    """
    d = _check_dir(directory, "nemo")
    tsv = d / "data.tsv"
    if not tsv.exists():
        raise CorpusError(f"{d}: not an nEMO folder (no data.tsv)")
    try:
        meta = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    except Exception as e:
        raise CorpusError(f"{tsv}: cannot read ({e})") from None
    need = {"file_id", "emotion", "speaker_id"}
    if not need <= set(meta.columns):
        raise CorpusError(f"{tsv}: missing column(s) {', '.join(sorted(need - set(meta.columns)))}")
    samples = d / "samples" if (d / "samples").is_dir() else d
    rows, missing, unknown = [], [], []
    for i, r in enumerate(meta.itertuples(index=False)):
        stem = Path(str(r.file_id).strip()).stem
        f = next((samples / (stem + s) for s in AUDIO_SUFFIXES if (samples / (stem + s)).exists()), None)
        if f is None:
            missing.append(stem)
            continue
        emo = str(r.emotion).strip().lower()
        if emo not in NEMO_EMOTIONS:
            unknown.append(f"line {i + 2}: {emo!r}")
            continue
        gender = str(getattr(r, "gender", "")).strip().lower()
        age = str(getattr(r, "age", "")).strip()
        rows.append({
            "path": str(f.absolute()),
            "speaker": f"nemo_{str(r.speaker_id).strip()}",
            "emotion": NEMO_EMOTIONS[emo],
            "gender": {"male": "m", "female": "f"}.get(gender, gender),
            "corpus": "nemo",
            "language": "pl",
            "age": int(age) if age.isdigit() else np.nan,
            "text": str(getattr(r, "normalized_text", "")).strip(),
        })
    if unknown:
        raise CorpusError(f"{tsv}: unknown emotion(s): {'; '.join(unknown[:10])}")
    if missing:
        raise CorpusError(
            f"{samples}: {len(missing)} file(s) listed in data.tsv not found, e.g. {', '.join(missing[:5])} "
            "(.flac or .wav)"
        )
    if not rows:
        raise CorpusError(f"{tsv}: no rows")
    return _frame(rows, "nemo")


# ---------------------------------------------------------------------------------------------
READERS: dict[str, Callable[[str | os.PathLike], pd.DataFrame]] = {
    "ravdess": read_ravdess,
    "savee": read_savee,
    "nemo": read_nemo,
}
CORPORA = tuple(READERS)


def _check_dir(directory: str | os.PathLike, name: str) -> Path:
    d = Path(directory).expanduser()
    if not d.exists():
        raise CorpusError(f"{d}: folder not found (expected the {name} corpus)")
    if not d.is_dir():
        raise CorpusError(f"{d}: not a folder (expected the {name} corpus)")
    return d.resolve()


def build_manifest(name: str, directory: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a corpus folder (``ravdess``, ``savee`` or ``nemo``)."""
    key = str(name).strip().lower()
    if key not in READERS:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    return READERS[key](directory)


def build_manifests(corpora: dict[str, str | os.PathLike]) -> pd.DataFrame:
    """Several corpora concatenated (``{"ravdess": dir, "nemo": dir}``)."""
    frames = [build_manifest(k, v) for k, v in corpora.items()]
    return pd.concat(frames, ignore_index=True, sort=False)


__all__ = [
    "CORPORA",
    "NEMO_EMOTIONS",
    "RAVDESS_EMOTIONS",
    "READERS",
    "SAVEE_EMOTIONS",
    "CorpusError",
    "build_manifest",
    "build_manifests",
    "read_nemo",
    "read_ravdess",
    "read_savee",
]
