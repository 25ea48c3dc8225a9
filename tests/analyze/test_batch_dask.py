"""Batches on a Dask cluster (``analyze_batch(..., scheduler=...)``): the same outputs as the local
pool, the model loaded once per worker, a worker killed mid-batch, resume, bad scheduler addresses."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from callemo.analyze import cluster  # noqa: E402
from callemo.analyze.batch import analyze_batch  # noqa: E402
from callemo.analyze.inputs import BatchError  # noqa: E402
from callemo.analyze.worker import model_loads  # noqa: E402
from callemo.io import save_audio  # noqa: E402
from helpers.calls import make_call, slow_prepare, tm  # noqa: E402

TURNS = [(0.5, 4.5, "neutral", 0), (5.0, 9.0, "angry", 1), (10.0, 13.0, "neutral", 0)]
FAST = dict(prepare=tm.simple_prepare, progress=False, html=False, plot=False, dataset=False)


def make_calls(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        a, sr = make_call(TURNS, 14, stereo=True, seed=i)
        out.append(save_audio(folder / f"call{i}.wav", a, sr))
    return out


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tm.saved_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def dask_cluster():
    """A scheduler and two single-thread worker processes, as `dask scheduler` + `dask worker
    --nthreads 1` would run them; the batch connects to it by its tcp:// address. The workers'
    slow_prepare (used by the kill test) waits 1 s per call."""
    old = os.environ.get("CALLEMO_TEST_PREPARE_DELAY")
    os.environ["CALLEMO_TEST_PREPARE_DELAY"] = "1.0"  # the worker processes inherit it at start
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # docs/scale.md
                              "distributed.worker.profile.enabled": False}):
            lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                          silence_logs=50)
    finally:
        if old is None:
            os.environ.pop("CALLEMO_TEST_PREPARE_DELAY")
        else:
            os.environ["CALLEMO_TEST_PREPARE_DELAY"] = old
    client = distributed.Client(lc, set_as_default=False)
    yield lc, client
    client.close()
    lc.close()


def _docs(out: Path) -> dict[str, dict]:
    docs = {}
    for f in sorted(out.rglob("*.json")):
        d = json.loads(f.read_text())
        docs[f.relative_to(out).as_posix()] = d
    return docs


def test_cluster_gives_the_same_outputs_as_the_local_pool_and_loads_the_model_once_per_worker(
        tmp_path, model_dir, dask_cluster):
    lc, client = dask_cluster
    make_calls(tmp_path / "in", 3)
    kw = dict(FAST, html=True, plot=True)
    local = analyze_batch([tmp_path / "in"], tmp_path / "local", model=model_dir, **kw)
    dask = analyze_batch([tmp_path / "in"], tmp_path / "dask", model=model_dir, scheduler=lc.scheduler_address, **kw)
    assert local.exit_code == dask.exit_code == 0 and sorted(local.done) == sorted(dask.done)
    assert len(dask.done) == 3 and dask.audio_seconds == pytest.approx(local.audio_seconds)

    def files(d: Path) -> list[str]:
        return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())

    assert files(tmp_path / "local") == files(tmp_path / "dask")
    assert "call0.html" in files(tmp_path / "dask") and "call0.png" in files(tmp_path / "dask")
    a, b = _docs(tmp_path / "local"), _docs(tmp_path / "dask")
    assert list(a) == list(b) == [f"call{i}.json" for i in range(3)]
    for name in a:
        for part in ("file", "duration", "segments", "summary", "curves", "batch", "outputs"):
            assert a[name][part] == b[name][part], (name, part)
    def summary(d: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "analyze_seconds"} for r in rows(tmp_path / d / "summary.csv")]

    assert summary("local") == summary("dask") and len(summary("dask")) == 3
    for stem in ("call0", "call1"):
        assert (tmp_path / "local" / f"{stem}.csv").read_text() == (tmp_path / "dask" / f"{stem}.csv").read_text()
    # a second batch on the same workers: still one model load per worker, not one per call
    analyze_batch([tmp_path / "in"], tmp_path / "dask2", model=model_dir, scheduler=lc.scheduler_address, **FAST)
    loads = client.run(model_loads)
    assert set(loads.values()) <= {0, 1} and sum(loads.values()) >= 1, loads


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path, model_dir, dask_cluster):
    lc, client = dask_cluster
    files = make_calls(tmp_path / "in", 6)
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    killed: dict = {}

    def kill_a_busy_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("call*.json")):
            time.sleep(0.05)
        while time.time() < deadline:  # a worker with a call running
            busy = {w: ks for w, ks in client.processing().items() if ks}
            if busy:
                w, keys = next(iter(busy.items()))
                killed.update(worker=w, keys=list(keys))
                os.kill(pids[w], signal.SIGKILL)  # as the out-of-memory killer would
                return
            time.sleep(0.05)

    t = threading.Thread(target=kill_a_busy_worker)
    t.start()
    res = analyze_batch([tmp_path / "in"], out, model=model_dir, scheduler=lc.scheduler_address,
                        **dict(FAST, prepare=slow_prepare))
    t.join()
    assert killed, "no worker was busy: the test killed nothing"
    assert res.exit_code == 0 and not res.failed
    assert sorted(res.done) == sorted(map(str, files))  # every call once
    summary = rows(out / "summary.csv")
    assert sorted(r["output"] for r in summary) == [f"call{i}" for i in range(6)]
    assert rows(out / "errors.csv") == []
    assert sorted(p.name for p in out.glob("*.json")) == [f"call{i}.json" for i in range(6)]
    assert not list(out.rglob(".tmp-*"))
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


def test_resume_on_the_cluster_skips_what_is_done(tmp_path, model_dir, dask_cluster):
    lc, _ = dask_cluster
    make_calls(tmp_path / "in", 3)
    out = tmp_path / "out"
    first = analyze_batch([tmp_path / "in"], out, model=model_dir, scheduler=lc.scheduler_address, **FAST)
    assert len(first.done) == 3
    (out / "call1.json").unlink()  # as if the batch had stopped before call1 finished
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, scheduler=lc.scheduler_address, **FAST)
    assert [Path(f).name for f in again.done] == ["call1.wav"] and len(again.skipped) == 2
    assert again.reasons == {"new": 1} and again.exit_code == 0
    assert [r["output"] for r in rows(out / "summary.csv")] == ["call0", "call1", "call2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("bad", ["tcp//127.0.0.1:8786", "local:0", "http://127.0.0.1:8786", "somewhere"])
def test_a_malformed_scheduler_is_one_clear_error_before_anything_runs(tmp_path, model_dir, bad):
    make_calls(tmp_path / "in", 1)
    with pytest.raises(BatchError, match=r"not a Dask scheduler address|at least one worker") as e:
        analyze_batch([tmp_path / "in"], tmp_path / "out", model=model_dir, scheduler=bad, **FAST)
    assert bad in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path, model_dir, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2.0)
    make_calls(tmp_path / "in", 1)
    addr = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler") as e:
        analyze_batch([tmp_path / "in"], tmp_path / "out", model=model_dir, scheduler=addr, **FAST)
    assert str(e.value).startswith(f"--scheduler {addr}: ") and "\n" not in str(e.value)


def test_cli_bad_scheduler_exits_2_with_one_line(tmp_path, model_dir):
    from typer.testing import CliRunner

    from callemo.cli import _load_commands, app

    _load_commands()
    make_calls(tmp_path / "in", 1)
    r = CliRunner().invoke(app, ["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model",
                                 str(model_dir), "--scheduler", "nowhere", "-q"])
    assert r.exit_code == 2
    assert "error:" in r.output and "'nowhere': not a Dask scheduler address" in r.output
    assert "Traceback" not in r.output


def test_ctrl_c_stops_a_local_cluster_batch_cleanly_and_a_rerun_resumes(tmp_path, model_dir, monkeypatch):
    """--scheduler local:2, Ctrl-C once a call is finished: exit 130, finished calls kept, the
    cluster's worker processes gone with the batch; a rerun does only the rest."""
    import subprocess
    import sys

    import psutil

    make_calls(tmp_path / "in", 8)
    out = tmp_path / "out"
    script = f"""
import sys
from helpers.calls import slow_prepare
from callemo.analyze.batch import analyze_batch
if __name__ == "__main__":
    r = analyze_batch([{str(tmp_path / 'in')!r}], {str(out)!r}, model={str(model_dir)!r}, prepare=slow_prepare,
                      scheduler="local:2", progress=False, html=False, plot=False, dataset=False)
    sys.exit(r.exit_code)
"""
    (tmp_path / "run.py").write_text(script)
    tests = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, CALLEMO_TEST_PREPARE_DELAY="1.5",
               PYTHONPATH=os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p))
    # Ctrl-C as in a terminal: a shell's background job (CI run with `&`) starts with SIGINT ignored
    p = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 180
    while time.time() < deadline and p.poll() is None and not list(out.glob("call*.json")):
        time.sleep(0.1)
    assert p.poll() is None, p.communicate()[1]
    kids = psutil.Process(p.pid).children(recursive=True)
    assert len([k for k in kids if "spawn" in " ".join(k.cmdline())]) >= 2
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    _, alive = psutil.wait_procs(kids, timeout=30)
    assert not alive, alive
    done = sorted(f.name for f in out.glob("call*.json"))
    assert 1 <= len(done) < 8
    assert len(rows(out / "summary.csv")) == len(done) and rows(out / "errors.csv") == []
    monkeypatch.setenv("CALLEMO_TEST_PREPARE_DELAY", "0")
    again = analyze_batch([tmp_path / "in"], out, model=model_dir, **dict(FAST, prepare=slow_prepare))
    assert len(again.skipped) == len(done) and len(again.done) == 8 - len(done)


def test_analyze_remote_gives_the_calls_document_for_the_service(tmp_path, model_dir, dask_cluster):
    """What ``callemo serve --scheduler`` uses: one call on the cluster, its JSON document back (and
    its outputs written by the worker when asked)."""
    from callemo.analyze.pipeline import analyze_file
    from callemo.errors import CallemoError

    lc, _ = dask_cluster
    (f,) = make_calls(tmp_path / "in", 1)
    client = cluster.cluster_client(lc.scheduler_address)
    try:
        opts = {"channels": "agent,client"}
        doc = cluster.analyze_remote(client, f, opts, str(model_dir), file="upload.wav").result(timeout=120)
        here = analyze_file(f, model=str(model_dir), options=None, file="upload.wav", channels="agent,client")
        assert doc["file"] == "upload.wav" and doc["segments"] == here.to_dict()["segments"]
        assert doc["summary"] == here.to_dict()["summary"]
        written = cluster.analyze_remote(client, f, opts, str(model_dir), out_dir=tmp_path / "res", rel="c1",
                                         write_kw={"html": False, "plot": False, "dataset": False}).result(timeout=120)
        assert written == json.loads((tmp_path / "res" / "c1.json").read_text())
        assert written["segments"] == doc["segments"] and (tmp_path / "res" / "c1.csv").is_file()
        with pytest.raises(CallemoError, match=r"missing\.wav"):  # the worker's error, as it was raised
            cluster.analyze_remote(client, tmp_path / "missing.wav", None, str(model_dir)).result(timeout=120)
    finally:
        client.close()
