"""Helpers of the service tests: a tiny real model, and calls made from the example recording."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from callemo.models.base import EmotionModel, register_model

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = ROOT / "examples" / "call.wav"
EXAMPLE_TRUTH = ROOT / "examples" / "call_truth.csv"


def level(x: np.ndarray) -> float:
    return float(np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2) + 1e-10)))


@register_model("test_service_level")
class LevelModel(EmotionModel):
    """Nearest class centroid of the log RMS level (a real, if tiny, model: fit / save / load)."""

    sample_rate = 8000
    min_duration = 0.5

    def fit(self, signals, y, speakers=None, **kw):
        e = np.array([level(s) for s in signals])
        self.labels = sorted(set(y))
        self.centroids = np.array([e[np.array(y) == lab].mean() for lab in self.labels])
        return self

    def predict_proba(self, signals, speakers=None):
        e = np.array([level(s) for s in signals])
        d = np.abs(e[:, None] - self.centroids[None, :])
        z = np.exp(-(d - d.min(axis=1, keepdims=True)) / 0.1)
        return z / z.sum(axis=1, keepdims=True)

    def _save(self, directory):
        (Path(directory) / "centroids.json").write_text(json.dumps(self.centroids.tolist()))
        return {}

    @classmethod
    def _load(cls, directory, card):
        m = cls(card.get("config"))
        m.centroids = np.array(json.loads((Path(directory) / "centroids.json").read_text()))
        return m


def _speech():
    from callemo.io import load_audio

    return load_audio(EXAMPLE)


def turns():
    import pandas as pd

    t = pd.read_csv(EXAMPLE_TRUTH)
    return [(float(r.start), float(r.end), str(r.role)) for r in t.itertuples()]


def train_model(kind: str = "neutral") -> LevelModel:
    """``neutral``: speech at the example's level is neutral, much louder speech angry, quiet sad.
    ``angry``: speech at the example's level is angry (and near-silence neutral)."""
    x, sr = _speech()
    pieces = [x[int(s * sr):int(e * sr)] for s, e, _ in turns()]
    if kind == "angry":
        sigs = pieces + [p * 0.01 for p in pieces]
        y = ["angry"] * len(pieces) + ["neutral"] * len(pieces)
    else:
        sigs = pieces + [np.clip(p * 8, -1, 1) for p in pieces] + [p * 0.05 for p in pieces]
        y = ["neutral"] * len(pieces) + ["angry"] * len(pieces) + ["sad"] * len(pieces)
    return LevelModel().fit(sigs, y)


def saved_model(directory, kind: str = "neutral") -> Path:
    m = train_model(kind)
    m.sample_rate = 8000
    m.save(directory)
    return Path(directory)


def stereo_call(seed: int = 0):
    """The example call with the agent on channel 0 and the client on channel 1: ``(audio, sr)``."""
    x, sr = _speech()
    rng = np.random.default_rng(seed)
    st = (3e-4 * rng.standard_normal((2, len(x)))).astype(np.float32)
    for s, e, role in turns():
        i0, i1 = int(s * sr), int(e * sr)
        st[0 if role == "agent" else 1, i0:i1] = x[i0:i1]
    return st, sr


def stereo_file(path) -> Path:
    from callemo.io import save_audio

    st, sr = stereo_call()
    return Path(save_audio(path, st, sr))


def pcm_bytes(audio: np.ndarray) -> bytes:
    """``(channels, n)`` or ``(n,)`` float audio as interleaved little-endian int16 bytes."""
    a = np.atleast_2d(audio)
    return (np.clip(a.T, -1, 1) * 32767).astype("<i2").tobytes()


class LiveServer:
    """A real uvicorn server for ``app`` on 127.0.0.1 (a free port picked by the OS), in a thread:
    ``with LiveServer(app) as srv: srv.url`` (traffic only to the service the test starts itself)."""

    def __init__(self, app, **config):
        self.app, self.config = app, config

    def __enter__(self) -> LiveServer:
        import socket
        import threading
        import time

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        cfg = uvicorn.Config(self.app, **{"log_level": "warning", **self.config})
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if time.monotonic() - t0 > 30 or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def local_client(app, **kw):
    """FastAPI's TestClient addressed as http://127.0.0.1 and ws://127.0.0.1 (the service answers
    only to its allowed hosts, by default localhost / 127.0.0.1 / ::1)."""
    from fastapi.testclient import TestClient

    class LocalClient(TestClient):
        def websocket_connect(self, url, *args, **kwargs):
            return super().websocket_connect("ws://127.0.0.1" + url if url.startswith("/") else url, *args, **kwargs)

    return LocalClient(app, base_url="http://127.0.0.1", **kw)


def wait_done(client, call_id, timeout=90.0, **kw):
    """The call's record once it is analysed (or failed); ``kw`` go to each GET (e.g. headers)."""
    t0 = time.monotonic()
    c = None
    while time.monotonic() - t0 < timeout:
        c = client.get(f"/api/calls/{call_id}", **kw).json()
        if c["status"] in ("done", "failed"):
            return c
        time.sleep(0.2)
    raise AssertionError(f"call {call_id} not analysed within {timeout} s: {c}")
