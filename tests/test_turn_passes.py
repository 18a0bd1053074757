"""Work per turn, counted with fakes: one reading of the message, one coding and one rail check of
each candidate, no text embedded twice, and the final reply's coding reused by the turn record."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

import chatbot.engine
import chatbot.listening
from chatbot.coder import TechniqueCoder, load_labelled
from chatbot.config import default_settings
from chatbot.conversation import Turn
from chatbot.engine import Listener
from chatbot.listening import ReflectFirstPipeline
from safety import SafetyScreen, embeddings
from tests.conftest import ScriptedModel

USER = "Work has been piling up and I can't sleep."
SETTINGS = default_settings(seed=0)


class CountingEncoder:
    """Stands in for MiniLM: a fixed vector per text, and a record of every text it encodes."""

    def __init__(self) -> None:
        self.passes = 0
        self.texts: Counter[str] = Counter()

    def encode(self, texts, **_options):
        self.passes += 1
        self.texts.update(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.vstack(rows)


class CountingCoder:
    def __init__(self, coder: TechniqueCoder) -> None:
        self.coder = coder
        self.calls = 0

    def code(self, text, prompt=None):
        self.calls += 1
        return self.coder.code(text, prompt)

    def code_all(self, text, prompt=None):
        self.calls += 1
        return self.coder.code_all(text, prompt)


class CountingScreen:
    """The rules-only screen, counting output-rail runs."""

    def __init__(self) -> None:
        self.screen = SafetyScreen(semantic=False)
        self.rail_runs = 0

    def assess_message(self, *args, **kwargs):
        return self.screen.assess_message(*args, **kwargs)

    def check_reply(self, reply, user_text=""):
        self.rail_runs += 1
        return self.screen.check_reply(reply, user_text)

    def warm_up(self) -> None:
        pass


@pytest.fixture
def counted(monkeypatch):
    encoder = CountingEncoder()
    monkeypatch.setattr(embeddings, "load_embedder", lambda: encoder)
    embeddings.embed.clear()
    rows = [r for r in load_labelled() if r.get("split", "train") == "train"]
    coder = CountingCoder(TechniqueCoder.train(rows))  # on the fake vectors: deterministic, fast
    readings = Counter[str]()
    read = chatbot.listening.read_message

    def counting_read(text, rules=None):
        readings[text] += 1
        return read(text, rules)

    monkeypatch.setattr(chatbot.listening, "read_message", counting_read)
    monkeypatch.setattr(chatbot.engine, "read_message", counting_read)
    screen = CountingScreen()

    def turn(listener: Listener, conversation, text: str) -> dict:
        embeddings.embed.clear()  # a cold cache: the most a turn can cost
        encoder.passes, coder.calls, screen.rail_runs = 0, 0, 0
        encoder.texts.clear()
        readings.clear()
        record = listener.respond(conversation, text).consume()
        assert max(encoder.texts.values(), default=1) == 1, "a text was embedded twice in one turn"
        assert readings[text] <= 1, "the message was read twice"
        return {
            "encoder_passes": encoder.passes,
            "texts_encoded": sum(encoder.texts.values()),
            "codings": coder.calls,
            "rail_runs": screen.rail_runs,
            "readings": readings[text],
            "kind": record.kind,
            "fallback": record.meta.get("fallback"),
            "candidates": record.meta.get("candidates"),
            "technique": record.technique,
        }

    def listener(replies, pipeline: bool = True) -> Listener:
        model = ScriptedModel(replies)
        reply_pipeline = (
            ReflectFirstPipeline(model, coder, candidates=3, reply_check=screen.check_reply) if pipeline else None
        )
        return Listener(model, screen, settings=SETTINGS, pipeline=reply_pipeline, coder=coder)

    return turn, listener


def test_three_rejected_candidates_and_the_fallback_are_each_coded_and_checked_once(counted):
    turn, listener = counted
    bot = listener(["I went to the store yesterday.", "My cat sleeps all day.", "The weather was nice."])
    counts = turn(bot, bot.new_conversation(), USER)
    assert counts["kind"] == "listening" and counts["fallback"] is True and counts["candidates"] == 3
    # Before: 4 codings, 6 encoder passes over 16 texts (the message in each), 4 rail runs.
    assert (counts["codings"], counts["rail_runs"], counts["readings"]) == (4, 4, 1)
    assert (counts["encoder_passes"], counts["texts_encoded"]) == (4, 5)
    assert counts["technique"]["segments"]


def test_a_chosen_candidate_is_coded_and_checked_once(counted):
    turn, listener = counted
    bot = listener(["What makes work so hard when you can't sleep?"] * 3)
    conversation = bot.new_conversation()
    conversation.turns += [  # the third turn: a question move
        Turn("I had a long week.", "It sounds like a long week.", "listening"),
        Turn("Yes, really long.", "Long, and tiring.", "listening"),
    ]
    counts = turn(bot, conversation, USER)
    assert counts["kind"] == "listening" and counts["fallback"] is False and counts["candidates"] == 3
    # Before: 3 codings, 3 passes over 9 texts, 4 rail runs (the engine checked the chosen text again).
    assert (counts["codings"], counts["rail_runs"], counts["readings"]) == (3, 3, 1)
    assert (counts["encoder_passes"], counts["texts_encoded"]) == (1, 2)
    assert [s["code"] for s in counts["technique"]["segments"]] == ["question"]


def test_a_bare_model_reply_is_coded_once(counted):
    turn, listener = counted
    bot = listener(["It sounds like a lot. What keeps you up?"], pipeline=False)
    counts = turn(bot, bot.new_conversation(), USER)
    # Before: 2 codings (`code`, then `code_all` for the segments), 2 passes over 8 texts.
    assert (counts["codings"], counts["encoder_passes"], counts["texts_encoded"]) == (1, 1, 4)
    assert counts["rail_runs"] == 2  # each sentence is checked before it is shown
    assert [s["code"] for s in counts["technique"]["segments"]][-1] == "question"


def test_after_a_crisis_reply_the_message_is_read_once(counted):
    turn, listener = counted
    bot = listener(["It sounds like work keeps you awake."] * 3)
    conversation = bot.new_conversation()
    assert turn(bot, conversation, "I want to kill myself")["kind"] == "crisis"
    counts = turn(bot, conversation, "work has been piling up")
    assert counts["readings"] == 1  # before: 2, once by the engine and once by the pipeline
