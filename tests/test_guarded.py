"""Every backend fails the same way behind the guard: ModelError, never a hang."""

from __future__ import annotations

import threading
import time

import pytest

from chatbot.backends.guarded import GuardedModel
from chatbot.config import default_settings
from chatbot.models import ModelError, ModelTimeoutError
from tests.conftest import ScriptedModel

SETTINGS = default_settings()
MESSAGES = [{"role": "user", "content": "hello"}]


class HangingModel(ScriptedModel):
    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def stream(self, messages, settings):
        yield "It"
        self.release.wait(30)  # a stalled server or thread
        yield " sounds"


class OutOfMemoryModel(ScriptedModel):
    def stream(self, messages, settings):
        yield "It"
        raise MemoryError


def test_passes_pieces_through_unchanged():
    guarded = GuardedModel(ScriptedModel(["one two three"]), timeout_s=5)
    assert list(guarded.stream(MESSAGES, SETTINGS)) == ["one", " two", " three"]
    assert guarded.identity.backend == "scripted"


def test_a_hanging_backend_times_out():
    inner = HangingModel()
    guarded = GuardedModel(inner, timeout_s=0.5)
    stream = guarded.stream(MESSAGES, SETTINGS)
    assert next(stream) == "It"
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError):
        next(stream)
    assert time.monotonic() - started < 5
    inner.release.set()


def test_out_of_memory_becomes_a_model_error():
    with pytest.raises(ModelError, match="out of memory"):
        list(GuardedModel(OutOfMemoryModel(), timeout_s=5).stream(MESSAGES, SETTINGS))


def test_engine_turns_a_hang_into_a_calm_message_and_keeps_going():
    from chatbot.engine import Listener
    from safety import SafetyScreen

    inner = HangingModel()
    listener = Listener(GuardedModel(inner, timeout_s=0.5), SafetyScreen(semantic=False))
    conv = listener.new_conversation()
    turn = listener.respond(conv, "Work has been a lot lately.").consume()
    assert turn.kind == "model_error" and turn.meta["timeout"] is True
    inner.release.set()
    assert listener.respond(conv, "I want to kill myself").consume().kind == "crisis"
