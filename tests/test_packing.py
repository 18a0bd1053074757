"""Exact 4-bit packing: recovered codes must reproduce the weights, and only 4-bit weights are packed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from chatbot.backends.packing import GROUP_SIZE, pack_4bit_linears, recover_codes  # noqa: E402
from chatbot.backends.transformers_backend import TransformersChatModel  # noqa: E402
from chatbot.config import default_settings  # noqa: E402

GREEDY = default_settings(max_new_tokens=12, do_sample=False, repetition_penalty=1.0)


def as_q4_1(weight):
    """What a GGUF Q4_1 round trip makes of a weight: per group of 32, scale * q + minimum."""
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // GROUP_SIZE, GROUP_SIZE)
    minimum = groups.amin(-1, keepdim=True)
    scale = (groups.amax(-1, keepdim=True) - minimum) / 15
    codes = torch.round((groups - minimum) / scale).clamp(0, 15)
    return (codes * scale + minimum).reshape(rows, cols)


@pytest.fixture(scope="module")
def q4_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head"):
                module.weight.copy_(as_q4_1(module.weight))
    path = tmp_path_factory.mktemp("tiny-q4")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return str(path)


def test_codes_recovered_from_q4_weights_reproduce_them():
    weight = as_q4_1(torch.randn(48, 64, generator=torch.Generator().manual_seed(0)))
    codes, scale, minimum = recover_codes(weight)
    assert codes.min() >= 0 and codes.max() <= 15
    rebuilt = (codes.reshape(48, 2, 32) * scale[..., None] + minimum[..., None]).reshape(48, 64)
    # the scale is re-derived from the rebuilt values: equal up to float32 rounding
    assert torch.allclose(rebuilt, weight, rtol=0, atol=1e-6)


def test_ordinary_weights_are_not_mistaken_for_4bit():
    assert recover_codes(torch.randn(48, 64)) is None
    assert recover_codes(torch.randn(48, 40)) is None  # not a whole number of groups


def test_packed_model_computes_what_the_unpacked_one_does(q4_model_dir, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(q4_model_dir, dtype=torch.float32).eval()
    packed = AutoModelForCausalLM.from_pretrained(q4_model_dir, dtype=torch.float32).eval()
    report = pack_4bit_linears(packed, torch.float32)
    assert report.packed == 14 and report.skipped == 0  # 7 linear layers x 2 blocks; lm_head never
    assert not any(isinstance(m, torch.nn.Linear) for n, m in packed.named_modules() if "layers" in n)

    ids = torch.tensor([[2, 5, 9, 11, 7]])
    with torch.inference_mode():
        assert torch.allclose(packed(ids).logits, reference(ids).logits, atol=1e-4)
        same = reference.generate(ids, max_new_tokens=10, do_sample=False)
        assert torch.equal(packed.generate(ids, max_new_tokens=10, do_sample=False), same)

    random_weights = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert pack_4bit_linears(random_weights, torch.float32).packed == 0


def test_backend_packs_only_in_bfloat16_and_says_so(q4_model_dir):
    packed = TransformersChatModel(q4_model_dir, dtype="bfloat16", int8_head=False)
    assert packed.packing.packed == 14 and not packed.packing.int8_head
    assert "exact 4-bit codes" in packed.identity.dtype
    plain = TransformersChatModel(q4_model_dir, dtype="bfloat16", pack_4bit=False)
    assert plain.packing is None and plain.identity.dtype == "bfloat16"
    # float32 activations make the int4 kernel slower than plain float32, so it is not used
    assert TransformersChatModel(q4_model_dir, dtype="float32").packing is None

    messages = [{"role": "user", "content": "i feel tired"}]
    reply = "".join(packed.stream(messages, GREEDY))
    assert reply == "".join(plain.stream(messages, GREEDY))


def test_int8_head_stays_close_to_the_float_head(q4_model_dir):
    from transformers import AutoModelForCausalLM

    from chatbot.backends.packing import pack_int8_head

    reference = AutoModelForCausalLM.from_pretrained(q4_model_dir, dtype=torch.float32).eval()
    headed = AutoModelForCausalLM.from_pretrained(q4_model_dir, dtype=torch.float32).eval()
    assert pack_int8_head(headed, torch.float32)
    embeddings = headed.get_input_embeddings().weight
    assert embeddings.dtype == torch.float32  # the tied embeddings keep their own weights
    ids = torch.tensor([[2, 5, 9, 11, 7]])
    with torch.inference_mode():
        expected, got = reference(ids).logits, headed(ids).logits
    # int8 per row: each weight within half a step (row max / 254) of the original
    assert not torch.equal(got, expected)
    assert torch.allclose(got, expected, atol=0.05 * float(expected.abs().max()))

    default = TransformersChatModel(q4_model_dir, dtype="bfloat16")
    assert default.packing.int8_head and "int8 output head" in default.identity.dtype
