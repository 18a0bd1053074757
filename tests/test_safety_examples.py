"""The semantic layer's example files never contain a message of the project's safety test set."""

from __future__ import annotations


def test_no_example_is_a_message_of_the_project_set():
    from evals.safety_eval import DATA, load_messages
    from safety.normalize import normalize
    from safety.semantic import load_examples_file

    project = {normalize(m.text) for m in load_messages(DATA)}
    examples = load_examples_file()
    assert project and examples.crisis and examples.safe
    leaked = [e.id for e in (*examples.crisis, *examples.safe) if normalize(e.text) in project]
    assert leaked == []
