"""Load test of the callemo service: N parallel uploads and M parallel live streams against a
service this script starts itself on 127.0.0.1 (a free port), with bounded counts and time.

It reports throughput, latency percentiles and whether anything was lost:

* every upload is answered 202, analysed (status ``done``) and stored with its full duration,
  its segments in the database and its report;
* every stream gets its events, ends with a summary and is stored with the full duration sent.

::

    python benchmarks/service_load.py                       # 50 uploads + 4 streams, the shipped model
    python benchmarks/service_load.py --uploads 10 --streams 2 --upload-seconds 20 --json out.json

Traffic goes only to the service it starts (127.0.0.1); the server's storage is a temporary
folder removed at the end. Exit status 1 when something was lost or the time ran out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "call.wav"
EXAMPLE_TRUTH = ROOT / "examples" / "call_truth.csv"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    a = np.asarray(values, float)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3)}


def make_audio(seconds: float, work: Path, name: str) -> tuple[Path, np.ndarray, int]:
    """The example call cut to ``seconds`` (as a WAV to upload) and as a stereo stream (agent on
    channel 0, client on channel 1, from the example's truth turns)."""
    import pandas as pd

    from callemo.io import load_audio, save_audio

    x, sr = load_audio(EXAMPLE)
    n = min(len(x), int(seconds * sr))
    upload = Path(save_audio(work / name, x[:n], sr))
    st = np.zeros((2, n), np.float32)
    for r in pd.read_csv(EXAMPLE_TRUTH).itertuples():
        i0, i1 = int(r.start * sr), min(int(r.end * sr), n)
        if i0 < n:
            st[0 if r.role == "agent" else 1, i0:i1] = x[i0:i1]
    return upload, st, sr


class Server:
    """``callemo serve`` in a subprocess on 127.0.0.1 with a temporary database and storage."""

    def __init__(self, work: Path, model: str | None, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "callemo", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--db", f"sqlite:///{work / 'load.db'}", "--storage", str(work / "storage"), "--log-level", "warning"]
        if model:
            cmd += ["--model", model]
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=work)

    def wait_ready(self, timeout: float) -> None:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode} (log: {self.log.name})")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not start within {timeout:.0f} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def run_uploads(url: str, path: Path, n: int, deadline: float) -> dict[str, Any]:
    import httpx

    data = path.read_bytes()
    post_lat: list[float] = []
    done_lat: list[float] = []
    problems: list[str] = []
    # idle connections are dropped before uvicorn's 5 s keep-alive closes them (else a poll may
    # race the server's close and fail with a read error)
    limits = httpx.Limits(max_connections=n + 8, keepalive_expiry=1.0)
    retries = 0
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def get(path: str) -> httpx.Response:
            nonlocal retries
            for attempt in range(3):
                try:
                    return await client.get(path)
                except httpx.TransportError:
                    if attempt == 2:
                        raise
                    retries += 1
                    await asyncio.sleep(0.2)
            raise AssertionError("unreachable")

        async def one(i: int) -> dict[str, Any] | None:
            t0 = time.monotonic()
            r = await client.post(f"/api/calls?filename=load-{i:03d}.wav&channels=mono",
                                  content=data, headers={"content-type": "audio/wav"})
            post_lat.append(time.monotonic() - t0)
            if r.status_code != 202:
                problems.append(f"upload {i}: HTTP {r.status_code} {r.text[:200]}")
                return None
            cid = r.json()["id"]
            while time.monotonic() < deadline:
                c = (await get(f"/api/calls/{cid}")).json()
                if c["status"] in ("done", "failed"):
                    done_lat.append(time.monotonic() - t0)
                    return c
                await asyncio.sleep(0.5)
            problems.append(f"upload {i}: not analysed before the time limit")
            return None

        t0 = time.monotonic()
        calls = await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.monotonic() - t0
        ok = 0
        for i, c in enumerate(calls):
            if c is None:
                continue
            if c["status"] != "done":
                problems.append(f"upload {i}: {c['status']} ({c.get('error')})")
                continue
            res = c["result"] or {}
            segs = (await get(f"/api/calls/{c['id']}/segments")).json()
            report = await get(f"/api/calls/{c['id']}/report")
            if abs((res.get("duration") or 0) - c["duration"]) > 0.01 or not segs or report.status_code != 200 \
                    or len(segs) != len(res.get("segments") or []):
                problems.append(f"upload {i}: incomplete result (duration {res.get('duration')}, {len(segs)} segments, "
                                f"report {report.status_code})")
                continue
            ok += 1
    return {"sent": n, "analysed_and_stored": ok, "wall_s": round(wall, 2), "post_latency_s": percentiles(post_lat),
            "time_to_done_s": percentiles(done_lat), "get_retries": retries, "problems": problems}


async def run_streams(url: str, st: np.ndarray, sr: int, m: int, realtime: bool, deadline: float) -> dict[str, Any]:
    import httpx
    from websockets.asyncio.client import connect

    pcm = (np.clip(st.T, -1, 1) * 32767).astype("<i2").tobytes()
    duration = st.shape[1] / sr
    step = int(0.1 * sr) * 4  # 100 ms of 2 x int16
    lags: list[float] = []
    problems: list[str] = []

    async def one(i: int) -> str | None:
        async with connect(url.replace("http", "ws") + "/api/stream", max_size=2**24) as ws:
            await ws.send(json.dumps({"sample_rate": sr, "channels": ["agent", "client"], "store": True,
                                      "name": f"stream-{i:02d}"}))
            ready = json.loads(await ws.recv())
            if ready["type"] != "ready":
                problems.append(f"stream {i}: {ready}")
                return None
            t0 = time.monotonic()
            events: list[dict[str, Any]] = []

            async def reader() -> None:
                async for msg in ws:
                    ev = json.loads(msg)
                    if ev["type"] == "segment" and realtime:
                        lags.append(time.monotonic() - t0 - ev["end"])
                    events.append(ev)
                    if ev["type"] == "stored":
                        return

            task = asyncio.create_task(reader())
            for k in range(0, len(pcm), step):
                await ws.send(pcm[k:k + step])
                if realtime:
                    await asyncio.sleep(max(0.0, t0 + (k + step) / (4 * sr) - time.monotonic()))
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(task, timeout=max(1.0, deadline - time.monotonic()))
            summary = next((e for e in events if e["type"] == "summary"), None)
            stored = next((e for e in events if e["type"] == "stored"), None)
            if summary is None or stored is None:
                problems.append(f"stream {i}: no summary or not stored")
                return None
            return str(stored["id"])

    t0 = time.monotonic()
    ids = await asyncio.gather(*(one(i) for i in range(m)), return_exceptions=True)
    wall = time.monotonic() - t0
    ok = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i, cid in enumerate(ids):
            if isinstance(cid, BaseException):
                problems.append(f"stream {i}: {type(cid).__name__}: {cid}")
                continue
            if cid is None:
                continue
            c = (await client.get(f"/api/calls/{cid}")).json()
            if c["status"] != "done" or abs((c["duration"] or 0) - duration) > 0.01 or not c["result"]["segments"]:
                problems.append(f"stream {i}: stored {c['duration']} s of {duration:.3f} s")
                continue
            ok += 1
    return {"sent": m, "stored_full_duration": ok, "seconds_each": round(duration, 3), "wall_s": round(wall, 2),
            "segment_lag_s": percentiles(lags) if realtime else None, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uploads", type=int, default=50, help="parallel uploads (1-500)")
    ap.add_argument("--streams", type=int, default=4, help="parallel live streams (0-50)")
    ap.add_argument("--upload-seconds", type=float, default=30.0, help="length of each uploaded call (<= 59 s)")
    ap.add_argument("--stream-seconds", type=float, default=30.0, help="length of each stream (<= 59 s)")
    ap.add_argument("--fast-streams", action="store_true", help="send stream audio as fast as possible "
                                                                 "(default: real time, which measures event lag)")
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="give up after this many seconds (<= 3600)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if not (1 <= args.uploads <= 500 and 0 <= args.streams <= 50 and 0 < args.timeout <= 3600):
        ap.error("--uploads 1-500, --streams 0-50, --timeout up to 3600 s")
    work = Path(tempfile.mkdtemp(prefix="callemo-load-"))
    server = None
    try:
        upload, _, _ = make_audio(min(args.upload_seconds, 59.0), work, "upload.wav")
        _, st, sr = make_audio(min(args.stream_seconds, 59.0), work, "stream.wav")
        server = Server(work, args.model, work / "server.log")
        t_start = time.monotonic()
        server.wait_ready(120)
        deadline = time.monotonic() + args.timeout

        async def both() -> tuple[dict[str, Any], dict[str, Any]]:
            u = run_uploads(server.url, upload, args.uploads, deadline)
            s = run_streams(server.url, st, sr, args.streams, not args.fast_streams, deadline)
            return await asyncio.gather(u, s)

        t0 = time.monotonic()
        uploads, streams = asyncio.run(both())
        wall = time.monotonic() - t0
        import soundfile as sf

        up_sec = sf.info(str(upload)).duration
        lost = (uploads["sent"] - uploads["analysed_and_stored"]) + (streams["sent"] - streams["stored_full_duration"])
        done, up_wall = uploads["analysed_and_stored"], max(uploads["wall_s"], 1e-9)
        figures = {
            "command": " ".join(["python", "benchmarks/service_load.py", *(sys.argv[1:] if argv is None else argv)]),
            "cpu_count": os.cpu_count(), "startup_s": round(t0 - t_start, 2), "wall_s": round(wall, 2),
            "upload_seconds": round(up_sec, 3),
            "throughput": {"calls_per_min": round(60 * done / up_wall, 2),
                           "audio_min_per_min": round(done * up_sec / up_wall, 2)},
            "uploads": uploads, "streams": streams, "lost": lost,
        }
    finally:
        if server is not None:
            server.stop()
            log = (work / "server.log").read_text(errors="replace")
            if log.strip():
                print("--- server log (last 3000 characters) ---\n" + log[-3000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print(f"\n{uploads['analysed_and_stored']}/{uploads['sent']} uploads analysed and stored, "
          f"{streams['stored_full_duration']}/{streams['sent']} streams stored with their full duration; "
          f"lost: {lost}", file=sys.stderr)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
