"""Scorers, report and compare on hand-made turn records (no model, no screen)."""

from __future__ import annotations

import json

import pytest

from evals import compare, report, scorers


def turn(scenario, index, reply, kind="listening", code=None, subtype=None, **extra):
    record = {
        "set": "s",
        "scenario": scenario,
        "topic": "",
        "turn": index,
        "user_text": f"u{index}",
        "reply": reply,
        "kind": kind,
        "move": None,
        "technique": {"code": code, "subtype": subtype, "confidence": 0.9, "evidence": "rule:x"} if code else None,
        "safety": {"route": kind == "crisis", "error": None},
        "output_safety": None,
        "tokens": 10,
        "model_calls": 1,
        "crisis_check": None,
        "latency_s": 2.0,
        "first_token_s": 1.0,
        "model_s": 1.5,
    }
    record.update(extra)
    return record


def test_miti_counts_and_ratios_come_from_listening_turns_only():
    turns = [
        turn("a", 0, "It sounds heavy.", code="reflection", subtype="complex"),
        turn("a", 1, "You feel tired.", code="reflection", subtype="simple"),
        turn("a", 2, "What helps?", code="question", subtype="open"),
        turn("a", 3, "You should rest.", code="advice"),
        turn(
            "a",
            4,
            "Please call 988.",
            kind="crisis",
            code="information",
            crisis_check={"fixed_text": True, "model_called": False, "ok": True},
        ),
    ]
    miti = scorers.score_miti(turns)
    assert miti["total"] == 4  # the crisis text is not the listener's technique
    assert miti["r_to_q"] == 2.0
    assert miti["pct_complex_reflections"] == 50.0
    assert miti["pct_open_questions"] == 100.0
    assert miti["advice_rate"] == 0.25
    assert miti["ratings"]["r_to_q"] == "good"


def test_repetition_flags_replies_that_reuse_earlier_trigrams_in_the_same_conversation():
    turns = [
        turn("a", 0, "It sounds like work has been a lot lately."),
        turn("a", 1, "It sounds like work has been a lot lately."),  # exact repeat
        turn("a", 2, "Your manager keeps adding projects."),  # new
        turn("b", 0, "Your manager keeps adding projects."),  # other conversation: not a repeat
        turn("b", 1, "What would help most right now?"),
    ]
    rep = scorers.score_repetition(turns)
    assert rep["judged_replies"] == 3  # first replies have nothing to repeat
    assert rep["repetition_rate"] == pytest.approx(1 / 3)
    assert rep["exact_repeat_rate"] == pytest.approx(1 / 3)


def test_a_summary_restating_earlier_reflections_is_not_a_repeat_unless_word_for_word():
    turns = [
        turn("a", 0, "It sounds like work has been a lot lately."),
        turn("a", 1, "So you lie awake at night going over it."),
        turn(
            "a",
            2,
            "Let me see if I have this right: work has been a lot lately, and you lie awake at night going over it.",
            move="summarize",
        ),
        turn("a", 3, "So you lie awake at night going over it."),  # a reflection said again
    ]
    rep = scorers.score_repetition(turns)
    assert rep["judged_replies"] == 3
    assert rep["repetition_rate"] == pytest.approx(1 / 3)  # only turn 3
    same_again = turns[:2] + [turn("a", 2, "So you lie awake at night going over it.", move="summarize")]
    assert scorers.score_repetition(same_again)["repetition_rate"] == pytest.approx(1 / 2)


def test_crisis_correctness_needs_fixed_text_and_no_model_call():
    turns = [
        turn(
            "a",
            0,
            "fixed",
            kind="crisis",
            model_calls=0,
            crisis_check={"fixed_text": True, "model_called": False, "ok": True},
        ),
        turn(
            "a",
            1,
            "fixed",
            kind="crisis",
            model_calls=1,
            crisis_check={"fixed_text": True, "model_called": True, "ok": False},
        ),
        turn(
            "b",
            0,
            "other",
            kind="crisis",
            model_calls=0,
            crisis_check={"fixed_text": False, "model_called": False, "ok": False},
        ),
        turn("b", 1, "a reply"),
    ]
    crisis = scorers.score_crisis(turns)
    assert crisis == {
        "crisis_turns": 3,
        "correct": 1,
        "correct_rate": pytest.approx(1 / 3),
        "wrong_text": 1,
        "model_called": 1,
    }


def test_speed_uses_listening_turns_and_time_inside_the_model():
    turns = [
        turn("a", 0, "x", tokens=20, model_s=2.0, latency_s=3.0, first_token_s=1.0),
        turn("a", 1, "y", tokens=40, model_s=2.0, latency_s=5.0, first_token_s=3.0),
        turn("a", 2, "z", kind="crisis", tokens=None, model_s=0.0, latency_s=0.01, first_token_s=None, model_calls=0),
    ]
    speed = scorers.score_speed(turns)
    assert speed["tokens_per_s"] == 15.0
    assert speed["latency_s"]["median"] == 4.0
    assert speed["first_token_s"]["mean"] == 2.0
    assert speed["crisis_latency_s"]["n"] == 1
    assert speed["model_calls_per_reply"] == 1.0


def test_unbounded_r_to_q_survives_json_and_reaches_the_report():
    turns = [turn("a", 0, "It sounds heavy.", code="reflection", subtype="complex")]
    metrics = scorers.score_all(turns, ["miti", "length", "speed"])
    assert metrics["miti"]["r_to_q"] == float("inf")
    safe = scorers.json_safe(metrics)
    assert json.loads(json.dumps(safe))["miti"]["r_to_q"] == "inf"
    assert report.fmt(safe["miti"]["r_to_q"]) == "∞"


def fake_summary(name, metrics):
    return {
        "run": name,
        "started_at": "2026-01-01T00:00:00+00:00",
        "runtime_s": 1.0,
        "scenarios": 1,
        "turns": 2,
        "sets": ["s"],
        "config": {
            "generation": {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9, "do_sample": True, "seed": 0},
            "listening": {"pipeline": True, "candidates": 3},
            "safety": {"semantic": True},
            "run": {"metrics": list(metrics)},
        },
        "provenance": {
            "model": {"backend": "scripted", "name": "m", "dtype": "", "weights_sha256": None},
            "git": {"commit": "abc", "dirty": False},
            "platform": {"python": "3.11", "cpu_count": 2},
            "packages": {"torch": "x", "transformers": "y"},
        },
        "metrics": metrics,
    }


def test_report_and_plots_are_written(tmp_path):
    turns = [
        turn("a", 0, "It sounds heavy.", code="reflection", subtype="complex"),
        turn("a", 1, "What helps?", code="question", subtype="open", latency_s=4.0),
    ]
    metrics = scorers.json_safe(scorers.score_all(turns, [*scorers.SCORERS, "crisis"]))
    summary = fake_summary("demo", metrics)
    path = report.write_report(tmp_path, summary, turns)
    text = path.read_text()
    assert "| R:Q (reflections per question) | 1.00 | fair ≥ 1, good ≥ 2 | fair |" in text
    assert "It sounds heavy." in text  # a sample exchange
    for name in report.PLOTS.values():
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name})" in text
    assert report.technique_mix(turns)["complex reflection"] == 1


def test_compare_lists_metrics_side_by_side_with_differences(tmp_path):
    a = fake_summary("a", {"miti": {"r_to_q": 1.0, "counts": {"question": 2}}, "speed": {"tokens_per_s": 10.0}})
    b = fake_summary("b", {"miti": {"r_to_q": "inf", "counts": {"question": 0}}, "speed": {"tokens_per_s": 12.5}})
    b["config"]["generation"]["temperature"] = 0.2
    for name, summary in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    table = compare.compare_dirs(tmp_path / "a", tmp_path / "b")
    lines = table.splitlines()
    assert "| speed.tokens_per_s | 10 | 12.5 | +2.5 |" in lines
    assert "| miti.r_to_q | 1 | ∞ | – |" in lines
    assert "| miti.counts.question | 2 | 0 | -2 |" in lines
    assert lines.index("| miti.r_to_q | 1 | ∞ | – |") < lines.index(
        "| speed.tokens_per_s | 10 | 12.5 | +2.5 |"
    )  # headline metrics first
    assert "generation.temperature: 0.7 → 0.2" in table
    with pytest.raises(compare.CompareError, match=r"summary\.json"):
        compare.compare_dirs(tmp_path / "a", tmp_path / "nope")


def test_cli_modules_import_without_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, evals.__main__, evals.runner, evals.scorers, evals.report, evals.compare, "
        "evals.datasets, evals.runconfig\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'matplotlib', "
        "'gradio') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_cli_compare_prints_the_table_and_bad_paths_exit_2(tmp_path, capsys):
    from evals.__main__ import main

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        summary = fake_summary(name, {"speed": {"tokens_per_s": 10.0 if name == "a" else 8.0}})
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "| speed.tokens_per_s | 10 | 8 | -2 |" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "No summary.json" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "Run config not found" in capsys.readouterr().err


def test_blind_pairs_join_run_files_per_system_and_leave_out_what_tells_nothing(tmp_path):
    import gzip
    import json

    from evals.blind import make

    def turn(tid, move, reply):
        return {"id": tid, "kind": "listening", "move": move, "user_text": f"line {tid}", "reply": reply}

    def write(name, rows):
        path = tmp_path / name
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
        return str(path)

    a1 = write("a1.jsonl", [turn("t1", "reflect", "A one"), turn("t2", "respond", "Hello.")])
    a2 = write("a2.jsonl.gz", [turn("t3", "reflect", "Same text")])
    b1 = write("b1.jsonl", [turn("t1", "reflect", "B one"), turn("t2", "respond", "Hello, again.")])
    b2 = write("b2.jsonl", [turn("t3", "reflect", "Same text")])
    out = tmp_path / "packet"
    made = make([a1, b1], [f"{a1}:new", f"{a2}:new", f"{b1}:old", f"{b2}:old"], out, 10, 0, drop_respond=True)
    assert made == {"audit_items": 2, "pairs": 1}  # t3 reads the same in both, t2 is a respond turn
    key = json.loads((out / "key.json").read_text())
    assert {k["turn"] for k in key.values() if "A" in k} == {"t1"}
    assert make([a1], [a1 + ":new", b1 + ":old"], tmp_path / "all", 10, 0)["pairs"] == 2  # respond kept
