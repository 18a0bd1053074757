"""Stop reaches a reply that is being written in another thread.

A reply can be one long blocking call (the pipeline takes whole candidates from the model before
it shows a word), so closing the reply's stream is not enough: the generation itself has to look
at the person's Stop. `watching(event)` makes `event` visible to every model stream started inside
it (the GuardedModel checks it between pieces); a stopped stream raises `Stopped`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Stopped(Exception):
    """The person pressed Stop: the reply is abandoned and no turn is recorded."""


_signal: ContextVar[threading.Event | None] = ContextVar("stop_signal", default=None)


@contextmanager
def watching(event: threading.Event | None) -> Iterator[None]:
    """Within this block (same thread and context), model streams stop when `event` is set."""
    token = _signal.set(event)
    try:
        yield
    finally:
        _signal.reset(token)


def current() -> threading.Event | None:
    return _signal.get()


def check(event: threading.Event | None) -> None:
    if event is not None and event.is_set():
        raise Stopped
