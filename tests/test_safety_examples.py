"""The semantic layer's example files: folded blind sets are reproducible and the project set stays unseen."""

from __future__ import annotations

from pathlib import Path


def test_examples_fresh_is_exactly_what_fold_fresh_generates():
    from evals.safety_eval import DATA
    from safety.fold_fresh import fold

    committed = (Path(__file__).parents[1] / "safety" / "examples_fresh.yaml").read_text("utf-8")
    assert (
        fold(
            DATA,
            [
                "fresh",
                "fresh2",
                "fresh3",
                "fresh4",
                "fresh5",
                "fresh6",
                "fresh7",
                "fresh8",
                "fresh9",
                "fresh10",
                "fresh11",
                "fresh12",
            ],
        )
        == committed
    )


def test_fold_skips_messages_that_are_in_the_project_set(tmp_path):
    import shutil

    from evals.safety_eval import DATA
    from safety.fold_fresh import fold

    for name in ("crisis.yaml", "non_crisis.yaml", "conversations.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "blind").mkdir()
    (tmp_path / "blind" / "crisis.yaml").write_text(
        'suicide:\n  - {text: "I\'m so tired of being alive"}\n  - {text: "a brand new wording"}\n', "utf-8"
    )
    (tmp_path / "blind" / "non_crisis.yaml").write_text('g:\n  - "an ordinary day"\n', "utf-8")
    text = fold(tmp_path, ["blind"])
    assert "brand new wording" in text and "an ordinary day" in text
    assert "tired of being alive" not in text  # that sentence is in the project set
