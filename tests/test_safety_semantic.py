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

    s = SafetyScreen(semantic=True, classifier=False)  # the nearest-example layer on its own
    s.warm_up()
    return s


def test_fast_embedder_matches_the_shared_embedder():
    from safety.embeddings import embed
    from safety.semantic import fast_embedder

    texts = ["I feel a bit low today", "I don't see the point of anything anymore"]
    fast = fast_embedder(int8=False)(texts)
    assert np.allclose((fast * embed(texts)).sum(1), 1.0, atol=1e-4)


def test_int8_encoder_stays_close_to_float_and_keeps_the_shared_model_float():
    from safety.embeddings import embed, load_embedder
    from safety.semantic import fast_embedder

    texts = ["I bought a hose for the car exhaust", "this homework is killing me", "I feel a bit low today"]
    cos = (fast_embedder(int8=True)(texts) * embed(texts)).sum(1)
    assert cos.min() > 0.9, cos
    first_linear = next(m for m in load_embedder()[0].auto_model.modules() if type(m).__name__ == "Linear")
    assert first_linear.weight.dtype.is_floating_point  # the app's shared model was not quantised


def test_a_crisis_sentence_inside_a_long_message_is_scored_on_its_own(screen):
    from safety.normalize import normalize
    from safety.semantic import _cached_vectors

    layer = screen.semantic_layer()
    text = normalize(
        "Work was long and the bus was late again. Honestly I wish I could go to sleep and never "
        "wake up. Anyway, what are you watching on TV these days? I started a new series about chefs."
    )
    rows = layer._score_vectors(_cached_vectors(layer.embed, text))
    assert len(rows) == 5  # the whole message and its four sentences, embedded in one call
    assert layer._decide(rows[0], False, False, False, False) is None  # the whole message is diluted
    assert layer.classify(text) is not None


def test_sentence_chunks_only_for_several_sentences_and_capped():
    from safety.semantic import MAX_CHUNKS, sentence_chunks

    assert sentence_chunks("i feel low today") == []
    assert sentence_chunks("ok. i feel low today") == []  # one sentence of three or more words
    assert sentence_chunks("i feel low today. the bus was late again") == [
        "i feel low today.",
        "the bus was late again",
    ]
    many = " ".join(f"sentence number {i} is here." for i in range(30))
    chunks = sentence_chunks(many)
    assert len(chunks) <= MAX_CHUNKS and " ".join(chunks) == many


def test_other_languages_route_semantically_only_on_near_copies(screen):
    layer = screen.semantic_layer()
    assert layer.looks_other_language("ich bin so mude heute")
    assert layer.looks_other_language("estoy muy cansada de todo")
    assert not layer.looks_other_language("he raped me and told me no one would believe me")
    assert not screen.assess_message("Diese Kälte bringt mich um").route


def test_example_ids_are_unique_across_files():
    from safety.semantic import load_examples_file

    ex = load_examples_file()
    ids = [e.id for e in (*ex.crisis, *ex.safe)]
    assert len(ids) == len(set(ids)) and len(ex.crisis) >= 600 and len(ex.safe) >= 400


def test_paraphrase_without_keywords_is_caught(screen):
    text = "it would be simpler for everybody if I stopped being around"
    rules_only = screen.rules
    from safety.normalize import normalize
    from safety.rules import match

    assert not [h for h in match(normalize(text), rules_only) if h.rule.kind == "crisis"]
    a = screen.assess_message(text)
    assert a.route and a.category == "suicide" and any(e.startswith("example:") for e in a.evidence)


def test_project_set_targets(screen):
    """The first hand-written set (corpus source "project-set", every split) meets the targets."""
    from evals.safety_eval import evaluate, load_dialogues, load_messages, summarize

    messages = load_messages()
    result = evaluate(screen, messages, load_dialogues())
    s = summarize(result, {m.id: m.text for m in messages})
    assert s["n_crisis"] >= 150 and s["n_buildups"] >= 10
    assert s["recall"] >= 0.98, s["misses"]
    assert all(v["recall"] >= 0.95 for v in s["per_category"].values()), s["per_category"]
    assert s["false_alarm_rate"] <= 0.05, s["false_alarms"]
    assert s["buildups_ok"] == s["n_buildups"], s["conversation_failures"]
