"""The listening adapter on llama.cpp against the torch path with the same adapter (peft's weights,
applied unmerged to the dequantized GGUF). Marked slow, like tests/test_llamacpp_slow.py."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.backends import embedded

pytestmark = pytest.mark.slow

LINES = (
    "My exams are next week and I haven't started revising.",
    "I miss my dad so much. He died in March.",
    "We had a baby three months ago and I'm so tired.",
    "My teacher said my essay was lazy.",
    "Everyone my age seems to have a career, a partner and a house.",
)
REPLY = "It sounds like a lot is resting on you right now, and part of you wants it to feel different."
# llama.cpp multiplies Q4_1 weights by 8-bit-quantized activations, torch by float32 ones: over 20
# conversations 2.0% of top-1 predictions differ (docs/performance.md); a margin for five short ones.
MIN_TOP1_AGREEMENT = 0.9


@pytest.fixture(scope="module")
def torch_logits():
    """Teacher-forced logits at every position of each prompt plus a fixed reply, torch path + adapter."""
    import torch

    model = embedded.load_embedded_model(adapter="listening", dtype="float32", pack_4bit=False)
    sequences = [
        model.tokenizer.apply_chat_template(
            [{"role": "user", "content": line}, {"role": "assistant", "content": REPLY}], return_dict=True
        )["input_ids"]
        for line in LINES
    ]
    with torch.inference_mode():
        logits = [model.model(input_ids=torch.tensor([ids])).logits[0].float().numpy() for ids in sequences]
    return sequences, logits


def llama_cpp_logits(sequences, adapter: str | None, tmp_path) -> list[np.ndarray]:
    model = embedded.load_embedded_llamacpp(slots=1, threads=2, timeout_s=60, adapter=adapter, cache_dir=tmp_path)
    try:
        return [model.engine.logits_at_every_position(ids) for ids in sequences]
    finally:
        model.close()


def agreement(ours: list[np.ndarray], reference: list[np.ndarray]) -> float:
    same = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(ours, reference))
    return same / sum(len(b) for b in reference)


def test_llama_cpp_with_the_adapter_predicts_what_torch_with_the_adapter_predicts(torch_logits, tmp_path):
    sequences, reference = torch_logits
    with_adapter = llama_cpp_logits(sequences, "listening", tmp_path)
    without = llama_cpp_logits(sequences, None, tmp_path)
    rate, bare_rate = agreement(with_adapter, reference), agreement(without, reference)
    print(f"top-1 agreement with torch+adapter: llama.cpp+adapter {rate:.3f}, llama.cpp bare {bare_rate:.3f}")
    assert rate >= MIN_TOP1_AGREEMENT
    # the adapter reaches llama.cpp's logits: without it they are far from torch's
    assert bare_rate < rate - 0.2
    assert max(float(np.abs(a - b).max()) for a, b in zip(with_adapter, without)) > 1.0


def test_the_listener_runs_the_adapter_on_llama_cpp():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    listener = build_listener(load_config(overrides=["model.adapter=listening"], environ={}))
    assert listener.model is not None
    extra = listener.model.identity.extra
    assert extra.get("engine") == "llama.cpp" and extra.get("adapter") == "listening"
    turn = listener.respond(listener.new_conversation(), "I've been so stressed at work I can't sleep.").consume()
    assert turn.kind == "listening" and turn.reply.strip()
