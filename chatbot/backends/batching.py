"""Continuous batching: the pending replies of different people decoded together, one step at a time.

A request joins at the next step and leaves when it is done; each person's tokens go to their own
stream. Decoding a small model on a CPU is bound by per-step overhead and memory traffic, so one
step for eight sequences costs little more than a step for one. The scheduler knows nothing of
the engine beyond `BatchEngine`: the llama.cpp backend implements it, and tests can use a fake.

A slot keeps its cache when its reply ends, and a new request goes to the free slot whose cached
tokens share the longest prefix with its prompt: the next turn of a conversation (its prompt is
the last one plus the reply and a new message), another candidate for the same turn, or the same
system prompt, is then fed only from where it differs.

Sampling follows transformers' `generate` (repetition penalty, temperature, top-k 50, top-p) with a
random generator per request, so a seeded reply does not depend on who else is being answered.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from chatbot.models import GenerationSettings, ModelError, ModelTimeoutError

TOP_K = 50  # transformers' default for sampling, which the torch path uses too
MIN_FORK_TOKENS = 16  # a shorter shared prefix is cheaper to feed again than to copy
SAME_PROMPT = 0.9  # share of a prompt already being fed above which a request waits to copy it


class BatchEngine(Protocol):
    """Runs pieces of several sequences, each in its own slot, in one forward pass."""

    slots: int
    max_batch_tokens: int

    def decode(self, pieces: Sequence[tuple[int, Sequence[int], int]]) -> list[np.ndarray]:
        """(slot, tokens, position of the first token) per piece -> the logits after each piece's last token."""
        ...

    def forget(self, slot: int, keep: int) -> None:
        """Drop a slot's cached keys and values from position `keep` on."""
        ...

    def copy(self, source: int, slot: int, keep: int) -> None:
        """Make `slot` hold the first `keep` cached positions of `source` (and nothing else)."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def is_end(self, token: int) -> bool: ...


def next_token(logits: np.ndarray, seen: Sequence[int], settings: GenerationSettings, rng: np.random.Generator) -> int:
    scores = logits.astype(np.float32, copy=True)
    if settings.repetition_penalty != 1.0 and len(seen):
        ids = np.unique(np.asarray(seen, dtype=np.int64))
        picked = scores[ids]
        scores[ids] = np.where(picked < 0, picked * settings.repetition_penalty, picked / settings.repetition_penalty)
    if not settings.do_sample or settings.temperature <= 0:
        return int(np.argmax(scores))
    scores /= settings.temperature
    top = np.argpartition(scores, -TOP_K)[-TOP_K:]
    top = top[np.argsort(scores[top])]  # ascending, as transformers' top-p sorts
    probs = np.exp(scores[top] - scores[top[-1]])
    probs /= probs.sum()
    # top-p drops the low tail whose mass is at most 1 - top_p, keeping at least one token
    keep = np.cumsum(probs) > 1 - settings.top_p
    keep[-1] = True
    kept, kept_probs = top[keep], probs[keep]
    return int(rng.choice(kept, p=kept_probs / kept_probs.sum()))


_DONE = object()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(eq=False)
class Request:
    prompt: list[int]
    settings: GenerationSettings
    rng: np.random.Generator
    pieces: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    slot: int | None = None
    fed: int = 0  # prompt tokens already in the slot's cache
    in_cache: int = 0  # tokens of prompt + generated whose keys and values the slot holds
    generated: list[int] = field(default_factory=list)
    sent: str = ""
    submitted_at: float = field(default_factory=time.perf_counter)

    def cancel(self) -> None:
        self.cancelled.set()


class Scheduler:
    """One background thread that steps every active request together."""

    def __init__(self, engine: BatchEngine, on_step: Callable[[int], None] | None = None) -> None:
        self.engine = engine
        self.on_step = on_step  # called with the batch size of each step (benchmarks, tests)
        self._waiting: deque[Request] = deque()
        self._active: list[Request] = []
        self._free = list(range(engine.slots))
        self._cached: list[list[int]] = [[] for _ in range(engine.slots)]  # tokens each slot holds
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="batch-decode", daemon=True)
        self._thread.start()

    # ---- what callers use
    def submit(self, prompt: Sequence[int], settings: GenerationSettings) -> Request:
        seed = settings.seed if settings.seed is not None else int(time.time_ns() % 2**32)
        request = Request(list(prompt), settings, np.random.default_rng(seed))
        with self._wake:
            if self._closed:
                raise ModelError("The model has been shut down.")
            self._waiting.append(request)
            self._wake.notify()
        return request

    def pieces(self, request: Request, timeout_s: float) -> Generator[str]:
        """The request's text as it is decoded; closing the iterator cancels the request."""
        try:
            while True:
                try:
                    item = request.pieces.get(timeout=timeout_s)
                except queue.Empty:
                    raise ModelTimeoutError(f"No output from the model for {timeout_s:.0f} s") from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise ModelError(f"The model failed: {type(item).__name__}") from item
                yield item
        finally:
            request.cancel()
            with self._wake:
                self._wake.notify()

    def load(self) -> tuple[int, int]:
        """(requests being decoded, requests waiting for a slot)."""
        with self._wake:
            return len(self._active), len(self._waiting)

    def forget_prompts(self) -> None:
        """Empty the caches of the free slots (benchmarks time cold prompts with it)."""
        with self._wake:
            for slot in self._free:
                self.engine.forget(slot, 0)
                self._cached[slot] = []

    def close(self) -> bool:
        """Stop the decode loop; True once it has stopped (the engine may then be freed)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)
        return not self._thread.is_alive()

    # ---- the decode loop
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self._active:
                    self._wake.wait()
                if self._closed:
                    for request in itertools.chain(self._active, self._waiting):
                        request.pieces.put(ModelError("The model has been shut down."))
                    return
                deferred: list[Request] = []
                while self._free and self._waiting:
                    request = self._waiting.popleft()
                    if request.cancelled.is_set():
                        continue
                    if not self._admit(request):
                        deferred.append(request)
                self._waiting.extendleft(reversed(deferred))
            for request in [r for r in self._active if r.cancelled.is_set()]:
                self._finish(request)
            if self._active:
                self._step()

    def _admit(self, request: Request) -> bool:
        """Give the request a free slot, starting from the longest cached prefix of its prompt.

        That prefix is either what a free slot still holds, or what an active request has fed: then
        the slot gets a copy of that request's cache (the candidates of one reply share a prompt).
        Returns False, leaving the request waiting, while an active request is still feeding
        nearly the same prompt (another candidate of the same reply): copying it once it is in is
        cheaper than feeding it twice. A request that only shares a part (another person's reply
        with the same instructions) does not wait: chained waits would feed one prompt at a time.
        """
        shared = {slot: common_prefix(self._cached[slot], request.prompt) for slot in self._free}
        slot = max(self._free, key=lambda s: (shared[s], -s))
        own = shared[slot]
        source, copied = None, own
        for other in self._active:
            if other.slot is None or common_prefix(other.prompt, request.prompt) < own + MIN_FORK_TOKENS:
                continue
            prefix = common_prefix(other.prompt, request.prompt)
            if (
                other.fed < len(other.prompt)
                and other.in_cache < prefix
                and prefix >= SAME_PROMPT * len(request.prompt)
            ):
                return False  # nearly the same prompt is being fed: wait for it rather than feed it twice
            in_cache = common_prefix((other.prompt + other.generated)[: other.in_cache], request.prompt)
            if in_cache > copied:
                source, copied = other, in_cache
        keep = min(copied, len(request.prompt) - 1)  # feed one token at least: its logits are wanted
        if source is not None and source.slot is not None:
            self.engine.copy(source.slot, slot, keep)
        else:
            self.engine.forget(slot, keep)
        self._cached[slot] = request.prompt[:keep]
        request.slot, request.fed, request.in_cache = slot, keep, keep
        self._free.remove(slot)
        self._active.append(request)
        return True

    def _step(self) -> None:
        work: list[tuple[Request, list[int], int]] = []
        budget = self.engine.max_batch_tokens
        for request in self._active:  # one new token for each sequence already decoding
            if request.fed == len(request.prompt):
                work.append((request, request.generated[-1:], len(request.prompt) + len(request.generated) - 1))
                budget -= 1
        for request in self._active:  # then prompts, in order of arrival, as far as the budget goes
            if request.fed < len(request.prompt) and budget > 0:
                chunk = request.prompt[request.fed : request.fed + budget]
                work.append((request, chunk, request.fed))
                budget -= len(chunk)
        try:
            logits = self.engine.decode([(r.slot, tokens, start) for r, tokens, start in work if r.slot is not None])
        except Exception as exc:  # every request in this batch hears of it; the loop goes on
            for request, _, _ in work:
                request.in_cache = 0  # what the failed step left in the cache is unknown
                request.pieces.put(exc)
                self._finish(request, notify=False)
            return
        if self.on_step:
            self.on_step(len(work))
        for (request, tokens, start), row in zip(work, logits):
            request.in_cache = start + len(tokens)
            if request.fed < len(request.prompt):
                request.fed += len(tokens)
                if request.fed < len(request.prompt):
                    continue  # more prompt to feed; these logits are not wanted
            token = next_token(row, request.prompt + request.generated, request.settings, request.rng)
            if self.engine.is_end(token):
                self._finish(request)
                continue
            request.generated.append(token)
            text = self.engine.detokenize(request.generated)
            # hold back a split multi-byte character until its last byte arrives
            if not text.endswith("\ufffd") and len(text) > len(request.sent):
                request.pieces.put(text[len(request.sent) :])
                request.sent = text
            if len(request.generated) >= request.settings.max_new_tokens:
                self._finish(request)

    def _finish(self, request: Request, notify: bool = True) -> None:
        with self._wake:
            if request in self._active:
                self._active.remove(request)
                if request.slot is not None:
                    held = (request.prompt + request.generated)[: request.in_cache]
                    self.engine.forget(request.slot, len(held))
                    self._cached[request.slot] = held
                    self._free.append(request.slot)
                    request.slot = None
        if notify:
            request.pieces.put(_DONE)
