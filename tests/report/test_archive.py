"""The archive page from DataFrames (report layer: no pipeline): the figures and tables say what
the calls say, the worst calls come first, the page loads nothing from the network, and transcript
text cannot break out of its script."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from callemo.report.archive import (
    archive_context,
    emotions_by_role,
    prepare_calls,
    reason_kind,
    render_archive,
    worst_calls,
)

CALLS = pd.DataFrame({
    "call_id": ["a", "b", "c", "d"],
    "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-03"]),
    "duration": [60.0, 120.0, 30.0, 90.0],
    "needs_review": [True, False, True, True],
    "review_reasons": [["client ends negative (valence -0.52 in the last third)", "low confidence (mean 0.41)"],
                       [], ["client ends negative (valence -0.31 in the last third)"],
                       "strong anger from the client (2 segment(s), e.g. at 0:05)"],
    "client_trend": ["worsening", "improving", "stable", None],
    "client_end_valence": [-0.52, 0.3, -0.31, np.nan],
    "most_negative_valence": [-0.7, np.nan, -0.4, -0.8],
    "report": ["a.html", "sub/b.html", None, "d.html"],
})
SEGMENTS = pd.DataFrame({
    "call_id": ["a", "a", "b", "d"],
    "start": [0.0, 5.0, 0.0, 1.0], "end": [4.0, 7.0, 10.0, 2.0],
    "role": ["agent", "client", "client", "client"],
    "emotion": [None, "angry", "neutral", "angry"],
    "text": ["hello", "cancel it </script><script>alert(1)</script>", None, "I said cancel"],
})


def test_reason_kinds_and_counts():
    assert reason_kind("client ends negative (valence -0.52 in the last third)") == "client ends negative"
    assert reason_kind("no speech") == "no speech"
    ctx = archive_context(CALLS, SEGMENTS)
    assert ctx["n_calls"] == 4 and ctx["n_review"] == 3 and ctx["review_share"] == 0.75
    assert {r["reason"]: r["calls"] for r in ctx["reasons"]} == {
        "client ends negative": 2, "low confidence": 1, "strong anger from the client": 1}
    assert {t["trend"]: t["calls"] for t in ctx["trends"]} == {"improving": 1, "stable": 1, "worsening": 1,
                                                              "unknown": 1}
    assert ctx["hours"] == 300 / 3600 and (ctx["first_date"], ctx["last_date"]) == ("2024-01-01", "2024-01-03")
    assert all(ctx["figures"][k] for k in ("over_time", "reasons", "trends", "end_valence", "emotions"))


def test_worst_calls_first_and_emotions_by_role():
    assert list(worst_calls(prepare_calls(CALLS))["call_id"]) == ["a", "c", "d", "b"]
    shares = emotions_by_role(SEGMENTS)
    # the client spoke 2 s angry in a, 10 s neutral in b, 1 s angry in d; the agent's turn was not judged
    assert list(shares.index) == ["client"]
    assert shares.loc["client", "angry"] == 3 / 13 and shares.loc["client", "neutral"] == 10 / 13


def test_page_is_self_contained_and_text_is_escaped():
    page = render_archive(CALLS, SEGMENTS, title="Test <archive>")
    for m in re.finditer(r'(?:src|href)="([^"$]*)"', page):  # ($: a link the search script builds)
        assert m.group(1).startswith("data:") or m.group(1) in ("a.html", "sub/b.html", "d.html"), m.group(1)
    assert "Test &lt;archive&gt;" in page
    # the transcript text is data, never markup: the only </script> tags are the page's own
    assert page.count("</script>") == 2 and "alert(1)</script>" not in page
    assert '"cancel it \\u003c/script\\u003e' in page
    frag = render_archive(CALLS, SEGMENTS, fragment=True)
    assert "<script" not in frag and "<html" not in frag and 'data-calls="4"' in frag


def test_empty_archive_and_string_reasons():
    page = render_archive(CALLS.iloc[:0], None)
    assert 'data-calls="0"' in page and "No analysed calls yet" in page
    joined = CALLS.assign(review_reasons=["; ".join(r) if isinstance(r, list) else r for r in CALLS["review_reasons"]])
    assert archive_context(joined)["reasons"] == archive_context(CALLS)["reasons"]
