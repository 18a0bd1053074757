"""Continuous batching (chatbot/backends/batching.py) against a fake engine that checks its own bookkeeping.

The fake's next-token logits depend on the whole token history of a slot, so a reply comes out the
same only if the scheduler feeds every slot its own tokens, at the right positions, and clears a
slot before reusing it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from chatbot.backends.batching import TOP_K, Scheduler, next_token
from chatbot.models import GenerationSettings, ModelError

VOCAB = 64
END = 0


class HistoryEngine:
    """Logits from a hash of the slot's token history; raises if positions are not contiguous."""

    def __init__(self, slots: int, max_batch_tokens: int = 16, fail_on: int | None = None) -> None:
        self.slots = slots
        self.max_batch_tokens = max_batch_tokens
        self.history: dict[int, list[int]] = {s: [] for s in range(slots)}
        self.batch_sizes: list[int] = []
        self.fed = 0  # tokens decoded in all
        self.copies = 0
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def decode(self, pieces: Sequence[tuple[int, Sequence[int], int]]) -> list[np.ndarray]:
        assert sum(len(tokens) for _, tokens, _ in pieces) <= self.max_batch_tokens
        assert len({slot for slot, _, _ in pieces}) == len(pieces), "a slot twice in one step"
        rows = []
        for slot, tokens, start in pieces:
            if self.fail_on is not None and self.fail_on in tokens:
                raise RuntimeError("engine failure")
            assert start == len(self.history[slot]), f"slot {slot}: position {start}, cache {len(self.history[slot])}"
            self.history[slot].extend(tokens)
            self.fed += len(tokens)
            seed = hash(tuple(self.history[slot])) % 2**32
            logits = np.random.default_rng(seed).normal(size=VOCAB).astype(np.float32)
            logits[END] = 4.0 if len(self.history[slot]) > 30 else -9.0
            rows.append(logits)
        self.batch_sizes.append(len(pieces))
        time.sleep(0.001)  # let submitters in between steps, as a real step would
        return rows

    def forget(self, slot: int, keep: int) -> None:
        self.history[slot] = self.history[slot][:keep]

    def copy(self, source: int, slot: int, keep: int) -> None:
        self.history[slot] = self.history[source][:keep]
        self.copies += 1

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(f" w{t}" for t in tokens)

    def is_end(self, token: int) -> bool:
        return token == END


def settings(**changes) -> GenerationSettings:
    base = GenerationSettings(
        max_new_tokens=40, temperature=0.7, top_p=0.9, repetition_penalty=1.1, do_sample=False, seed=0
    )
    return base.with_(**changes)


def prompt(i: int) -> list[int]:
    return [1 + (i * 7 + k) % (VOCAB - 1) for k in range(5 + i % 9)]


def reply(scheduler: Scheduler, tokens: list[int], s: GenerationSettings) -> str:
    return "".join(scheduler.pieces(scheduler.submit(tokens, s), timeout_s=10))


def replies_together(scheduler: Scheduler, prompts: list[list[int]], s: GenerationSettings) -> list[str]:
    out: list[str] = [""] * len(prompts)

    def run(i: int) -> None:
        out[i] = reply(scheduler, prompts[i], s)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return out


@pytest.mark.parametrize("do_sample", [False, True], ids=["greedy", "seeded-sampling"])
def test_replies_are_the_same_alone_and_batched(do_sample):
    prompts = [prompt(i) for i in range(10)]
    alone = Scheduler(HistoryEngine(slots=1))
    expected = [reply(alone, p, settings(do_sample=do_sample)) for p in prompts]
    alone.close()
    engine = HistoryEngine(slots=4)
    together = Scheduler(engine)
    got = replies_together(together, prompts, settings(do_sample=do_sample))
    together.close()
    assert got == expected
    assert all(text for text in got)
    assert max(engine.batch_sizes) > 1, "never decoded two replies in one step"


def test_a_request_joins_while_another_is_decoding():
    engine = HistoryEngine(slots=2)
    scheduler = Scheduler(engine)
    first = scheduler.pieces(scheduler.submit(prompt(1), settings()), timeout_s=10)
    next(first)  # the first reply is under way
    second = reply(scheduler, prompt(2), settings())
    rest = "".join(first)
    scheduler.close()
    assert second and rest
    assert 2 in engine.batch_sizes


def test_closing_a_stream_frees_its_slot_for_the_next_person():
    engine = HistoryEngine(slots=1)
    scheduler = Scheduler(engine)
    stream = scheduler.pieces(scheduler.submit(prompt(3), settings(max_new_tokens=500)), timeout_s=10)
    next(stream)
    stream.close()  # the person pressed Stop
    assert reply(scheduler, prompt(4), settings()) == reply(Scheduler(HistoryEngine(slots=1)), prompt(4), settings())
    assert scheduler.load() == (0, 0)
    scheduler.close()


def test_waiting_requests_are_counted_and_served_in_order():
    engine = HistoryEngine(slots=1)
    scheduler = Scheduler(engine)
    first = scheduler.pieces(scheduler.submit(prompt(5), settings(max_new_tokens=500)), timeout_s=10)
    next(first)
    waiting = [scheduler.submit(prompt(6 + i), settings()) for i in range(3)]
    assert scheduler.load() == (1, 3)
    first.close()
    texts = ["".join(scheduler.pieces(request, timeout_s=10)) for request in waiting]
    assert all(texts)
    assert scheduler.load() == (0, 0)
    scheduler.close()


def test_an_engine_failure_reaches_its_requests_and_the_loop_goes_on():
    engine = HistoryEngine(slots=2, fail_on=VOCAB + 1)  # a prompt token the fake never generates
    scheduler = Scheduler(engine)
    with pytest.raises(ModelError):
        reply(scheduler, [VOCAB + 1], settings())
    assert reply(scheduler, prompt(1), settings())
    scheduler.close()


def test_a_long_prompt_is_fed_in_chunks_within_the_step_budget():
    engine = HistoryEngine(slots=2, max_batch_tokens=8)
    scheduler = Scheduler(engine)
    long_prompt = [1 + k % 60 for k in range(50)]
    alone = Scheduler(HistoryEngine(slots=1, max_batch_tokens=64))
    assert reply(scheduler, long_prompt, settings()) == reply(alone, long_prompt, settings())
    scheduler.close()
    alone.close()


@pytest.mark.parametrize("seed", range(5))
def test_next_token_follows_transformers_processors(seed):
    """Greedy picks transformers' argmax; sampling draws only from the tokens transformers keeps, in its proportions."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3, size=200).astype(np.float32)
    seen = rng.integers(0, 200, size=30).tolist()
    s = settings(temperature=0.7, top_p=0.9, repetition_penalty=1.3)
    processors = LogitsProcessorList(
        [
            RepetitionPenaltyLogitsProcessor(1.3),
            TemperatureLogitsWarper(0.7),
            TopKLogitsWarper(TOP_K),
            TopPLogitsWarper(0.9),
        ]
    )
    scores = processors(torch.tensor([seen]), torch.tensor(logits)[None].clone())[0]
    expected = torch.softmax(scores, -1).numpy()
    assert next_token(logits, seen, s, np.random.default_rng(0)) == int(
        RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([seen]), torch.tensor(logits)[None].clone()).argmax()
    )
    draws = np.bincount(
        [next_token(logits, seen, s.with_(do_sample=True), np.random.default_rng(k)) for k in range(3000)],
        minlength=200,
    )
    assert set(np.flatnonzero(draws)) <= set(np.flatnonzero(expected))
    assert np.abs(draws / draws.sum() - expected).max() < 0.04


def test_the_next_turn_of_a_conversation_is_fed_only_from_where_it_differs():
    engine = HistoryEngine(slots=2, max_batch_tokens=64)
    scheduler = Scheduler(engine)
    first_prompt = prompt(2)
    request = scheduler.submit(first_prompt, settings())
    first = list(scheduler.pieces(request, timeout_s=10))
    assert first
    # the next turn: the same prompt, the reply, and a new message
    next_prompt = first_prompt + request.generated + [7, 8, 9]
    fed_before = engine.fed
    second = reply(scheduler, next_prompt, settings())
    new_tokens = engine.fed - fed_before
    scheduler.close()
    fresh = Scheduler(HistoryEngine(slots=1, max_batch_tokens=64))
    assert second == reply(fresh, next_prompt, settings())
    fresh.close()
    assert new_tokens <= 3 + 1 + 40  # the new message (and the reply's last token), then the reply


def test_the_same_prompt_again_is_fed_one_token():
    engine = HistoryEngine(slots=1)
    scheduler = Scheduler(engine)
    once = reply(scheduler, prompt(4), settings(max_new_tokens=3))
    fed_before = engine.fed
    again = reply(scheduler, prompt(4), settings(max_new_tokens=3))
    scheduler.close()
    assert once == again
    assert engine.fed - fed_before == 1 + 2  # the prompt's last token, then two of the three new ones


def test_candidates_of_one_prompt_feed_it_once_and_copy_the_cache():
    engine = HistoryEngine(slots=3, max_batch_tokens=8)
    scheduler = Scheduler(engine)
    shared = [1 + k % 60 for k in range(24)]  # fed over three steps
    alone = Scheduler(HistoryEngine(slots=1, max_batch_tokens=8))
    expected = [reply(alone, shared, settings(do_sample=True, seed=seed)) for seed in range(3)]
    alone.close()
    requests = [scheduler.submit(shared, settings(do_sample=True, seed=seed)) for seed in range(3)]
    got = ["".join(scheduler.pieces(r, timeout_s=10)) for r in requests]
    scheduler.close()
    assert got == expected and all(got)
    assert engine.copies == 2
    generated = sum(len(r.generated) for r in requests)
    assert engine.fed <= len(shared) + 2 + generated  # the prompt once, each copy its last token, the replies
