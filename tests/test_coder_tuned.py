"""The fine-tuned technique coder: pieces, alignment with gold segments, figures, a short training run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.coder.codes import Code
from chatbot.coder.tuned import CodedPiece, align, pieces, score_pairs


def test_pieces_are_sentences_in_order():
    text = "Mm. So you're tired of it... and, um, what would help? Right."
    spans = pieces(text)
    assert [text[a:b] for a, b in spans] == ["Mm.", "So you're tired of it...", "and, um, what would help?", "Right."]


def test_each_gold_segment_takes_the_code_covering_most_of_it():
    row = {
        "text": "You're worn out. What keeps you going?",
        "segments": [
            {"text": "You're worn out.", "code": "reflection", "subtype": "simple"},
            {"text": "What keeps you going?", "code": "question", "subtype": "open"},
        ],
    }
    coded = [
        CodedPiece(0, 16, Code("reflection", "simple", 0.9, "encoder")),
        CodedPiece(17, 38, Code("question", "open", 0.8, "encoder")),
    ]
    assert [(s["code"], c.code) for s, c in align(row, coded)] == [
        ("reflection", "reflection"),
        ("question", "question"),
    ]


def test_figures_count_four_classes_and_the_reflection_question_confusion():
    pairs = [
        ("reflection:simple", "reflection:complex"),
        ("question:open", "question:open"),
        ("summary", "reflection:simple"),
        ("advice", "question:closed"),
        ("affirmation", "other"),
    ]
    figures = score_pairs(pairs)
    assert figures["accuracy_9"] == 0.2
    assert figures["reflection_vs_question_accuracy"] == 1.0  # 3 of 3 reflection/question segments
    assert figures["simple_vs_complex_accuracy"] == 0.0
    assert figures["confusion_4"]["info_advice->question"] == 1
    assert 0 < figures["macro_f1_4"] < 1


@pytest.mark.slow
def test_a_short_training_run_codes_turns(tmp_path: Path, monkeypatch):
    from chatbot.coder import tuned
    from safety.encoder import TrainSettings

    rows = [
        {"id": f"r{i}", "prompt": "I can't sleep.", "text": text, "segments": [{"text": text, **label}]}
        for i, (text, label) in enumerate(
            [
                ("You're exhausted.", {"code": "reflection", "subtype": "simple"}),
                ("What keeps you awake?", {"code": "question", "subtype": "open"}),
                ("You should try a warm bath.", {"code": "advice", "permission": False}),
                ("Mm-hm.", {"code": "other"}),
            ]
            * 4
        )
    ]
    data = tmp_path / "turns"
    data.mkdir()
    (data / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    monkeypatch.setattr(tuned, "data_dir", lambda: data)
    settings = TrainSettings(epochs=1, rank=4, batch_size=8, loss="softmax")
    meta = tuned.train(tmp_path / "model", settings, progress=False, with_labelled=False)
    assert meta["labels"] == list(tuned.LABELS) and meta["temperature"] > 0
    coder = tuned.TunedCoder.load(tmp_path / "model")
    first = coder.code_all("You're exhausted. What keeps you awake?", "I can't sleep.")
    assert first == coder.code_all("You're exhausted. What keeps you awake?", "I can't sleep.")  # deterministic
    assert all(c.evidence == "encoder" and 0 < c.confidence <= 1 for c in first)


def test_default_coder_refuses_an_unknown_kind():
    from chatbot.coder import default_coder

    with pytest.raises(ValueError, match="unknown coder"):
        default_coder("neural")


@pytest.mark.slow
def test_the_shipped_coder_codes_alone_and_in_batches_alike():
    from chatbot.coder import default_coder
    from chatbot.coder.tuned import TunedCoder, has_tuned_model

    if not has_tuned_model():
        pytest.skip("no tuned coder model in this checkout")
    coder = default_coder()
    assert isinstance(coder, TunedCoder)
    turns = [
        ("So it's been weeks of this. What keeps you going?", "I haven't slept properly in weeks."),
        ("", None),
        ("You might try writing it down before bed.", "My mind races at night."),
    ]
    batched = coder.code_many(turns * 20)
    for (text, prompt), codes in zip(turns * 20, batched):
        alone = coder.code_all(text, prompt)
        assert [(c.code, c.subtype) for c in codes] == [(c.code, c.subtype) for c in alone]
        assert [c.confidence for c in codes] == pytest.approx([c.confidence for c in alone], abs=0.002)
    assert batched[1] == [coder.code_all("")[0]] and batched[1][0].evidence == "rule:empty"


def test_every_training_turn_is_well_formed_and_ids_are_unique():
    from chatbot.coder.tuned import load_turns

    rows = load_turns()  # raises on a segment that is not the next part of its turn, a bad label...
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) and len(rows) >= 1600


@pytest.mark.parametrize(
    "segments, problem",
    [
        ([{"text": "You're tired.", "code": "reflection", "subtype": "simple"}], "words after"),
        ([{"text": "What helps?", "code": "question", "subtype": "open"}], "words between"),
        ([{"text": "You're tired. What helps?", "code": "advice"}], "permission"),
        ([{"text": "You're tired. What helps?", "code": "question", "subtype": "rhetorical"}], "unknown label"),
    ],
)
def test_a_badly_segmented_turn_is_refused_with_its_line(tmp_path: Path, segments, problem):
    from chatbot.coder.tuned import load_turns

    row = {"id": "t1", "prompt": "I'm tired.", "text": "You're tired. What helps?", "segments": segments}
    path = tmp_path / "turns.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=problem) as error:
        load_turns([path])
    assert "turns.jsonl:1" in str(error.value)


def test_calibration_error_is_zero_when_confidence_matches_accuracy_and_grows_with_overconfidence():
    from chatbot.coder.tuned import calibration_error

    assert calibration_error([0.75] * 4, [True, True, True, False]) == 0.0
    assert calibration_error([0.95] * 4, [True, False, True, False]) == 0.45
