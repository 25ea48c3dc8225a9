"""Headless Chromium for the tests that render pages (reports, the archive page, the dashboard)."""

from __future__ import annotations

import shutil

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The browser's executable, or skip the test with the reason (CI installs it)."""
    for name in NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium); CI installs it")
