"""PII redaction: the rules on text and timed words, and a transcribed analysis whose outputs and logs
must hold none of the personal data said in ``data/pii.wav`` (espeak-ng, see ``make_pii_wav.py``)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from callemo.text.redact import find_pii, redact, redact_words

DATA = Path(__file__).resolve().parent / "data"
CARD = "4111 1111 1111 1111"  # the Visa test number: passes the Luhn check


@pytest.mark.parametrize("text", [
    f"My card is {CARD}, thanks.",
    "My card is 4111-1111-1111-1111, thanks.",
    "My card is 4111111111111111, thanks.",
    "My card is four one one one, one one one one, one one one one, one one one one, thanks.",
    "My card is four one one one one one one one one one one one one one one one, thanks.",
    "My card is 4111 1111 one one one one 1111, thanks.",
    "My card is four one double one, one one one one, one one one one, one one one one, thanks.",
])
def test_card_numbers_in_digits_and_words(text):
    r = redact(text)
    assert r.text == "My card is [CARD], thanks.", r.text
    assert [k for _, _, k in r.spans] == ["card"]


def test_long_numbers_failing_luhn_are_still_redacted():
    assert redact("the number is 4111 1111 1111 1112 ok").text == "the number is [ACCOUNT] ok"
    assert redact("It is seven, four, two, nine, one, five. Nobody").text == "It is [ACCOUNT]. Nobody"
    assert redact("my account number is 12345678").text == "my account number is [ACCOUNT]"
    assert redact("the IBAN is GB82 WEST 1234 5698 7654 32 ok").text == "the IBAN is [ACCOUNT] ok"
    assert redact("the security code is three four five").text == "the security code is [CARD]"
    # the first digits right after their announcement (the rest may come in the next turn or be lost by the ASR)
    assert redact("My card number is 4111").text == "My card number is [CARD]"
    assert redact("my account number is 4729 ok").text == "my account number is [ACCOUNT] ok"
    assert redact("Or call me on 0-2-0.").text == "Or call me on [PHONE]."
    assert redact("my card expired in 2023 so").text == "my card expired in 2023 so"


@pytest.mark.parametrize("text", [
    "write to john.smith@gmail.com please",
    "write to john dot smith at gmail dot com please",
    "write to John Smith at Gmail.com please",
    "write to john.smithatgmail.com please",
    "write to j_smith99@web.de please",
    "write to john dot missat gmail col please",  # misheard (tiny.en on data/pii.wav)
])
def test_emails_written_and_spoken(text):
    r = redact(text)
    assert "[EMAIL]" in r.text and "please" in r.text, r.text
    assert not re.search(r"smith|missat|gmail|web\.de", r.text, re.I), r.text


@pytest.mark.parametrize("text, tag", [
    ("call me on 020 7946 0958 tomorrow", "[PHONE]"),
    ("my number is +44 7700 900123 tomorrow", "[PHONE]"),
    ("call me on (020) 7946-0958 tomorrow", "[PHONE]"),
    ("call me on zero two zero seven nine four six zero nine five eight tomorrow", "[PHONE]"),
    ("call me on zero to zero seven nine four six zero nine five eight tomorrow", "[PHONE]"),
    ("my mobile is oh seven seven double oh nine double oh one two three tomorrow", "[PHONE]"),
])
def test_phone_numbers(text, tag):
    r = redact(text)
    assert tag in r.text and "tomorrow" in r.text, r.text
    assert not re.search(r"\d{3}|nine|seven", r.text), r.text


@pytest.mark.parametrize("text", [
    "I have been on hold for forty minutes.",
    "It cost 1,250 dollars on 12/05/2023 at 10:30, three days ago.",
    "Oh, okay. That is good to hear.",
    "I called 3 times in 2024 about order 42.",
    "I looked at it. It is fine.",
])
def test_ordinary_numbers_and_words_stay(text):
    assert redact(text).text == text


def test_names_only_when_asked():
    text = "Thanks for your help, Daniel. Talk to John Smith. Will you call?"
    assert redact(text).text == text
    assert redact(text, names=True).text == "Thanks for your help, [NAME]. Talk to [NAME]. Will you call?"


def test_spans_point_into_the_original_text():
    text = f"card {CARD} mail a@b.com"
    spans = find_pii(text)
    assert [(text[s:e], k) for s, e, k in spans] == [(CARD, "card"), ("a@b.com", "email")]


def test_redacted_words_are_merged_and_give_the_spans_to_mute():
    said = ["my", "card", "is", "4111", "1111", "1111", "1111", "and", "my", "mail", "is",
            "john", "dot", "smith", "at", "gmail", "dot", "com", "bye"]
    words = [{"start": 0.5 * i, "end": 0.5 * i + 0.4, "word": w} for i, w in enumerate(said)]
    red, muted = redact_words(words)
    assert [w["word"] for w in red] == ["my", "card", "is", "[CARD]", "and", "my", "mail", "is", "[EMAIL]", "bye"]
    card = red[3]
    assert (card["start"], card["end"]) == (1.5, 3.4)  # first to last word of the number
    assert muted == [(1.5, 3.4), (5.5, 8.9)]  # "4111" .. "1111", "john" .. "com"
    clean = [{"start": 0.0, "end": 0.3, "word": "hello"}]
    assert redact_words(clean) == (clean, [])


# -- a transcribed analysis: no PII in any output or log ------------------------------------------------
#: what pii.wav says, as it must never be found in an output (digits of the card and phone numbers, the
#: e-mail's parts) -- in any spelling
SECRETS = [r"1111", r"4111", r"7946", r"0958", r"02079", r"smith", r"gmail",
           r"(?:one[ ,.-]*){4}", r"nine four six", r"zero nine five eight"]


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if re.search(s, text, re.IGNORECASE)]


@pytest.fixture(scope="module")
def pii_analysis(tmp_path_factory):
    """pii.wav analysed with --transcribe --redact-audio through the batch writer (JSON, CSV, HTML), with
    the logs and console captured by the tests that use it."""
    return tmp_path_factory.mktemp("pii")


def test_no_pii_in_any_output_or_log(pii_analysis, caplog, capsys):
    from callemo.analyze.outputs import write_outputs
    from callemo.analyze.pipeline import analyze_file

    out = pii_analysis
    caplog.set_level(logging.DEBUG)  # every logger, faster-whisper's included
    result = analyze_file(DATA / "pii.wav", transcribe="en", asr="base", redact_audio=True, speakers=1,
                          first_speaker="client")
    files = write_outputs(result, out, "pii", audio="embed")
    doc = json.loads(Path(files["json"]).read_text())
    csv = Path(files["table"]).read_text()
    html = Path(files["html"]).read_text()
    captured = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err

    text = " ".join(s["text"] for s in doc["segments"])
    # the transcript is there (the test would pass vacuously on an empty one) ...
    assert re.search(r"card number", text, re.I), text
    assert "[EMAIL]" in text and ("[CARD]" in text or "[ACCOUNT]" in text) and "[PHONE]" in text, text
    words = [w["word"] for s in doc["segments"] for w in s["words"]]
    assert "[EMAIL]" in words and "[PHONE]" in words
    assert doc["summary"]["transcript"]["redacted"] is True
    assert sum(doc["summary"]["transcript"]["redactions"].values()) >= 3
    # ... and none of the PII is, anywhere
    page = re.sub(r'data:[a-z]+/[a-z]+;base64,[^"]+', "", html)  # the embedded plot and audio are not text
    for name, content in (("json", json.dumps(doc)), ("csv", csv), ("html", page), ("logs", logs)):
        assert not _leaks(content), (name, _leaks(content))
    assert "text" in csv.splitlines()[0].split(",")
    # --redact-audio: the redacted stretches are silent in the report's embedded audio
    assert result.muted and all(e > s for s, e in result.muted)
    import base64
    import io

    import soundfile as sf

    src = re.search(r'src="data:audio/(?:ogg|wav);base64,([^"]+)"', html)
    assert src, "no embedded audio"
    x, sr = sf.read(io.BytesIO(base64.b64decode(src.group(1))), dtype="float32")
    for s, e in result.muted:
        seg = x[int(s * sr) + 80:int(e * sr) - 80]
        assert seg.size == 0 or np.max(np.abs(seg)) < 0.02, (s, e, float(np.max(np.abs(seg))))
    speech = np.abs(x[int(result.muted[0][0] * sr) - 4000:int(result.muted[0][0] * sr) - 800])
    assert speech.max() > 0.05  # what was not redacted still plays
