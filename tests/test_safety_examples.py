"""The semantic layer's example files: never a message of the project set, one category per file."""

from __future__ import annotations


def test_no_example_is_a_message_of_the_project_set():
    from evals.safety_eval import load_messages
    from safety.normalize import normalize
    from safety.semantic import load_examples_file

    project = {normalize(m.text) for m in load_messages()}
    examples = load_examples_file()
    assert len(project) >= 300 and examples.crisis and examples.safe
    leaked = [e.id for e in (*examples.crisis, *examples.safe) if normalize(e.text) in project]
    assert leaked == []


def test_a_crisis_example_in_the_wrong_category_file_is_an_error(tmp_path, monkeypatch):
    import pytest

    from safety import semantic
    from safety.resources import ResourceFileError

    real = semantic._parse

    def parse(name, model):
        part = real(name, model)
        if name.endswith("abuse.yaml"):
            moved = part.examples[0].model_copy(update={"category": "suicide"})
            return part.model_copy(update={"examples": (moved, *part.examples[1:])})
        return part

    monkeypatch.setattr(semantic, "_parse", parse)
    with pytest.raises(ResourceFileError, match=r"abuse\.yaml"):
        semantic.load_examples_file()


def test_examples_are_embedded_in_id_order_with_numbered_ids():
    # int8 embeddings depend on the batch: a fixed order keeps the examples' vectors stable
    import re

    from safety.semantic import load_examples_file

    examples = load_examples_file()
    crisis, safe = [e.id for e in examples.crisis], [e.id for e in examples.safe]
    assert crisis == sorted(crisis) and safe == sorted(safe)
    assert all(re.fullmatch(r"ex-\d{4}", i) for i in crisis)
    assert all(re.fullmatch(r"ex-none-\d{4}", i) for i in safe)
