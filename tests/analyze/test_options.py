"""AnalysisOptions: the one parser of the CLI, batch, service and stream options."""

from __future__ import annotations

import json

import pytest

from callemo.analyze.options import AlertRules, AnalysisOptions, OptionsError, ReviewRules, parse_options


def test_strings_users_type_are_parsed_once():
    o = parse_options(channels="Client, agent", speakers="auto", first_speaker="client", emotions="all",
                      vad={"end_silence": 0.3, "threshold": "0.4"})
    assert o.channels == ["client", "agent"] and o.speakers == "auto" and o.first_speaker == "client"
    assert o.vad.min_silence == 0.3 and o.vad.threshold == 0.4 and o.vad.neg_threshold == pytest.approx(0.25)
    assert parse_options(channels="mono", speakers="3").channels == "mono"
    assert parse_options(speakers="3").speakers == 3
    assert parse_options(channels="").channels is None  # an empty form field = the default
    assert AnalysisOptions().emotions == "client"  # the default (EU AI Act Art. 5(1)(f))
    assert not AnalysisOptions().infers_emotions("agent") and AnalysisOptions(emotions="all").infers_emotions("agent")


@pytest.mark.parametrize(("bad", "field"), [
    ({"speakers": "11"}, "speakers"), ({"speakers": 0}, "speakers"), ({"speakers": True}, "speakers"),
    ({"channels": "agent,agent"}, "channels"), ({"channels": "agent,bob"}, "channels"),
    ({"emotions": "agents"}, "emotions"), ({"vad": {"threshold": float("inf")}}, "vad.threshold"),
    ({"vad": {"threshold": 1.5}}, "vad.threshold"), ({"vad": {"thresh": 0.3}}, "vad.thresh"),
    ({"alerts": {"valence_threshold": "x"}}, "alerts.valence_threshold"), ({"colour": 1}, "colour"),
    ({"max_silence": 1.0, "target_silence": 2.0}, "target_silence"),
])
def test_bad_options_name_the_field(bad, field):
    with pytest.raises(OptionsError, match=field.replace(".", r"\.")) as e:
        parse_options(bad)
    assert "\n" not in str(e.value)


def test_review_and_alert_thresholds_are_defined_once():
    r, a = ReviewRules(), AlertRules()
    for k in ("negative_valence", "emotions", "emotion_confidence"):
        assert getattr(r, k) == getattr(a, k)
    # the stream's old names still work as input
    assert AlertRules.model_validate({"valence_threshold": -0.2}).negative_valence == -0.2
    assert ReviewRules.model_validate({"anger_confidence": 0.7}).emotion_confidence == 0.7


def test_settings_round_trip_through_json():
    o = parse_options(channels="agent,client", speakers=4, review={"n_moments": 3})
    back = AnalysisOptions.model_validate(json.loads(json.dumps(o.settings())))
    assert back == o
