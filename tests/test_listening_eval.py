"""The listening eval's arithmetic, from a hand-made per-reply JSONL (no model)."""

from __future__ import annotations

import json

from evals.listening_eval import from_jsonl, markdown, meets_good, spread


def seg(code, subtype=None):
    return {"code": code, "subtype": subtype, "confidence": 1.0, "evidence": "test"}


def rec(arm, scenario, turn, reply, segments, **extra):
    return {
        "arm": arm,
        "scenario": scenario,
        "topic": "t",
        "turn": turn,
        "user": "u",
        "reply": reply,
        "code": segments[0]["code"],
        "subtype": segments[0]["subtype"],
        "segments": segments,
        "questions": sum(s["code"] == "question" for s in segments),
        "advice_or_diagnosis": any(s["code"] == "advice" for s in segments),
        "repeat": False,
        **extra,
    }


def test_metrics_from_jsonl_pair_arms_and_drop_unfinished_turns(tmp_path):
    rows = [
        rec("pipeline", "a", 1, "R.", [seg("reflection", "complex")], move="reflect", fallback=True),
        rec("bare", "a", 1, "Advice. Q?", [seg("advice"), seg("question", "closed")]),
        rec(
            "pipeline",
            "a",
            2,
            "R. Q?",
            [seg("reflection", "simple"), seg("question", "open")],
            move="question",
            fallback=False,
        ),
        rec("bare", "a", 2, "", [seg("other")]),
        rec("pipeline", "a", 3, "unpaired", [seg("reflection", "simple")], move="reflect", fallback=False),
    ]
    path = tmp_path / "turns.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = from_jsonl(str(path))
    p, b = result["pipeline"], result["bare"]
    assert p["replies"] == 2 and b["replies"] == 2  # turn 3 has no bare reply yet
    assert p["r_to_q"] == 2.0 and p["pct_complex_reflections"] == 50.0
    assert p["fallback_replies"] == 1
    assert b["advice_or_diagnosis_rate"] == 0.5 and b["empty_replies"] == 1
    assert result["pipeline_model_written"]["replies"] == 1
    good = meets_good(p)
    assert good["r_to_q >= 2"] and good["complex reflections >= 50%"]
    assert not meets_good(b)["no empty replies"]
    assert "| R:Q | 2.00 |" in markdown(result)


def test_spread_takes_topics_in_turn():
    class S:
        def __init__(self, topic, i):
            self.topic, self.id = topic, f"{topic}-{i}"

    items = [S("a", 1), S("a", 2), S("b", 1), S("c", 1), S("b", 2)]
    assert [s.id for s in spread(items, 3)] == ["a-1", "b-1", "c-1"]
    assert len(spread(items, None)) == 5


def test_spread_offset_continues_the_same_order():
    class S:
        def __init__(self, topic, i):
            self.topic, self.id = topic, f"{topic}-{i}"

    items = [S("a", 1), S("a", 2), S("b", 1), S("c", 1), S("b", 2)]
    first, rest = spread(items, 2), spread(items, None, offset=2)
    assert [s.id for s in first + rest] == [s.id for s in spread(items, None)]
