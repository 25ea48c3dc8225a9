"""Shared fixtures: the shared corpora (skipped with a reason when absent) and generated audio.

Helper modules shared by several test folders live in ``tests/helpers`` (``from helpers.voices
import synth_voice``); pyproject's pytest ``pythonpath`` makes them importable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.voices import synth_voice

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def corpus_dir(name: str) -> Path:
    """The folder of a shared corpus, or skip the test saying why."""
    d = SHARED_DATA / name
    if not d.is_dir():
        pytest.skip(f"corpus {name!r} not found at {d} (the shared corpora sit beside the project in ../shared/data)")
    return d


@pytest.fixture
def ravdess_dir() -> Path:
    return corpus_dir("ravdess")


@pytest.fixture
def savee_dir() -> Path:
    return corpus_dir("savee")


@pytest.fixture
def nemo_dir() -> Path:
    return corpus_dir("nemo")


@pytest.fixture
def voice():
    """:func:`helpers.voices.synth_voice`, the tests' speech-like signal generator."""
    return synth_voice
