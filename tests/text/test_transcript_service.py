"""Transcripts in the service: an upload with ``transcribe`` gets redacted text in its JSON, its stored
segments and its report, ``redact_audio`` mutes the stored recording; a live stream with
``transcribe`` sends a redacted ``transcript`` event after each turn."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callemo.text.redact import TAGS
from helpers import tinymodel as tm

DATA = Path(__file__).resolve().parent / "data"
#: what data/pii.wav says that must never come back (see test_redact.py)
SECRETS = [r"1111", r"4111", r"7946", r"0958", r"02079", r"smith", r"gmail", r"(?:one[ ,.-]*){4}"]


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if re.search(s, text, re.IGNORECASE)]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from callemo.service.app import create_app

    d = tmp_path_factory.mktemp("svc")
    model = tm.saved_model(d / "model")
    app = create_app(f"sqlite:///{d / 'db.sqlite'}", d / "storage", model, max_upload_mb=5)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def wait_done(client, call_id: str, timeout: float = 600.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c = client.get(f"/api/calls/{call_id}").json()
        if c["status"] in ("done", "failed"):
            return c
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} not analysed within {timeout} s")


def test_upload_with_transcript_redacted_and_muted(service):
    original, sr = sf.read(str(DATA / "pii.wav"), dtype="float32")
    with open(DATA / "pii.wav", "rb") as f:
        r = service.post("/api/calls", files={"file": ("pii.wav", f, "audio/wav")},
                         data={"transcribe": "en", "asr": "base", "redact_audio": "true", "speakers": "1",
                               "first_speaker": "client"})
    assert r.status_code == 202, r.text
    assert r.json()["options"]["transcribe"] == "en" and r.json()["options"]["redact"] is True
    call = wait_done(service, r.json()["id"])
    assert call["status"] == "done", call.get("error")
    doc = call["result"]
    text = " ".join(s["text"] for s in doc["segments"])
    assert "[EMAIL]" in text and "[PHONE]" in text and doc["summary"]["transcript"]["redacted"], text
    segments = service.get(f"/api/calls/{call['id']}/segments").json()
    report = service.get(f"/api/calls/{call['id']}/report").text
    page = re.sub(r'data:[a-z]+/[a-z]+;base64,[^"]+', "", report)
    assert "[EMAIL]" in page and 'id="transcript-search"' in page  # the dashboard's call page shows the text
    for name, content in (("json", str(doc)), ("segments", str(segments)), ("report", page)):
        assert not leaks(content), (name, leaks(content))
    # the stored recording is muted where the redacted words were said, and untouched elsewhere
    stored, sr2 = sf.read(io.BytesIO(service.get(f"/api/calls/{call['id']}/audio").content), dtype="float32")
    assert sr2 == sr and stored.shape == original.shape
    spans = [(w["start"], w["end"]) for s in doc["segments"] for w in s["words"] if w["word"] in TAGS.values()]
    assert len(spans) >= 3
    muted = np.zeros(len(stored), bool)
    for s, e in spans:
        muted[int(s * sr):int(e * sr)] = True
        assert np.max(np.abs(stored[int(s * sr):int(e * sr)])) == 0.0
    assert np.max(np.abs(stored[~muted])) > 0.1  # the rest still plays
    mu_law_step = 0.02  # the stored file is re-encoded in its own format (mu-law): compare coarsely
    kept = ~muted
    kept[:] &= np.abs(original) > 0  # where something was said outside the muted stretches
    assert np.mean(np.abs(stored[kept] - original[kept]) < mu_law_step) > 0.95


def test_bad_transcription_options_are_refused(service):
    with open(DATA / "de.wav", "rb") as f:
        r = service.post("/api/calls", files={"file": ("de.wav", f, "audio/wav")},
                         data={"transcribe": "de", "asr": "tiny.en"})
    assert r.status_code == 422 and "English only" in r.json()["detail"], r.text


def test_live_stream_sends_redacted_transcripts():
    from callemo.io import load_audio
    from callemo.service.stream_config import StreamConfig
    from callemo.service.streaming import StreamAnalyzer, iter_events

    x, _ = load_audio(DATA / "pii.wav", 16000)
    cfg = StreamConfig.from_dict({"sample_rate": 16000, "channels": ["client"], "transcribe": "en", "asr": "base"})
    sa = StreamAnalyzer.from_config(tm.train(), cfg)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    events = list(iter_events(sa, [pcm[i:i + 6400] for i in range(0, len(pcm), 6400)]))
    transcripts = [e for e in events if e["type"] == "transcript"]
    assert transcripts, [e["type"] for e in events]
    segments = [e for e in events if e["type"] == "segment"]
    for t in transcripts:  # after the turn's segments, with its times
        assert t["role"] == "client" and t["language"] == "en"
        assert any(s["end"] == t["end"] for s in segments)
        assert events.index(t) > max(i for i, e in enumerate(events) if e["type"] == "segment" and e["end"] <= t["end"])
        assert all(t["start"] - 0.01 <= w["start"] <= w["end"] <= t["end"] + 0.6 for w in t["words"])
    text = " ".join(t["text"] for t in transcripts)
    assert "card number" in text.lower() and "[EMAIL]" in text, text
    assert not leaks(str(transcripts)), leaks(str(transcripts))
    assert events[-1]["type"] == "summary"
    # the segment records (what a stored live call keeps) carry their words' redacted text
    stored = " ".join(r.get("text", "") for r in sa.records)
    assert "[EMAIL]" in stored and not leaks(stored), stored
    assert " ".join(stored.split()) == " ".join(text.split())
    # off by default: no transcript event, nothing loaded
    plain = StreamAnalyzer.from_config(tm.train(), StreamConfig.from_dict({"sample_rate": 16000}))
    assert not [e for e in iter_events(plain, [pcm]) if e["type"] == "transcript"]


def test_cluster_path_mutes_the_stored_copy(tmp_path):
    """``callemo serve --scheduler``: the Dask worker mutes the redacted spans in the stored copy, as the
    in-process worker does (``analyze_remote(..., mute_source=True)``)."""
    distributed = pytest.importorskip("distributed")
    import shutil

    from callemo.analyze.cluster import analyze_remote

    copy = tmp_path / "stored.wav"
    shutil.copyfile(DATA / "pii.wav", copy)
    original, sr = sf.read(str(copy), dtype="float32")
    model = tm.saved_model(tmp_path / "model")
    opts = {"transcribe": "en", "asr": "base", "redact_audio": True, "speakers": 1, "first_speaker": "client"}
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        doc = analyze_remote(client, copy, opts, str(model), file="pii.wav", mute_source=True).result(timeout=600)
    spans = [(w["start"], w["end"]) for s in doc["segments"] for w in s["words"] if w["word"] in TAGS.values()]
    assert len(spans) >= 3
    stored, _ = sf.read(str(copy), dtype="float32")
    for s, e in spans:
        assert np.max(np.abs(stored[int(s * sr):int(e * sr)])) == 0.0
    assert np.max(np.abs(original[int(spans[0][0] * sr):int(spans[0][1] * sr)])) > 0.05  # was speech before
