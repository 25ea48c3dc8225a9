"""The HTML report: self-contained, and rendered by headless Chromium with the plot and the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callemo.analyze.outputs import write_outputs
from callemo.analyze.pipeline import analyze_prepared
from callemo.io import save_audio
from helpers.browser import chromium
from helpers.calls import make_call, table, tm

TURNS = [(1, 6, "neutral", 0), (7, 12, "angry", 1), (20, 26, "sad", 1)]
ROWS = [(1, 6, "S0", "agent"), (7, 12, "S1", "client"), (20, 26, "S1", "client")]


def render(exe: str, html: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
           f"--user-data-dir={tmp / 'chromium-profile'}", *extra, html.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    audio, sr = make_call(TURNS, 30)
    wav = save_audio(tmp / "call.wav", audio, sr)
    r = analyze_prepared(table(ROWS, file=str(wav)), audio, sr, file=str(wav), model=tm.train())
    files = write_outputs(r, tmp / "out")
    return tmp, Path(files["html"]), r


def test_report_is_self_contained(report):
    _, html, _ = report
    page = html.read_text()
    assert 'src="data:image/png;base64,' in page
    assert 'src="data:audio/ogg;base64,' in page or 'src="data:audio/wav;base64,' in page
    # no external resources: every src/href is a data URI or an in-page anchor
    for m in re.finditer(r'(?:src|href)="([^"]*)"', page):
        assert m.group(1).startswith(("data:", "#")), m.group(1)
    assert "Needs review" in page and "strong anger" in page


def test_report_in_headless_chromium(report):
    exe = chromium()
    tmp, html, r = report
    res = render(exe, html, tmp, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    # the plot decoded (its onload handler ran and saw a real width) ...
    m = re.search(r'<img[^>]*id="plot-image"[^>]*>', dom)
    assert m, "plot image missing from the rendered DOM"
    width = re.search(r'data-natural-width="(\d+)"', m.group(0))
    assert width and int(width.group(1)) > 500, m.group(0)[:300]
    # ... and the segment table is there with one row per segment
    assert 'id="segments"' in dom
    rows = re.search(r'data-segment-rows="(\d+)"', dom)
    assert rows and int(rows.group(1)) == len(r.segments) == 3
    for emo in ("neutral", "angry", "sad"):
        assert emo in dom
    assert "<audio" in dom


def test_report_screenshot(report):
    exe = chromium()
    tmp, html, _ = report
    shot = tmp / "shot.png"
    res = render(exe, html, tmp, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert img.shape[0] >= 1000 and img.std() > 10  # a rendered page, not a blank one


def test_long_call_links_audio(tmp_path):
    from callemo.report.html import audio_source

    wav = save_audio(tmp_path / "a" / "long.wav", np.zeros(8000, np.float32), 8000)
    src = audio_source(wav, tmp_path / "out" / "long.html", duration=3 * 3600)
    assert src["mode"] == "link" and src["src"] == "../a/long.wav"
    assert audio_source(wav, tmp_path / "out" / "x.html", 1.0, audio="none") is None


def test_embedding_a_long_call_does_not_crash(tmp_path):
    """libvorbis crashes on long single writes; the encoder writes in blocks."""
    from callemo.report.html import encode_audio

    rng = np.random.default_rng(0)
    wav = save_audio(tmp_path / "long.wav", (0.05 * rng.standard_normal(8000 * 200)).astype(np.float32), 8000)
    data, mime = encode_audio(wav)
    assert mime == "audio/ogg" and data[:4] == b"OggS"
    import io

    import soundfile as sf

    y, sr = sf.read(io.BytesIO(data))
    assert sr == 8000 and abs(len(y) - 8000 * 200) < 8000
