"""Stop reaches a reply written in one blocking call, and frees the model for the next message."""

from __future__ import annotations

import threading
import time

import pytest

from chatbot.backends.guarded import GuardedModel
from chatbot.engine import Listener
from chatbot.stopping import Stopped
from tests.conftest import ScriptedModel


class EndlessModel(ScriptedModel):
    """Holds one lock while it generates, like the transformers backend, until its stream is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def stream(self, messages, settings):
        with self.lock:
            while True:
                time.sleep(0.01)
                yield " word"


class BlockingPipeline:
    """Takes a whole candidate from the model before it returns, as ReflectFirstPipeline does."""

    def __init__(self, model) -> None:
        self.model = model

    def reply(self, history, user_text, settings, reading=None):
        "".join(self.model.stream(history, settings))
        raise AssertionError("an endless candidate cannot finish")


def test_stop_reaches_inside_the_pipeline_and_frees_the_model(screen):
    inner = EndlessModel()
    model = GuardedModel(inner, timeout_s=60)
    listener = Listener(model, screen, pipeline=BlockingPipeline(model))
    conv = listener.new_conversation()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        listener.respond(conv, "Work has been a lot lately.", stop=stop).consume()
    assert time.monotonic() - started < 10  # not the 60 s timeout
    assert conv.turns == []
    assert inner.lock.acquire(timeout=10), "the stopped generation still holds the model"
    inner.lock.release()


def test_stop_ends_a_bare_model_stream_between_pieces(screen):
    inner = EndlessModel()
    listener = Listener(GuardedModel(inner, timeout_s=60), screen)
    conv = listener.new_conversation()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(Stopped):
        listener.respond(conv, "Work has been a lot lately.", stop=stop).consume()
    assert conv.turns == []
    assert inner.lock.acquire(timeout=10)
    inner.lock.release()


class SeedRecordingModel(ScriptedModel):
    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int | None] = []

    def stream(self, messages, settings):
        self.seeds.append(settings.seed)
        yield from super().stream(messages, settings)


def test_each_retry_samples_with_its_own_seed(screen):
    model = SeedRecordingModel()
    listener = Listener(model, screen)
    conv = listener.new_conversation()
    for attempt in (0, 1, 2, 0):
        listener.respond(conv, "Work has been a lot lately.", attempt=attempt).consume()
    assert model.seeds[0] == model.seeds[3] == listener.settings.seed  # a first try is reproducible
    assert len(set(model.seeds[:3])) == 3
