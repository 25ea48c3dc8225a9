"""The shared corpora for the tests that need them (``../shared/data``, or ``$CALLEMO_SHARED_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("CALLEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def corpus_dir(name: str) -> Path:
    """The folder of a shared corpus, or skip the test saying why."""
    d = SHARED_DATA / name
    if not d.is_dir():
        pytest.skip(f"corpus {name!r} not found at {d} (the shared corpora sit beside the project in ../shared/data)")
    return d
