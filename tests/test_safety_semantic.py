"""The semantic layer and the set-level targets on the project's own test set (loads MiniLM once)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def screen():
    from safety import SafetyScreen

    s = SafetyScreen(semantic=True)
    s.warm_up()
    return s


def test_fast_embedder_matches_the_shared_embedder(screen):
    from chatbot.embeddings import embed

    texts = ["I feel a bit low today", "I don't see the point of anything anymore"]
    fast = screen.semantic_layer().embed(texts)
    assert np.allclose((fast * embed(texts)).sum(1), 1.0, atol=1e-4)


def test_paraphrase_without_keywords_is_caught(screen):
    text = "it would be simpler for everybody if I stopped being around"
    rules_only = screen.rules
    from safety.normalize import normalize
    from safety.rules import match

    assert not [h for h in match(normalize(text), rules_only) if h.rule.kind == "crisis"]
    a = screen.assess_message(text)
    assert a.route and a.category == "suicide" and any(e.startswith("example:") for e in a.evidence)


def test_examples_are_kept_apart_from_the_test_set():
    from evals.safety_eval import DATA, load_messages
    from safety.normalize import normalize
    from safety.semantic import load_examples_file

    ex = load_examples_file()
    example_texts = {normalize(e.text) for e in (*ex.crisis, *ex.safe)}
    for folder in (DATA, DATA / "fresh"):
        overlap = [m.text for m in load_messages(folder) if normalize(m.text) in example_texts]
        assert overlap == []


@pytest.mark.parametrize("folder", ["", "fresh"])
def test_set_level_targets(screen, folder):
    from evals.safety_eval import DATA, evaluate, load_dialogues, load_messages, summarize

    data = DATA / folder if folder else DATA
    messages = load_messages(data)
    result = evaluate(screen, messages, load_dialogues(data))
    s = summarize(result, {m.id: m.text for m in messages})
    assert s["recall"] >= 0.98, s["misses"]
    assert all(v["recall"] >= 0.95 for v in s["per_category"].values()), s["per_category"]
    assert s["false_alarm_rate"] <= 0.05, s["false_alarms"]
    assert s["buildups_ok"] == s["n_buildups"], s["conversation_failures"]
