"""Shared fixtures: the shared corpora (skipped with a reason when absent) and generated audio.

Helper modules shared by several test folders live in ``tests/helpers`` (``from helpers.voices
import synth_voice``); pyproject's pytest ``pythonpath`` makes them importable."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.corpora import corpus_dir
from helpers.voices import synth_voice


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
