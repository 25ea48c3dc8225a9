"""``callemo analyze examples/call.wav --transcribe`` shows the transcript in every output (JSON, CSV, HTML),
and the report's search box works in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from callemo.analyze.schema import SCHEMA_VERSION, CallJSON
from callemo.cli import _load_commands, app
from helpers.browser import chromium

ROOT = Path(__file__).resolve().parents[2]
CALL = ROOT / "examples" / "call.wav"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("transcribed")
    _load_commands()
    # --language en: the English-only tiny.en model (the fastest); base is tested in test_asr.py
    r = CliRunner().invoke(app, ["analyze", str(CALL), "-o", str(out), "--transcribe", "--language", "en",
                                 "--no-dataset", "--quiet"])
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "call.json").read_text())
    return out, doc, r.output


def test_json_has_text_and_words(outputs):
    _, doc, _ = outputs
    CallJSON.model_validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION == "1.3"
    assert doc["summary"]["transcript"]["asr"] == "tiny.en" and doc["summary"]["transcript"]["language"] == "en"
    assert doc["summary"]["transcript"]["redacted"] is True and doc["settings"]["transcribe"] == "en"
    text = " ".join(s["text"] for s in doc["segments"]).lower()
    for said in ("good morning", "calling", "account", "thank you"):
        assert said in text, text
    for s in doc["segments"]:
        assert s["text"] == " ".join(w["word"] for w in s["words"])
        assert all(s["start"] <= w["start"] <= w["end"] <= s["end"] for w in s["words"])
    assert "transcribe" in doc["timing"]


def test_csv_has_the_text_column(outputs):
    out, doc, _ = outputs
    table = pd.read_csv(out / "call.csv", keep_default_na=False)
    assert "text" in table.columns and "words" not in table.columns
    assert list(table["text"]) == [s["text"] for s in doc["segments"]]


def test_html_shows_the_text_beside_each_segment(outputs):
    out, doc, _ = outputs
    page = (out / "call.html").read_text()
    assert 'id="transcript-search"' in page and "<th>text</th>" in page
    from html import unescape

    cells = re.findall(r'<td class="text">(.*?)</td>', page, re.S)
    assert [unescape(c) for c in cells] == [s["text"] for s in doc["segments"]]


def test_report_search_in_headless_chromium(outputs, tmp_path):
    exe = chromium()
    out, doc, _ = outputs
    texts = [s["text"].lower() for s in doc["segments"]]
    # a word said in some segments but not all: the search must keep exactly those
    word = next(w for w in sorted({w.strip(".,?!") for t in texts for w in t.split()}, key=len, reverse=True)
                if len(w) > 4 and 0 < sum(w in t for t in texts) < len(texts))
    expected = sum(word in t for t in texts)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
           (out / "call.html").resolve().as_uri() + f"#q={word}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert f'data-search-shown="{expected}"' in dom, (word, expected)
    assert len(re.findall(r'<tr[^>]*class="hidden"', dom)) == len(texts) - expected
    marks = re.findall(r"<mark>(.*?)</mark>", dom)
    assert marks and all(m.lower() == word for m in marks)


def _flat(output: str) -> str:
    """The CLI's output without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_cli_options_checked_and_no_redact_warns(tmp_path):
    _load_commands()
    runner = CliRunner()
    r = runner.invoke(app, ["analyze", str(tmp_path / "none.wav"), "-o", str(tmp_path), "--transcribe",
                            "--language", "xx"])
    assert r.exit_code == 2 and "unknown transcription language" in _flat(r.output)
    r = runner.invoke(app, ["analyze", str(tmp_path / "none.wav"), "-o", str(tmp_path), "--transcribe",
                            "--language", "de", "--asr", "tiny.en"])
    assert r.exit_code == 2 and "English only" in _flat(r.output)
    # --no-redact is allowed, with a warning (here before the batch finds no audio)
    r = runner.invoke(app, ["analyze", str(tmp_path / "none.wav"), "-o", str(tmp_path / "o"), "--transcribe",
                            "--no-redact"])
    assert "--no-redact" in _flat(r.output) and "stored as said" in _flat(r.output)
