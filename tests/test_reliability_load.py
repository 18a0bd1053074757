"""The load test: its pure helpers, and a short real run with the scripted model.

The figures themselves come from `python -m evals.loadtest` (docs/reliability.md); this only
checks that the harness measures, detects leaks, and ends by itself.
"""

from __future__ import annotations

import pytest

from evals import loadtest
from evals.scorers import percentile


def test_percentiles_interpolate_like_numpy():
    import numpy as np

    values = [0.3, 1.7, 0.9, 4.2, 2.5, 0.1, 3.3]
    for q in (0, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    with pytest.raises(ValueError):
        percentile([], 50)
    assert loadtest.distribution([])["p50"] is None


def test_markers_are_distinct_words_the_leak_check_can_find():
    markers = loadtest.make_markers(16)
    assert len(set(markers)) == 16 and all(loadtest.MARKER.fullmatch(m) for m in markers)
    assert not [a for a in markers for b in markers if a != b and a in b]
    texts = [f"I keep thinking about {markers[0]}.", f"It sounds like {markers[3]} matters."]
    assert loadtest.foreign_markers(texts, markers[0], markers) == [markers[3]]
    assert loadtest.foreign_markers(texts[:1], markers[0], markers) == []


def test_echo_model_names_every_marker_it_was_given():
    markers = loadtest.make_markers(2)
    model = loadtest.EchoModel(word_delay_s=0)
    messages = [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": f"about {markers[1]}"},
        {"role": "user", "content": f"and {markers[0]}"},
    ]
    reply = "".join(model.stream(messages, None))
    assert markers[0] in reply and markers[1] in reply


def test_summary_counts_failures_calm_failures_and_leaks():
    R = loadtest.MessageResult
    results = [
        R(0, 0, 0.0, queue_wait_s=0.1, first_reply_s=0.5, reply_s=1.0, kind="listening"),
        R(1, 0, 0.1, queue_wait_s=0.2, first_reply_s=0.6, reply_s=2.0, kind="model_error"),
        R(2, 0, 0.2, error="unfinished at the hard stop"),
        R(3, 0, 0.3, queue_wait_s=0.3, first_reply_s=0.7, reply_s=3.0, kind="listening", foreign=["LtXXX"]),
    ]
    report = loadtest.summarize(results, {"elapsed_s": 60})
    assert report["sent"] == 4 and report["completed"] == 3 and report["errors"] == 2
    assert report["cross_session_leaks"] == ["LtXXX"]
    assert report["reply_s"]["n"] == 3 and report["reply_s"]["p50"] == 2.0
    assert report["replies_per_min"] == 3.0


def test_a_short_scripted_run_has_no_errors_no_leaks_and_stops_by_itself():
    import time

    started = time.monotonic()
    report = loadtest.run_loadtest(
        users=4,
        duration_s=4,
        messages=2,
        model="scripted",
        think_s=(0.15, 0.45),
        drain_s=30,
        word_delay_s=0.005,
        crisis_probe_at_s=1.0,
    )
    assert time.monotonic() - started < 90
    assert report["errors"] == 0, report["error_details"]
    assert report["cross_session_leaks"] == []
    assert report["sent"] >= 4 and report["completed"] == report["sent"]
    # Server turn kinds, read from the conversations themselves. (A crisis route would be a
    # false alarm of the screen on these everyday messages, not a load failure.)
    assert set(report["kinds"]) <= {"listening", "crisis"} and report["kinds"]["listening"]
    assert {m["user"] for m in report["messages"]} == {0, 1, 2, 3}
    for m in report["messages"]:
        assert 0 < m["queue_wait_s"] <= m["first_reply_s"] <= m["reply_s"]
    assert report["crisis_probe"]["error"] is None and report["crisis_probe"]["reply_s"] is not None
    assert report["peak_memory_mib"] > 0
    text = loadtest.format_table(report)
    assert "reply complete (s)" in text and "cross-session leaks: none" in text
