"""Batch analysis: outputs and their names, when a call is done, resume after an interrupted run,
--force, failures and bad inputs, worker processes and their end with the batch."""

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

from callemo.analyze.batch import analyze_batch
from callemo.analyze.inputs import BatchError, collect_inputs
from callemo.analyze.outputs import rebuild_summary
from callemo.analyze.schema import CallJSON
from callemo.io import save_audio
from helpers.calls import make_call, tm

TESTS = Path(__file__).resolve().parents[1]
PREP = tm.simple_prepare
TURNS = [(0.5, 4.5, "neutral", 0), (5.0, 9.0, "angry", 1), (10.0, 13.0, "neutral", 0)]
FAST = dict(prepare=PREP, progress=False, html=False, plot=False)


def make_calls(folder: Path, n: int, stereo=True, names=None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        a, sr = make_call(TURNS, 14, stereo=stereo, seed=i)
        out.append(save_audio(folder / (names[i] if names else f"call{i}.wav"), a, sr))
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


def test_names_with_dots_keep_the_whole_name_and_resume(tmp_path, model_dir):
    """``call.1.wav`` and ``call.2.wav`` once both wrote ``call.json``: one call was lost and every
    rerun analysed them again."""
    names = ["call.1.wav", "call.2.wav", "call.2024-01-01.wav", "call.2024-01-02.wav"]
    make_calls(tmp_path / "in", 4, names=names)
    out = tmp_path / "out"
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, jobs=2, **FAST)
    assert len(res.done) == 4 and res.exit_code == 0
    stems = [n[: -len(".wav")] for n in names]
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"{s}.json" for s in stems)
    assert sorted(p.name for p in out.glob("*.csv") if p.name.startswith("call")) == sorted(f"{s}.csv" for s in stems)
    for s, n in zip(stems, names):
        assert Path(json.loads((out / f"{s}.json").read_text())["file"]).name == n
    assert sorted(r["output"] for r in rows(out / "summary.csv")) == sorted(stems)
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert len(again.skipped) == 4 and not again.done


def test_output_names_never_collide(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "call.wav").write_bytes(b"0")
    for name in ("x.wav", "x.flac", "summary.wav", "errors.mp3", "Y.wav", "y.WAV", "x_wav.ogg", "notes.txt"):
        (a / name).write_bytes(b"0")
    # a folder argument: paths relative to it, minus the audio extension
    rels = {Path(j.path).relative_to(tmp_path).as_posix(): j.rel for j in collect_inputs([tmp_path]).jobs}
    assert rels["a/call.wav"] == "a/call" and rels["b/call.wav"] == "b/call"
    assert rels["a/x.flac"] == "a/x_flac" and rels["a/summary.wav"] == "a/summary"  # only top-level names reserved
    # file arguments: their names, made unique
    files = [a / "call.wav", b / "call.wav", a / "x.wav", a / "x.flac", a / "x_wav.ogg", a / "summary.wav",
             a / "errors.mp3", a / "Y.wav", a / "y.WAV"]
    got = {Path(j.path).relative_to(tmp_path).as_posix(): j.rel for j in collect_inputs(files).jobs}
    assert len(got) == len(files)
    assert len({r.lower() for r in got.values()}) == len(files)  # unique even on a case-insensitive disk
    assert got["a/summary.wav"] == "summary_wav" and got["a/errors.mp3"] == "errors_mp3"
    assert got["a/x.flac"] == "x_flac"
    assert got["a/call.wav"].startswith("call_wav_") and got["b/call.wav"].startswith("call_wav_")
    assert got["a/x.wav"].startswith("x_wav_") and got["a/x_wav.ogg"].startswith("x_wav_")
    # deterministic: the same names whatever the order of the arguments
    assert {Path(j.path).relative_to(tmp_path).as_posix(): j.rel for j in collect_inputs(files[::-1]).jobs} == got
    assert not collect_inputs(files).problems


def test_rerun_redoes_what_changed(tmp_path, model_dir):
    """Done means: same input (size, mtime), same model, same settings, outputs there."""
    files = make_calls(tmp_path / "in", 3)
    out = tmp_path / "out"
    first = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert len(first.done) == 3 and first.reasons == {"new": 3}
    key = json.loads((out / "call0.json").read_text())["batch"]
    assert key["input"] == {"size": files[0].stat().st_size, "mtime_ns": files[0].stat().st_mtime_ns}
    assert len(key["model"]) == 64 and len(key["settings"]) == 64
    assert len(analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST).skipped) == 3
    # other settings: everything again
    r = analyze_batch([tmp_path / "in"], out, model=model_dir, max_silence=2.0, **FAST)
    assert len(r.done) == 3 and r.reasons == {"settings changed": 3}
    # the recording changed: that call only
    a, sr = make_call(TURNS, 15, stereo=True, seed=7)
    save_audio(files[1], a, sr)
    r = analyze_batch([tmp_path / "in"], out, model=model_dir, max_silence=2.0, **FAST)
    assert [Path(f).name for f in r.done] == ["call1.wav"] and r.reasons == {"input changed": 1}
    assert json.loads((out / "call1.json").read_text())["duration"] == pytest.approx(15.0)
    # another model
    other = tm.saved_model(tmp_path / "other", tm.DimsCentroidModel)
    r = analyze_batch([tmp_path / "in"], out, model=other, max_silence=2.0, **FAST)
    assert len(r.done) == 3 and r.reasons == {"model changed": 3}
    # an output asked for that the earlier run did not write
    r = analyze_batch([tmp_path / "in"], out, model=other, max_silence=2.0, prepare=PREP, progress=False,
                      html=False, plot=False, fmt="parquet")
    assert len(r.done) == 3 and r.reasons == {"outputs missing": 3}
    assert len(list(out.glob("*.parquet"))) == 3


def test_resume_after_interruption_and_force(tmp_path, model_dir):
    files = make_calls(tmp_path / "in", 4)
    out = tmp_path / "out"
    # a first run that only got through two calls ...
    first = analyze_batch(files[:2], out, model=model_dir, **FAST)
    assert len(first.done) == 2
    # ... and was killed while writing the third: a table and a temporary JSON, no final JSON
    (out / "call2.csv").write_text("partial")
    (out / ".tmp-999-ab12cd34-call2.json").write_text('{"trunc')
    mtime = (out / "call0.json").stat().st_mtime_ns
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, **FAST)
    assert sorted(Path(f).name for f in again.skipped) == ["call0.wav", "call1.wav"]
    assert sorted(Path(f).name for f in again.done) == ["call2.wav", "call3.wav"]
    assert (out / "call0.json").stat().st_mtime_ns == mtime  # finished calls untouched
    assert (out / "call2.csv").read_text() != "partial" and not list(out.rglob(".tmp-*"))
    assert len(rows(out / "summary.csv")) == 4
    forced = analyze_batch([tmp_path / "in"], out, force=True, model=model_dir, **FAST)
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


def test_bad_paths_are_one_line_each_in_errors_csv(tmp_path, model_dir):
    """A symlink loop given as an argument once aborted the batch with a traceback; dangling links
    and link loops inside a folder were skipped silently with exit 0."""
    inp = tmp_path / "in"
    make_calls(inp, 1)
    os.symlink("loop.wav", tmp_path / "loop.wav")                 # a link to itself, as an argument
    os.symlink(tmp_path / "nowhere.wav", inp / "gone.wav")         # dangling, inside the folder
    (inp / "sub").mkdir()
    os.symlink("..", inp / "sub" / "up")                           # a folder loop
    os.symlink(inp / "call0.wav", inp / "sub" / "again.wav")       # a second name of a file: analysed once
    out = tmp_path / "out"
    res = analyze_batch([inp, tmp_path / "loop.wav"], out, model=model_dir, **FAST)
    assert [Path(f).name for f in res.done] == ["call0.wav"] and res.exit_code == 1
    errs = {r["file"]: r["error"] for r in rows(out / "errors.csv")}
    assert set(errs) == {str(tmp_path / "loop.wav"), str(inp / "gone.wav"), str(inp / "sub" / "up")}
    assert errs[str(tmp_path / "loop.wav")] == f"{tmp_path / 'loop.wav'}: symbolic link loop"
    assert "dangling symbolic link" in errs[str(inp / "gone.wav")] and "nowhere.wav" in errs[str(inp / "gone.wav")]
    assert "symbolic link loop" in errs[str(inp / "sub" / "up")]
    assert all(k in v and "\n" not in v for k, v in errs.items())


def test_an_unreadable_folder_is_reported(tmp_path, model_dir, monkeypatch):
    inp = tmp_path / "in"
    make_calls(inp / "ok", 1)
    make_calls(inp / "locked", 1)
    locked = str(inp / "locked")
    if os.geteuid() == 0:  # root reads any folder: make this one fail as it would for a user
        real = os.scandir

        def scandir(path="."):
            if os.fspath(path) == locked:
                raise PermissionError(13, "Permission denied", locked)
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        os.chmod(locked, 0)
    try:
        res = analyze_batch([inp], tmp_path / "out", model=model_dir, **FAST)
    finally:
        os.chmod(locked, 0o755)
    assert [Path(f).name for f in res.done] == ["call0.wav"] and res.exit_code == 1
    assert res.failed == [(locked, f"{locked}: cannot read folder (Permission denied); skipped")]
    assert rows(tmp_path / "out" / "errors.csv") == [{"file": locked, "error": res.failed[0][1]}]


def test_an_output_folder_that_cannot_be_written_is_one_error(tmp_path, model_dir):
    make_calls(tmp_path / "in", 1)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BatchError, match=r"/file/out: cannot write to the output folder \(Not a directory\)"):
        analyze_batch([tmp_path / "in"], tmp_path / "file" / "out", model=model_dir, **FAST)


@pytest.mark.parametrize("n_channels", [3, 8])
def test_many_channel_files_without_channels_name_file_and_problem(tmp_path, model_dir, n_channels):
    a, sr = make_call(TURNS, 14, stereo=True)
    x = np.concatenate([a] * 4)[:n_channels]
    f = save_audio(tmp_path / "in" / f"ch{n_channels}.wav", x, sr)
    res = analyze_batch([f], tmp_path / "out", model=model_dir, progress=False, html=False, plot=False)
    assert res.exit_code == 1
    ((file, err),) = res.failed
    assert file == str(f) and err.startswith(f"{f}: ") and f"audio has {n_channels}" in err and "--channels" in err
    assert rows(tmp_path / "out" / "errors.csv") == [{"file": str(f), "error": err}]


def test_collect_inputs_disambiguates_names(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("x.wav", "x.flac", "y.mp3", ".hidden.wav"):
        (tmp_path / "a" / name).write_bytes(b"0")
    jobs = collect_inputs([tmp_path / "a", tmp_path / "a" / "y.mp3"]).jobs
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


# -- stopping the batch ------------------------------------------------------------------------
def _start_batch(tmp_path: Path, model_dir: Path, n: int, jobs: int, delay: float) -> tuple[subprocess.Popen, Path]:
    make_calls(tmp_path / "in", n)
    out = tmp_path / "out"
    script = f"""
import sys
from helpers.calls import slow_prepare
from callemo.analyze.batch import analyze_batch
r = analyze_batch([{str(tmp_path / 'in')!r}], {str(out)!r}, model={str(model_dir)!r}, prepare=slow_prepare,
                  jobs={jobs}, progress=False, html=False, plot=False)
sys.exit(r.exit_code)
"""
    env = dict(os.environ, CALLEMO_TEST_PREPARE_DELAY=str(delay),
               PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p))
    # Ctrl-C as in a terminal: a shell's background job (CI run with `&`) starts with SIGINT ignored
    return subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)), out


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process from /proc, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return (state, int(ppid)) if state not in ("Z", "X") else None


def _descendants(pid: int) -> set[int]:
    procs = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _proc_stat(int(d.name))):
            procs[int(d.name)] = st[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in procs.items() if pp in frontier} - found
        found |= frontier
    return found


def _wait_for_first_result(p: subprocess.Popen, out: Path, workers: int) -> set[int]:
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        kids = _descendants(p.pid)
        if len(kids) >= workers and list(out.glob("call*.json")):
            return kids
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"the batch did not start its workers: {p.communicate()[1]}")


def _survivors(pids: set[int], within: float) -> set[int]:
    deadline = time.time() + within
    while time.time() < deadline:
        alive = {pid for pid in pids if _proc_stat(pid)}
        if not alive:
            return set()
        time.sleep(0.05)
    return alive


def test_ctrl_c_keeps_finished_calls_and_rerun_resumes(tmp_path, model_dir, monkeypatch):
    from helpers.calls import slow_prepare

    p, out = _start_batch(tmp_path, model_dir, 8, jobs=1, delay=0.3)
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
    monkeypatch.setenv("CALLEMO_TEST_PREPARE_DELAY", "0")
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, prepare=slow_prepare, progress=False, html=False,
                        plot=False)
    assert len(res.skipped) == len(done) and len(res.done) == 8 - len(done)
    assert len(rows(out / "summary.csv")) == 8


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_sigterm_stops_the_batch_like_ctrl_c_and_its_workers_with_it(tmp_path, model_dir):
    """SIGTERM (``timeout``, ``kill``) once killed the parent alone: its workers finished the queue
    and lived on under PID 1."""
    p, out = _start_batch(tmp_path, model_dir, 10, jobs=2, delay=2.0)
    workers = _wait_for_first_result(p, out, 2)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "interrupted" in err and "Traceback" not in err
    assert _survivors(workers, within=10) == set()
    done = sorted(out.glob("call*.json"))
    assert 1 <= len(done) < 10
    for f in done:
        CallJSON.model_validate(json.loads(f.read_text()))
    assert len(rows(out / "summary.csv")) == len(done) and not list(out.rglob(".tmp-*"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_workers_die_when_the_batch_is_killed(tmp_path, model_dir):
    """SIGKILL (or the out-of-memory killer) of the parent leaves no worker behind."""
    p, out = _start_batch(tmp_path, model_dir, 10, jobs=2, delay=2.0)
    workers = _wait_for_first_result(p, out, 2)
    p.kill()
    p.communicate(timeout=30)
    assert _survivors(workers, within=10) == set()
