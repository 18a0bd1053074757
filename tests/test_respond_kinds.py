"""The learned reader of fixed-text kinds (greetings, thanks, goodbyes...) that the rules' cues miss."""

import numpy as np
import pytest

from chatbot.coder import TechniqueCoder
from chatbot.coder.respond_kinds import LEARNED_KINDS, RespondKinds
from chatbot.config import default_settings
from chatbot.listening import RESPOND, ReflectFirstPipeline, read_message
from tests.conftest import ExplodingModel

SETTINGS = default_settings(max_new_tokens=40, seed=0)


@pytest.fixture(scope="module")
def coder() -> TechniqueCoder:
    return TechniqueCoder.load()


def one_hot_reader(kind: str, classes=("listen", "asks_advice", "greeting")) -> RespondKinds:
    """Weights that put all probability on `kind` for any embedding."""
    coef = np.zeros((len(classes), 4), dtype=np.float32)
    intercept = np.array([10.0 if c == kind else 0.0 for c in classes], dtype=np.float32)
    return RespondKinds(tuple(classes), coef, intercept)


def fake_embed(texts):
    return np.ones((len(texts), 4), dtype=np.float32)


def test_it_answers_only_short_messages_and_only_its_own_kinds():
    assert one_hot_reader("greeting").kind("heyyy", fake_embed) == "greeting"
    assert one_hot_reader("greeting").kind("hey " * 25, fake_embed) is None  # long: something to reflect
    assert one_hot_reader("asks_advice").kind("how do i feed the kids this week", fake_embed) is None
    assert one_hot_reader("listen").kind("my dog died", fake_embed) is None
    assert "asks_advice" not in LEARNED_KINDS and "question" not in LEARNED_KINDS


def test_the_pipeline_gives_the_fixed_text_without_asking_the_model(coder):
    pipeline = ReflectFirstPipeline(
        ExplodingModel(), coder, respond_kinds=one_hot_reader("greeting"), embed_fn=fake_embed
    )
    planned = pipeline.reply([], "heyyy", SETTINGS)
    assert planned.move == RESPOND and planned.tokens == 0
    assert read_message("heyyy").kind is None  # the rules alone would have reflected it


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("heyyy there", "greeting"),
        ("gotta run now, talk soon", "goodbye"),
        ("wait what do u mean by that", "clarify"),
        ("can we talk about literally anything else", "change_topic"),
    ],
)
def test_the_shipped_weights_read_wordings_the_rules_miss(said, kind):
    from safety.embeddings import embed

    assert read_message(said).kind is None
    assert RespondKinds.load().kind(said, embed) == kind


@pytest.mark.parametrize(
    "said",
    [
        "she said hello to me at the bus stop and i froze",
        "my mum never says thank you for anything",
        "i keep wanting to leave the job but i stay",
    ],
)
def test_the_shipped_weights_leave_disclosures_to_the_listener(said):
    from safety.embeddings import embed

    assert RespondKinds.load().kind(said, embed) is None


def test_the_corpus_figures_count_what_the_reader_adds():
    from evals.respond_kinds import evaluate

    figures = evaluate("validation")
    assert figures["respond_lines"] > 0 and figures["listen_lines"] > 0
    assert figures["respond_fixed_by_learned"] > 0  # lines the cues missed
    assert figures["listen_fixed_by_learned"] == 0
