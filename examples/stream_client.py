"""Stream a recording to a running ``callemo serve`` as if it were a live call, and print the events.

    callemo serve --port 8000 &
    python examples/stream_client.py examples/call.wav --url ws://127.0.0.1:8000/api/stream
    python examples/stream_client.py stereo_call.wav --channels agent,client --realtime

Needs the ``websockets`` package (``pip install websockets``) for the connection; the protocol
itself is plain: one JSON configuration message, then binary frames of little-endian 16-bit PCM
(interleaved when stereo), then ``{"type": "end"}``; the server answers with JSON events
(``ready``, ``segment``, ``alert``, ``summary``, ``stored``, ``error``). See docs/service.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def pcm_chunks(path: str, sample_rate: int, channels: int, chunk_seconds: float = 0.1) -> Iterator[bytes]:
    """The file as 16-bit PCM chunks at ``sample_rate`` with ``channels`` channels (interleaved)."""
    from callemo.io import load_audio

    x, _ = load_audio(path, sample_rate, mono=(channels == 1))
    x = np.atleast_2d(x)  # (channels, n)
    if x.shape[0] != channels:
        raise SystemExit(f"{path} has {x.shape[0]} channel(s), --channels names {channels}")
    pcm = (np.clip(x.T, -1, 1) * 32767).astype("<i2")  # (n, channels), interleaved row by row
    step = max(1, int(chunk_seconds * sample_rate))
    for i in range(0, len(pcm), step):
        yield pcm[i:i + step].tobytes()


def run_stream(send: Callable[[Any], None], recv: Callable[[], str], path: str, *, sample_rate: int = 16000,
               channels: list[str] | None = None, realtime: bool = False, chunk_seconds: float = 0.1,
               alerts: dict | None = None, store: bool = False,
               on_event: Callable[[dict], None] | None = None, timeout: float = 600.0) -> list[dict]:
    """Drive one stream over any connection with ``send(str | bytes)`` and ``recv() -> str``.

    Events are read by a second thread while the audio is sent, so each one is seen (and passed to
    ``on_event``) as soon as the server sends it. Returns every event received, in order.
    """
    import threading

    channels = channels or ["client"]
    cfg: dict[str, Any] = {"sample_rate": sample_rate, "channels": channels, "store": store,
                           "name": Path(path).name}
    if alerts:
        cfg["alerts"] = alerts
    send(json.dumps(cfg))
    events = [json.loads(recv())]
    if on_event:
        on_event(events[0])
    if events[0]["type"] == "error":
        raise SystemExit(f"server refused the stream: {events[0]['message']}")

    def reader() -> None:
        while True:
            ev = json.loads(recv())
            events.append(ev)
            if on_event:
                on_event(ev)
            if ev["type"] == "stored" or (ev["type"] == "summary" and not store) or ev["type"] == "error":
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t0 = time.monotonic()
    sent = 0.0
    for chunk in pcm_chunks(path, sample_rate, len(channels), chunk_seconds):
        if not t.is_alive():  # the server stopped the stream (an error event)
            break
        send(chunk)
        sent += len(chunk) / (2 * len(channels) * sample_rate)
        if realtime:
            time.sleep(max(0.0, sent - (time.monotonic() - t0)))
    if t.is_alive():
        send(json.dumps({"type": "end"}))
    t.join(timeout)
    return events


def show(ev: dict) -> None:
    if ev["type"] == "segment":
        v = "  -  " if ev["valence"] is None else f"{ev['valence']:+.2f}"
        print(f"{ev['start']:7.2f}-{ev['end']:7.2f}  {ev['role']:<7} {ev['emotion']:<10} {ev['confidence']:.2f}  "
              f"valence {v}")
    elif ev["type"] == "alert":
        print(f"ALERT {ev['time']:7.2f}  {ev['message']}")
    elif ev["type"] == "summary":
        s = ev["summary"]
        print(f"summary: {ev['duration']:.1f} s, {ev['n_segments']} segments, {ev['n_alerts']} alerts, "
              f"client trend {s['client_trend']['direction']}, needs review: {s['needs_review']} "
              f"{'; '.join(s['review_reasons'])}")
    else:
        print(json.dumps(ev))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("audio", help="a recording to stream (any format callemo reads)")
    ap.add_argument("--url", default="ws://127.0.0.1:8000/api/stream")
    ap.add_argument("--sample-rate", type=int, default=16000, choices=[8000, 16000])
    ap.add_argument("--channels", default="client",
                    help="channel names in order: 'client', or 'agent,client' for stereo")
    ap.add_argument("--realtime", action="store_true", help="send at the pace of a live call")
    ap.add_argument("--threshold", type=float, default=None, help="alert when the smoothed valence drops below this")
    ap.add_argument("--store", action="store_true", help="keep the call in the service's database")
    ap.add_argument("--token", default=os.environ.get("CALLEMO_API_TOKEN"),
                    help="the service's API token (callemo serve --token; default $CALLEMO_API_TOKEN)")
    a = ap.parse_args(argv)
    try:
        from websockets.sync.client import connect
    except ImportError:
        print("this client needs the 'websockets' package: pip install websockets", file=sys.stderr)
        return 2
    alerts = {"valence_threshold": a.threshold} if a.threshold is not None else None
    headers = {"Authorization": f"Bearer {a.token}"} if a.token else None
    with connect(a.url, max_size=None, additional_headers=headers) as ws:
        events = run_stream(ws.send, ws.recv, a.audio, sample_rate=a.sample_rate,
                            channels=[c.strip() for c in a.channels.split(",")], realtime=a.realtime,
                            alerts=alerts, store=a.store, on_event=show)
    return 0 if events and events[-1]["type"] != "error" else 1


if __name__ == "__main__":
    sys.exit(main())
