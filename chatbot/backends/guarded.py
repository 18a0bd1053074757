"""A wrapper that gives every backend the same failure behaviour: a timeout, and errors as ModelError.

Backends differ in how they fail (a hung HTTP read, a stalled thread, MemoryError); the engine
should only ever see ModelError, and never wait forever.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence

from chatbot import stopping
from chatbot.models import ChatModel, GenerationSettings, Message, ModelError, ModelTimeoutError

_DONE = object()
_POLL_S = 0.05  # how often a waiting reader looks at the person's Stop


class GuardedModel:
    def __init__(self, inner: ChatModel, timeout_s: float = 60.0) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.identity = inner.identity

    def __getattr__(self, name):  # backend extras (e.g. batched sampling) stay reachable
        return getattr(self.inner, name)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        try:
            return self.inner.count_tokens(messages)
        except Exception as exc:
            raise ModelError(f"Could not count tokens: {type(exc).__name__}") from exc

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]:
        pieces: queue.Queue = queue.Queue()
        stop = threading.Event()
        asked = stopping.current()  # the person's Stop, when the caller watches one

        def pump() -> None:
            inner = self.inner.stream(messages, settings)
            try:
                for piece in inner:
                    if stop.is_set():
                        break
                    pieces.put(piece)
                pieces.put(_DONE)
            except BaseException as exc:  # handed to the reader, re-raised there
                pieces.put(exc)
            finally:
                close = getattr(inner, "close", None)
                if close:
                    close()

        worker = threading.Thread(target=pump, name="model-stream", daemon=True)
        worker.start()
        try:
            while True:
                item = self._next(pieces, asked)
                if item is _DONE:
                    return
                if isinstance(item, ModelError):
                    raise item
                if isinstance(item, MemoryError):
                    raise ModelError("The model ran out of memory") from item
                if isinstance(item, BaseException):
                    raise ModelError(f"The model failed: {type(item).__name__}") from item
                yield item
        finally:
            stop.set()  # a hung backend is abandoned; a live one stops at its next piece

    def _next(self, pieces: queue.Queue, asked: threading.Event | None):
        """The next item, or Stopped as soon as the person asks, or a timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            stopping.check(asked)
            wait = min(_POLL_S, deadline - time.monotonic()) if asked is not None else deadline - time.monotonic()
            if wait <= 0:
                raise ModelTimeoutError(f"No output from the model for {self.timeout_s:.0f} s")
            try:
                return pieces.get(timeout=wait)
            except queue.Empty:
                continue
