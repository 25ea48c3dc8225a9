"""Batch analysis: outputs, resume after an interrupted run, --force, failures, worker processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analyze_helpers import HERE, make_call, tm

from callemo.analyze.batch import analyze_batch, collect_inputs, rebuild_summary
from callemo.analyze.schema import CallJSON
from callemo.io import save_audio

PREP = tm.simple_prepare
TURNS = [(0.5, 4.5, "neutral", 0), (5.0, 9.0, "angry", 1), (10.0, 13.0, "neutral", 0)]


def make_calls(folder: Path, n: int, stereo=True) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        a, sr = make_call(TURNS, 14, stereo=stereo, seed=i)
        out.append(save_audio(folder / f"call{i}.wav", a, sr))
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tm.saved_model(tmp_path_factory.mktemp("model") / "tiny")


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_outputs_per_call_and_summary(tmp_path, model_dir):
    make_calls(tmp_path / "in", 2)
    (tmp_path / "in" / "sub").mkdir()
    a, sr = make_call(TURNS, 14, stereo=True, seed=9)
    save_audio(tmp_path / "in" / "sub" / "call0.wav", a, sr)  # same name in a sub-folder
    res = analyze_batch([tmp_path / "in"], tmp_path / "out", model=model_dir, prepare=PREP, progress=False)
    assert res.exit_code == 0 and len(res.done) == 3 and not res.failed
    out = tmp_path / "out"
    for stem in ("call0", "call1", "sub/call0"):
        for ext in (".json", ".csv", ".png", ".html"):
            assert (out / (stem + ext)).stat().st_size > 0, stem + ext
        doc = CallJSON.model_validate(json.loads((out / f"{stem}.json").read_text()))
        assert [s.role for s in doc.segments] == ["agent", "client", "agent"]
        assert doc.segments[1].emotion == "angry"
    assert (out / "call0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = rows(out / "summary.csv")
    assert [r["output"] for r in summary] == ["call0", "call1", "sub/call0"]
    assert summary[0]["needs_review"] == "True" and "strong anger" in summary[0]["review_reasons"]
    assert rows(out / "errors.csv") == []
    assert not list(out.rglob(".tmp-*"))


def test_resume_after_interruption_and_force(tmp_path, model_dir):
    files = make_calls(tmp_path / "in", 4)
    out = tmp_path / "out"
    # a first run that only got through two calls ...
    fast = dict(model=model_dir, prepare=PREP, progress=False, html=False, plot=False)
    first = analyze_batch(files[:2], out, **fast)
    assert len(first.done) == 2
    # ... and was killed while writing the third: a table and a temporary JSON, no final JSON
    (out / "call2.csv").write_text("partial")
    (out / ".tmp-999-call2.json").write_text('{"trunc')
    mtime = (out / "call0.json").stat().st_mtime_ns
    again = analyze_batch([tmp_path / "in"], out, **fast)
    assert sorted(Path(f).name for f in again.skipped) == ["call0.wav", "call1.wav"]
    assert sorted(Path(f).name for f in again.done) == ["call2.wav", "call3.wav"]
    assert (out / "call0.json").stat().st_mtime_ns == mtime  # finished calls untouched
    assert (out / "call2.csv").read_text() != "partial" and not list(out.rglob(".tmp-*"))
    assert len(rows(out / "summary.csv")) == 4
    forced = analyze_batch([tmp_path / "in"], out, force=True, **fast)
    assert len(forced.done) == 4 and not forced.skipped
    assert (out / "call0.json").stat().st_mtime_ns != mtime


def test_corrupt_empty_and_silent_inputs_do_not_stop_the_batch(tmp_path, model_dir):
    inp = tmp_path / "in"
    make_calls(inp, 1)
    (inp / "empty.wav").write_bytes(b"")
    (inp / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(300))
    (inp / "notes.txt").write_text("not audio, not picked up")
    save_audio(inp / "silent.wav", np.zeros(8000 * 5, np.float32), 8000)
    out = tmp_path / "out"
    res = analyze_batch([inp, tmp_path / "missing.wav"], out, model=model_dir, prepare=PREP, progress=False)
    assert res.exit_code == 1
    assert sorted(Path(f).name for f in res.done) == ["call0.wav", "silent.wav"]
    errs = {Path(r["file"]).name: r["error"] for r in rows(out / "errors.csv")}
    assert set(errs) == {"empty.wav", "corrupt.wav", "missing.wav"}
    assert "empty" in errs["empty.wav"] and "not found" in errs["missing.wav"]
    assert "cannot decode" in errs["corrupt.wav"] and "Traceback" not in "".join(errs.values())
    silent = json.loads((out / "silent.json").read_text())
    assert silent["segments"] == [] and silent["summary"]["review_reasons"] == ["no speech"]
    assert len(rows(out / "summary.csv")) == 2


def test_ctrl_c_keeps_finished_calls_and_rerun_resumes(tmp_path, model_dir):
    files = make_calls(tmp_path / "in", 8)
    out = tmp_path / "out"
    script = f"""
import sys; sys.path[:0] = {[str(HERE), str(HERE.parent)]!r}
import analyze_tinymodel as tm
from callemo.analyze.batch import analyze_batch
r = analyze_batch([{str(tmp_path / 'in')!r}], {str(out)!r}, model={str(model_dir)!r}, prepare=tm.simple_prepare,
                  progress=False)
sys.exit(r.exit_code)
"""
    p = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and not list(out.glob("call*.json")) and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode in (130, 0), err  # 0 only if it finished before the signal landed
    assert "Traceback" not in err
    done = sorted(out.glob("call*.json"))
    assert done
    for f in done:
        CallJSON.model_validate(json.loads(f.read_text()))  # complete, valid files only
    assert len(rows(out / "summary.csv")) == len(done)
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, prepare=PREP, progress=False, html=False, plot=False)
    assert len(res.skipped) == len(done) and len(res.done) == len(files) - len(done)
    assert len(rows(out / "summary.csv")) == len(files)


def test_collect_inputs_disambiguates_names(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("x.wav", "x.flac", "y.mp3", ".hidden.wav"):
        (tmp_path / "a" / name).write_bytes(b"0")
    jobs = collect_inputs([tmp_path / "a", tmp_path / "a" / "y.mp3"])
    assert sorted(j.rel for j in jobs) == ["x_flac", "x_wav", "y"]


def test_summary_rebuild_ignores_foreign_json(tmp_path):
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "broken.json").write_text("{")
    assert rows(rebuild_summary(tmp_path)) == []


def test_two_workers_and_a_worker_killed_mid_call(tmp_path, model_dir):
    """--jobs 2 (spawned workers, model loaded in each); a worker killed while analysing one call
    (as by the out-of-memory killer) fails that call only."""
    files = make_calls(tmp_path / "in", 4)
    a, sr = make_call(TURNS, 14, stereo=True, seed=5)
    save_audio(tmp_path / "in" / "crash.wav", a, sr)
    res = analyze_batch([tmp_path / "in"], tmp_path / "out", model=model_dir, prepare=tm.crashing_prepare, jobs=2,
                        progress=False, html=False, plot=False)
    assert sorted(Path(f).name for f in res.done) == [f.name for f in files]
    assert [Path(f).name for f, _ in res.failed] == ["crash.wav"]
    assert "worker process died" in res.failed[0][1] and res.exit_code == 1
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.json")) == [f"call{i}.json" for i in range(4)]
    assert not list(out.glob("*.html")) and not list(out.glob("*.png"))
    assert len(rows(out / "summary.csv")) == 4 and len(rows(out / "errors.csv")) == 1
