"""Per-segment predictions, unknown short segments, dimensions, curves and summary on built tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from callemo.analyze.curves import gaussian_smooth, time_grid
from callemo.analyze.pipeline import analyze_prepared, circumplex_dimensions, resolve_model
from callemo.analyze.schema import CallJSON
from helpers.calls import SR, make_call, table, tm


@pytest.fixture(scope="module")
def model():
    return tm.train()


TURNS = [(1, 6, "neutral", 0), (7, 12, "angry", 1), (13, 13.5, "neutral", 0), (20, 26, "sad", 1)]
ROWS = [(1, 6, "S0", "agent", 0), (7, 12, "S1", "client", 1), (13, 13.5, "S0", "agent", 0), (20, 26, "S1", "client", 1)]


def test_predictions_unknown_and_speakers(model):
    audio, sr = make_call(TURNS, 30)
    model.calls.clear()
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model, emotions="all")
    seg = r.segments.reset_index()
    assert list(seg["emotion"]) == ["neutral", "angry", "unknown", "sad"]
    # the short (0.5 s < min_duration 1 s) segment is never given a confident prediction
    short = seg.iloc[2]
    assert short["confidence"] == 0 and np.isnan(short["valence"]) and np.isnan(short["p_angry"])
    # the model saw only the judged segments, with their speaker ids (per-speaker normalisation)
    assert model.calls[-1]["speakers"] == ["S0", "S1", "S1"]
    assert model.calls[-1]["lengths"] == [5 * SR, 5 * SR, 6 * SR]
    # probabilities sum to one, valence/arousal from the circumplex
    p = seg[["p_angry", "p_neutral", "p_sad"]].to_numpy()
    assert np.allclose(p[[0, 1, 3]].sum(axis=1), 1)
    assert seg.loc[1, "valence"] < -0.5 and seg.loc[1, "arousal"] > 0.5
    assert r.model["dimensions"] == "circumplex"


def test_stereo_segments_cut_from_their_channel(model):
    # both channels busy at the same time: an angry client under a calm agent
    turns = [(1, 9, "neutral", 0), (1, 9, "angry", 1)]
    audio, sr = make_call(turns, 10, stereo=True)
    rows = [(1, 9, "agent", "agent", 0), (1, 9, "client", "client", 1)]
    r = analyze_prepared(table(rows), audio, sr, file="call.wav", model=model, emotions="all")
    assert list(r.segments["emotion"]) == ["neutral", "angry"]
    assert r.channels == 2
    assert r.summary.overlap_share == pytest.approx(0.8)


def test_any_sample_rate_is_resampled_for_the_model(model):
    audio, _ = make_call([(1, 4, "angry", 0)], 5, sr=16000)
    r = analyze_prepared(table([(1, 4, "S0", "client")]), audio, 16000, file="call.wav", model=model, emotions="all")
    assert r.segments["emotion"].iloc[0] == "angry"
    assert model.calls[-1]["lengths"] == [3 * SR]


def test_dimensional_model_used_when_present():
    m = tm.train(tm.DimsCentroidModel)
    audio, sr = make_call(TURNS, 30)
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=m, emotions="all")
    assert r.model["dimensions"] == "model"
    seg = r.segments.reset_index()
    assert seg.loc[1, "arousal"] > seg.loc[0, "arousal"] > seg.loc[3, "arousal"]


def test_model_from_directory(tmp_path):
    d = tm.saved_model(tmp_path / "m")
    m = resolve_model(d)
    assert m.labels == ["angry", "neutral", "sad"] and m.card["path"] == str(d.resolve())


def test_circumplex_weighting():
    v = circumplex_dimensions(np.array([[1.0, 0.0], [0.5, 0.5]]), ["angry", "neutral"])
    assert v[0, 0] < -0.3 and v[0, 1] > 0.3
    assert v[1] == pytest.approx(v[0] / 2)


def test_curves_grid_gaps_and_smoothing(model):
    audio, sr = make_call(TURNS, 30)
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model, smooth=1.0, emotions="all")
    c = r.curves
    assert set(c) == {"agent", "client"}
    t = c["client"]["time"].to_numpy()
    assert t[0] == 0 and t[-1] == 30 and np.allclose(np.diff(t), 0.5)  # 2 Hz
    v = c["client"]["valence"].to_numpy()
    assert np.isnan(v[t < 7]).all() and np.isnan(v[(t > 12) & (t < 20)]).all()  # silent: gaps
    assert np.isfinite(v[(t >= 7) & (t <= 12)]).all()
    # the unjudged agent segment at 13-13.5 leaves a gap, no invented value
    va = c["agent"]["valence"].to_numpy()
    assert np.isnan(va[(t >= 13) & (t <= 13.5)]).all()


def test_gaussian_smooth_ignores_gaps():
    x = np.array([np.nan, 1, 1, 1, np.nan, np.nan, -1, -1, -1])
    y = gaussian_smooth(x, 2.0)
    assert np.isnan(y[[0, 4, 5]]).all()
    assert y[1] > 0 > y[-1]
    assert len(time_grid(2.2)) == 5


def test_summary_figures(model):
    audio, sr = make_call(TURNS, 30)
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model, emotions="all")
    s = r.summary
    assert s.talk_time == {"agent": 5.5, "client": 11.0}
    assert s.silence_share == pytest.approx(1 - 16.5 / 30, abs=1e-3)
    assert s.overlap_share == 0
    assert s.emotion_distribution["client"] == pytest.approx({"sad": 6 / 11, "angry": 5 / 11}, abs=1e-3)
    assert s.negative_moments[0].start == 7.0 and s.negative_moments[0].emotion == "angry"
    assert s.needs_review and any("strong anger" in x for x in s.review_reasons)
    assert any("client ends negative" in x for x in s.review_reasons)
    assert s.emotions.inferred_roles == ["agent", "client"] and s.emotions.note is None


@pytest.mark.parametrize(("method", "conf", "flagged"), [
    ("embeddings", 0.35, True), ("embeddings", 0.9, False), ("channels", float("nan"), False)])
def test_diarization_confidence_reaches_json_and_review(model, method, conf, flagged):
    audio, sr = make_call(TURNS, 30)
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model,
                         diarization=method, diarization_confidence=conf)
    d = json.loads(r.to_json())
    assert d["summary"]["diarization"]["method"] == method
    assert d["summary"]["diarization"]["confidence"] == (None if np.isnan(conf) else conf)
    reasons = [x for x in r.summary.review_reasons if "speaker attribution uncertain" in x]
    assert bool(reasons) is flagged
    CallJSON.model_validate(d)
    # the threshold is a review rule of the options
    r2 = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model, diarization=method,
                          diarization_confidence=conf, review={"diarization_confidence": 0.2})
    assert not any("speaker attribution" in x for x in r2.summary.review_reasons)


def test_client_trend_improving(model):
    turns = [(0, 5, "angry", 0), (6, 10, "neutral", 0), (11, 16, "neutral", 0)]
    audio, sr = make_call(turns, 17)
    rows = [(0, 5, "S1", "client"), (6, 10, "S0", "agent"), (11, 16, "S1", "client")]
    r = analyze_prepared(table(rows), audio, sr, file="call.wav", model=model, emotions="all")
    tr = r.summary.client_trend
    assert tr.direction == "improving" and tr.start_valence < tr.end_valence


def test_no_speech_gives_empty_timeline(model):
    audio = np.zeros(10 * SR, np.float32)
    r = analyze_prepared(table([]), audio, SR, file="silent.wav", model=model)
    d = r.to_dict()
    assert d["segments"] == [] and d["summary"]["needs_review"] is True
    assert d["summary"]["review_reasons"] == ["no speech"]
    assert all(v is None for v in d["curves"]["client"]["valence"])
    CallJSON.model_validate(d)


def test_json_schema_and_nan_to_null(model):
    audio, sr = make_call(TURNS, 30)
    d = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model, emotions="all").to_dict()
    text = json.dumps(d, allow_nan=False)  # would raise on NaN
    doc = CallJSON.model_validate(json.loads(text))
    assert [s.emotion for s in doc.segments] == ["neutral", "angry", "unknown", "sad"]
    assert doc.segments[2].valence is None and doc.segments[2].probabilities["angry"] is None
    assert set(doc.curves) == {"agent", "client"} and doc.sample_rate == SR
    for k in ("file", "duration", "sample_rate", "segments", "curves", "summary"):
        assert k in d


def test_overlap_from_turns_and_preparation_stretches():
    from callemo.analyze.summary import summarize

    seg = table([(0, 10, "agent", "agent"), (8, 20, "client", "client")])
    seg["overlap"] = [True, True]
    seg["emotion"], seg["confidence"], seg["valence"], seg["arousal"] = "neutral", 0.9, 0.0, 0.0
    # whole flagged segments would count 20 s; the crossing turns give 2 s, the stretches 1 s more
    s = summarize(seg, 40.0, overlaps=[(8.0, 10.0), (30.0, 31.0)])
    assert s.overlap_share == pytest.approx(3 / 40)
    assert s.silence_share == pytest.approx(0.5)
    assert s.talk_time == {"agent": 10.0, "client": 12.0}


def test_client_only_emotions_by_default(model):
    """The default (``emotions="client"``, EU AI Act Art. 5(1)(f)): agent segments keep their turns
    and talk time but get no prediction at all, and the model never sees the agent's audio."""
    audio, sr = make_call(TURNS, 30)
    model.calls.clear()
    r = analyze_prepared(table(ROWS), audio, sr, file="call.wav", model=model)
    seg = r.segments.reset_index()
    agent = seg[seg["role"] == "agent"]
    assert agent["emotion"].isna().all() and agent["confidence"].isna().all()
    assert agent[["p_angry", "p_neutral", "p_sad", "valence", "arousal"]].isna().all().all()
    assert list(seg.loc[seg["role"] == "client", "emotion"]) == ["angry", "sad"]
    assert [c["speakers"] for c in model.calls] == [["S1", "S1"]]  # only client audio reached the model
    s = r.summary
    assert s.talk_time == {"agent": 5.5, "client": 11.0}  # turns and talk time stay
    assert s.emotion_distribution["agent"] == {} and s.dominant_emotion["agent"] is None
    assert s.emotions.inferred_roles == ["client"] and s.emotions.not_inferred_roles == ["agent"]
    assert "AI Act" in s.emotions.note and s.n_segments == 4 and s.n_unknown == 0
    assert np.isnan(r.curves["agent"]["valence"]).all()
    doc = CallJSON.model_validate(json.loads(r.to_json()))
    assert [x.emotion for x in doc.segments] == [None, "angry", None, "sad"]
    assert doc.segments[0].probabilities is None and doc.segments[0].confidence is None
    assert doc.settings["emotions"] == "client"


def test_prediction_chunks_bound_memory_unless_the_model_normalises_per_speaker():
    from callemo.analyze.pipeline import prediction_chunks

    secs = [200.0, 300.0, 150.0, 400.0, 10.0]
    assert prediction_chunks(secs, per_speaker=False, batch_seconds=600) == [[0, 1, 2], [3, 4]]
    assert prediction_chunks(secs, per_speaker=True, batch_seconds=600) == [[0, 1, 2, 3, 4]]
    assert prediction_chunks([], per_speaker=True, batch_seconds=600) == []


class _EnsembleLike(tm.CentroidModel):
    """A model whose card writes ``normalisation`` as a list (as an ensemble's did) but that
    normalises per speaker: only ``per_speaker_normalisation`` may decide the chunking."""

    @property
    def per_speaker_normalisation(self) -> bool:
        return True


@pytest.mark.parametrize("per_speaker", [False, True])
def test_predict_segments_chunks(model, per_speaker):
    from callemo.analyze.pipeline import predict_segments

    m = _EnsembleLike() if per_speaker else tm.CentroidModel()
    m.labels, m.centroids = model.labels, model.centroids
    m.card = {"normalisation": ["speaker", "global"]}
    audio, sr = make_call(TURNS, 30)
    one, _ = predict_segments(table(ROWS), audio, sr, m, batch_seconds=1e9)
    m.calls.clear()
    chunked, _ = predict_segments(table(ROWS), audio, sr, m, batch_seconds=5.0)
    # 5 s of audio per chunk: three calls of one judged segment each, unless per-speaker statistics
    # need the whole call in one call (the ensemble bug: a list in the card turned this off)
    assert [c["n"] for c in m.calls] == ([3] if per_speaker else [1, 1, 1])
    cols = ["p_angry", "p_neutral", "p_sad", "valence", "arousal"]
    assert np.allclose(one[cols].to_numpy(float), chunked[cols].to_numpy(float), equal_nan=True)
    assert list(chunked["emotion"]) == ["neutral", "angry", "unknown", "sad"]
