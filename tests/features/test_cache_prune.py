"""Feature-cache size and pruning: ``cache_usage``, ``prune`` (age, LRU size bound) and ``callemo cache``."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from callemo.features import extract, get_extractor
from callemo.features.cache import cache_usage, parse_size, prune
from helpers.voices import synth_voice


def _fill(tmp_path, n=4):
    ex = get_extractor("prosody", sample_rate=8000)
    sigs = [synth_voice(1.0, sr=8000, seed=s) for s in range(n)]
    values = extract(ex, sigs, cache=tmp_path)
    files = sorted((tmp_path / "features").rglob("*.npy"))
    return ex, sigs, values, files


def _age(path, days):
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def test_usage_names_the_extractor_and_counts_bytes(tmp_path):
    _, _, _, files = _fill(tmp_path, 3)
    rows = cache_usage(tmp_path / "features")
    assert len(rows) == 1
    assert rows[0].extractor == "prosody" and rows[0].files == 3
    assert rows[0].bytes == sum(f.stat().st_size for f in files)


def test_prune_by_age_and_by_size_drops_least_recently_used_first(tmp_path):
    ex, sigs, values, files = _fill(tmp_path, 4)
    root = tmp_path / "features"
    size = files[0].stat().st_size
    ages = {f: 40 - 10 * i for i, f in enumerate(files)}  # 40, 30, 20, 10 days since last use
    for f, d in ages.items():
        _age(f, d)
    # a cache hit refreshes its entry: reading one signal back touches exactly one file
    extract(ex, [sigs[1]], cache=tmp_path)
    fresh = [f for f in files if time.time() - f.stat().st_mtime < 3600]
    assert len(fresh) == 1
    hit = fresh[0]
    rest = sorted((f for f in files if f != hit), key=lambda f: ages[f])  # newest first
    assert [ages[f] for f in rest] == sorted(ages[f] for f in files if f != hit)

    # dry run removes nothing
    stale = [f for f in rest if ages[f] > 15]
    n, freed = prune(root, older_than_days=15, dry_run=True)
    assert (n, freed) == (len(stale), len(stale) * size) and all(f.exists() for f in files)
    # entries unused for more than 15 days go; the one just read stays whatever its first age
    assert prune(root, older_than_days=15) == (len(stale), len(stale) * size)
    left = [f for f in files if f.exists()]
    assert hit in left and not any(f.exists() for f in stale)
    # size bound of one entry: the least recently used go, the one just read stays
    assert prune(root, max_bytes=size) == (len(left) - 1, (len(left) - 1) * size)
    assert [f for f in files if f.exists()] == [hit]
    # what was pruned is recomputed, to the same values
    again = extract(ex, sigs, cache=tmp_path)
    np.testing.assert_allclose(again, values, rtol=1e-6)
    assert prune(root, max_bytes=0)[0] == 4 and not list(root.rglob("*.npy"))


def test_parse_size():
    assert parse_size("0") == 0 and parse_size("500M") == 500 * 1024**2 and parse_size("2GiB") == 2 * 1024**3
    with pytest.raises(ValueError, match="12X"):
        parse_size("12X")


def test_cache_cli_info_and_prune(tmp_path, monkeypatch):
    from callemo.cli import _load_commands, app

    _load_commands()
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path))
    _fill(tmp_path, 2)
    r = CliRunner().invoke(app, ["cache", "info"])
    assert r.exit_code == 0 and "prosody" in r.output
    r = CliRunner().invoke(app, ["cache", "prune"])
    assert r.exit_code == 2 and "--max-size" in r.output
    r = CliRunner().invoke(app, ["cache", "prune", "--max-size", "12X"])
    assert r.exit_code == 2 and "12X" in r.output
    r = CliRunner().invoke(app, ["cache", "prune", "--max-size", "0"])
    assert r.exit_code == 0 and "removed 2 entries" in r.output
    assert not list(tmp_path.rglob("*.npy"))
