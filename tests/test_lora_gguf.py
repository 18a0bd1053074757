"""A peft LoRA adapter converted to llama.cpp's GGUF LoRA format: on the tiny in-process Llama."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chatbot.backends import lora_gguf

RANK, ALPHA = 4, 8
N_LAYER, N_HEAD, N_HEAD_KV = 2, 4, 2  # the tiny model's (tests/conftest.py)
GGUF_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


def make_adapter(tiny_model_dir: str, out: Path, seed: int = 0, **config) -> tuple[Path, dict]:
    """A random (nonzero B) peft adapter on every projection; returns its folder and, per
    '<layer>.<module>', the update peft adds to that weight (Hugging Face row order)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    settings = dict(r=RANK, lora_alpha=ALPHA, target_modules=list(GGUF_NAMES), init_lora_weights=False)
    model = get_peft_model(base, LoraConfig(**(settings | config)))
    deltas = {}
    for name, module in model.named_modules():
        if hasattr(module, "get_delta_weight") and name.split(".")[-1] in GGUF_NAMES:
            layer = name.split(".layers.")[1].split(".")[0]
            deltas[f"{layer}.{name.split('.')[-1]}"] = module.get_delta_weight("default").detach().numpy()
    model.save_pretrained(out)
    return out, deltas


def changed_copy(folder: Path, out: Path, **change) -> Path:
    """The same weights with a changed adapter_config.json."""
    out.mkdir()
    (out / lora_gguf.WEIGHTS).write_bytes((folder / lora_gguf.WEIGHTS).read_bytes())
    (out / lora_gguf.CONFIG).write_text(json.dumps(json.loads((folder / lora_gguf.CONFIG).read_text()) | change))
    return out


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("tiny-lora"))


@pytest.fixture(scope="module")
def converted(adapter, tmp_path_factory):
    import gguf

    folder, _ = adapter
    path = lora_gguf.cached_lora_gguf(
        folder, tmp_path_factory.mktemp("lora-cache"), n_layer=N_LAYER, n_head=N_HEAD, n_head_kv=N_HEAD_KV
    )
    return path, gguf.GGUFReader(path)


def llama_cpp_row_order(rows: int, n_head: int) -> list[int]:
    """Hugging Face row for each GGUF row of q or k: per head, the rope pairs (i, i + d/2) made adjacent."""
    d = rows // n_head
    return [h * d + j * d // 2 + i for h in range(n_head) for i in range(d // 2) for j in range(2)]


def test_the_file_carries_llama_cpps_adapter_metadata(converted):
    _, reader = converted
    fields = {key: field.contents() for key, field in reader.fields.items()}
    assert fields["general.type"] == "adapter"
    assert fields["general.architecture"] == "llama"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(ALPHA)


def test_every_adapted_weight_has_an_a_and_b_of_the_right_shape(converted, tiny_model_dir):
    from transformers import AutoConfig

    _, reader = converted
    config = AutoConfig.from_pretrained(tiny_model_dir)
    hidden, ffn, kv = config.hidden_size, config.intermediate_size, config.hidden_size * N_HEAD_KV // N_HEAD
    in_out = {
        "attn_q": (hidden, hidden),
        "attn_k": (hidden, kv),
        "attn_v": (hidden, kv),
        "attn_output": (hidden, hidden),
        "ffn_gate": (hidden, ffn),
        "ffn_up": (hidden, ffn),
        "ffn_down": (ffn, hidden),
    }
    # GGUF lists dimensions innermost first: A is [in, rank], B is [rank, out], as llama.cpp checks
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    expected = {}
    for layer in range(N_LAYER):
        for name, (n_in, n_out) in in_out.items():
            expected[f"blk.{layer}.{name}.weight.lora_a"] = (n_in, RANK)
            expected[f"blk.{layer}.{name}.weight.lora_b"] = (RANK, n_out)
    assert shapes == expected
    assert {int(t.tensor_type) for t in reader.tensors} == {0}  # float32, the converter's default


def test_the_update_llama_cpp_computes_is_peft_update_in_the_bases_row_order(converted, adapter):
    """alpha / rank * B·A from the file equals peft's update, with q and k rows in llama.cpp's order."""
    _, reader = converted
    _, deltas = adapter
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    for key, delta in deltas.items():
        layer, module = key.split(".")
        prefix = f"blk.{layer}.{GGUF_NAMES[module]}.weight"
        ours = ALPHA / RANK * tensors[f"{prefix}.lora_b"] @ tensors[f"{prefix}.lora_a"]
        if module in ("q_proj", "k_proj"):
            delta = delta[llama_cpp_row_order(delta.shape[0], N_HEAD if module == "q_proj" else N_HEAD_KV)]
        np.testing.assert_allclose(ours, delta, rtol=1e-5, atol=1e-6)


def test_the_conversion_is_cached_by_the_adapters_content(adapter, converted, tiny_model_dir, tmp_path):
    folder, _ = adapter
    path, _ = converted
    written = path.stat().st_mtime_ns
    again = lora_gguf.cached_lora_gguf(folder, path.parent, n_layer=N_LAYER, n_head=N_HEAD, n_head_kv=N_HEAD_KV)
    assert again == path and path.stat().st_mtime_ns == written
    other, _ = make_adapter(tiny_model_dir, tmp_path / "other", seed=1)
    assert lora_gguf.cached_lora_gguf(other, path.parent, n_layer=N_LAYER, n_head=N_HEAD, n_head_kv=N_HEAD_KV) != path
    assert not list(path.parent.glob(".lora-*"))  # no staging files left


@pytest.mark.parametrize("change", [{"use_rslora": True}, {"use_dora": True}, {"rank_pattern": {"q_proj": 2}}])
def test_adapters_llama_cpp_cannot_express_are_refused(adapter, tmp_path, change):
    folder, _ = adapter
    copy = changed_copy(folder, tmp_path / "changed", **change)
    assert lora_gguf.unsupported_reason(folder) is None
    assert lora_gguf.unsupported_reason(copy)
    with pytest.raises(lora_gguf.UnsupportedAdapter):
        lora_gguf.write_lora_gguf(copy, tmp_path / "out.gguf", n_layer=N_LAYER, n_head=N_HEAD, n_head_kv=N_HEAD_KV)


def test_auto_runs_a_convertible_adapter_on_llama_cpp_and_others_on_torch(adapter, tmp_path, monkeypatch):
    from chatbot.backends import embedded, llamacpp
    from chatbot.models import ModelError

    folder, _ = adapter
    monkeypatch.setattr(llamacpp, "available", lambda: True)
    assert embedded.use_llamacpp("auto", "listening")
    assert embedded.use_llamacpp("auto", str(folder))
    assert not embedded.use_llamacpp("torch", str(folder))
    rslora = changed_copy(folder, tmp_path / "rslora", use_rslora=True)
    assert not embedded.use_llamacpp("auto", str(rslora))
    with pytest.raises(ModelError, match="use_rslora"):
        embedded.use_llamacpp("llama.cpp", str(rslora))
