"""The embedded GGUF on llama.cpp with continuous batching. Marked slow; CI runs it (make setup builds llama.cpp)."""

from __future__ import annotations

import threading

import pytest

from chatbot.backends import embedded
from chatbot.config import default_settings

pytestmark = pytest.mark.slow

CONVERSATIONS = [
    [
        {"role": "system", "content": "You are a warm, reflective listener. You are an AI."},
        {"role": "user", "content": text},
    ]
    for text in (
        "My exams are next week and I haven't started revising.",
        "I miss my dad so much. He died in March.",
        "We had a baby three months ago and I'm so tired.",
        "My teacher said my essay was lazy.",
        "I keep checking that the door is locked, like five or six times.",
        "Everyone my age seems to have a career, a partner and a house.",
    )
]


@pytest.fixture(scope="module")
def model():
    model = embedded.load_embedded_llamacpp(slots=4, threads=2, timeout_s=120)
    yield model
    model.close()


def test_the_prompt_is_token_for_token_the_one_transformers_builds(model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded.ensure_converted())
    for messages in CONVERSATIONS[:3]:
        expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
        assert model.encode(messages) == list(expected["input_ids"])


def test_greedy_replies_are_identical_alone_and_batched(model):
    settings = default_settings().with_(do_sample=False, max_new_tokens=40)
    alone = ["".join(model.stream(messages, settings)) for messages in CONVERSATIONS]
    together: list[str] = [""] * len(CONVERSATIONS)

    def reply(i: int) -> None:
        together[i] = "".join(model.stream(CONVERSATIONS[i], settings))

    threads = [threading.Thread(target=reply, args=(i,)) for i in range(len(CONVERSATIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(len(text.split()) >= 5 for text in alone)
    assert together == alone
    assert model.load() == (0, 0)


def test_the_listener_uses_llama_cpp_by_default_and_replies():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    listener = build_listener(load_config(environ={}))
    assert listener.model is not None
    assert listener.model.identity.extra.get("engine") == "llama.cpp"
    turn = listener.respond(listener.new_conversation(), "I've been so stressed at work I can't sleep.").consume()
    assert turn.kind == "listening" and turn.reply.strip()


def test_candidates_sent_together_share_the_prompt_and_sample_what_they_sample_alone(model):
    """The pipeline's candidates: one prompt, three seeds, at once. The prompt is fed once and copied."""
    messages = CONVERSATIONS[0]
    alone = [
        "".join(model.stream(messages, default_settings().with_(do_sample=True, seed=seed, max_new_tokens=30)))
        for seed in range(3)
    ]
    copies = []
    original = model.engine.copy

    def spy(*args):
        copies.append(args)
        original(*args)

    model.engine.copy = spy
    model.scheduler.forget_prompts()  # no slot holds the prompt from the runs above
    together: list[str] = [""] * 3

    def reply(seed: int) -> None:
        settings = default_settings().with_(do_sample=True, seed=seed, max_new_tokens=30)
        together[seed] = "".join(model.stream(messages, settings))

    threads = [threading.Thread(target=reply, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    model.engine.copy = original
    assert together == alone
    assert len(copies) == 2
