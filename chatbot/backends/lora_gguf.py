"""A peft LoRA folder as llama.cpp's GGUF LoRA adapter, converted once and cached by the adapter's sha256.

The file is what llama.cpp's `convert_lora_to_gguf.py` writes for a Llama base at its default
float32 output: `general.type` "adapter", `adapter.type` "lora", `adapter.lora.alpha`, and for
each adapted weight `<gguf name>.lora_a` (peft's A, rank x in) and `<gguf name>.lora_b` (peft's B,
out x rank). llama.cpp scales the product by alpha / rank, as peft does without rsLoRA.

The base GGUF stores q and k with their rows reordered for llama.cpp's rope (`LlamaModel.permute`
in llama.cpp's converter), while peft trained against the Hugging Face order. The update B·A must
be reordered the same way; the permutation acts on output rows only, so B is permuted and A kept,
as `LoraTorchTensor.permute` does in the converter.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from chatbot.models import ModelError

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."
_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


class UnsupportedAdapter(ModelError):
    """The adapter uses a peft feature that llama.cpp's LoRA format cannot express."""


def unsupported_reason(folder: Path) -> str | None:
    """Why this peft folder cannot run on llama.cpp, or None when it can."""
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (OSError, ValueError) as exc:
        return f"cannot read {folder / CONFIG}: {exc}"
    if config.get("peft_type", "LORA") != "LORA":
        return f"peft_type {config.get('peft_type')} is not LoRA"
    # llama.cpp scales by alpha / rank, one pair per weight and nothing else
    for key, wanted in (("use_rslora", False), ("use_dora", False), ("bias", "none")):
        if config.get(key, wanted) != wanted:
            return f"{key}={config[key]!r}"
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save", "layer_replication"):
        if config.get(key):
            return f"{key} is set"
    if config.get("alora_invocation_tokens"):
        return "activated LoRA (alora_invocation_tokens)"
    if not (folder / WEIGHTS).exists():
        return f"no {WEIGHTS} in {folder}"
    return None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor as float32 (bfloat16 widened exactly), without importing torch."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + size :]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise UnsupportedAdapter(f"{path.name}: tensor {name} has dtype {info['dtype']}")
        start, end = info["data_offsets"]
        raw = np.frombuffer(body[start:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = raw.astype(np.float32)
    return tensors


def permute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's `LlamaModel.permute` on the output rows: each head's two halves interleaved."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def lora_tensors(folder: Path, *, n_layer: int, n_head: int, n_head_kv: int) -> dict[str, np.ndarray]:
    """GGUF tensor name -> array (numpy order: lora_a [rank, in], lora_b [out, rank])."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, array in read_safetensors(folder / WEIGHTS).items():
        part = "A" if ".lora_A.weight" in name else "B" if ".lora_B.weight" in name else None
        if part is None:
            raise UnsupportedAdapter(f"{name} is not a lora_A or lora_B tensor")
        base = name.removeprefix(PEFT_PREFIX).replace(f".lora_{part}.weight", ".weight")
        pairs.setdefault(base, {})[part] = array
    out = {}
    for base, pair in sorted(pairs.items()):
        target = names.get_name(base, try_suffixes=(".weight",))
        if target is None or set(pair) != {"A", "B"}:
            raise UnsupportedAdapter(f"{base}: no llama.cpp tensor for it, or its A or B is missing")
        a, b = pair["A"], pair["B"]
        if base.endswith("q_proj.weight"):
            b = permute_rows(b, n_head)
        elif base.endswith("k_proj.weight"):
            b = permute_rows(b, n_head_kv)
        out[f"{target}.lora_a"] = np.ascontiguousarray(a)
        out[f"{target}.lora_b"] = np.ascontiguousarray(b)
    return out


def write_lora_gguf(folder: Path, out: Path, *, n_layer: int, n_head: int, n_head_kv: int) -> None:
    import gguf

    reason = unsupported_reason(folder)
    if reason:
        raise UnsupportedAdapter(f"The adapter in {folder} cannot run on llama.cpp: {reason}")
    alpha = float(json.loads((folder / CONFIG).read_text())["lora_alpha"])
    tensors = lora_tensors(folder, n_layer=n_layer, n_head=n_head, n_head_kv=n_head_kv)
    writer = gguf.GGUFWriter(out, arch=gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(folder.name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def adapter_sha256(folder: Path) -> str:
    return hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()


def cached_lora_gguf(folder: Path, cache_dir: Path, *, n_layer: int, n_head: int, n_head_kv: int) -> Path:
    """The converted file for this adapter and base shape, converting it first if it is not cached.

    Written to a temporary file and renamed into place, so an interrupted run leaves nothing behind.
    """
    key = f"{adapter_sha256(folder)[:32]}-l{n_layer}-h{n_head}-kv{n_head_kv}"
    target = cache_dir / f"lora-{key}.gguf"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".lora-", suffix=".gguf", dir=cache_dir)
    os.close(handle)
    try:
        write_lora_gguf(folder, Path(staging), n_layer=n_layer, n_head=n_head, n_head_kv=n_head_kv)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target


def converted_for(folder: Path, metadata: dict[str, str], cache_dir: Path) -> Path:
    """`cached_lora_gguf` for the base model whose GGUF metadata is given (llama.cpp's `metadata()`)."""
    arch = metadata.get("general.architecture", "")
    if arch != "llama":
        raise UnsupportedAdapter(f"LoRA conversion handles llama models, not {arch!r}.")
    n_head = int(metadata["llama.attention.head_count"])
    return cached_lora_gguf(
        folder,
        cache_dir,
        n_layer=int(metadata["llama.block_count"]),
        n_head=n_head,
        n_head_kv=int(metadata.get("llama.attention.head_count_kv", n_head)),
    )
