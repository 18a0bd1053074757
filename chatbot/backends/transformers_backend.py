"""Any Hugging Face causal LM from a local folder or the local hub cache, streamed token by token."""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from chatbot.models import (
    GenerationSettings,
    Message,
    ModelError,
    ModelIdentity,
    ModelNotFoundError,
    ModelTimeoutError,
)

if TYPE_CHECKING:  # transformers itself is imported only when a model is built
    from transformers import BatchEncoding, PreTrainedTokenizerBase


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(name: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"Unknown dtype '{name}' (use auto, float32, bfloat16 or float16)") from None


# transformers annotates apply_chat_template with one union for all its modes; these two fix the mode.
def chat_encoding(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], add_generation_prompt: bool = True
) -> BatchEncoding:
    """The chat template applied and tokenized: input_ids and attention_mask as torch tensors."""
    encoded = tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=add_generation_prompt, return_tensors="pt", return_dict=True
    )
    return cast("BatchEncoding", encoded)  # return_dict=True: always a BatchEncoding


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "1").lower() not in ("0", "false", "no", "")


@dataclasses.dataclass(frozen=True)
class AdapterInfo:
    name: str  # the adapter folder's name, e.g. "listening"
    path: str
    sha256: str


def load_adapter(model, folder: str):
    """The model with a LoRA adapter (a peft folder) applied unmerged; and what was loaded.

    peft reads the folder and maps its weights onto the layers; each adapted layer is then
    rebuilt as the base layer plus a plain low-rank path (`LowRankAdapted`), because peft's own
    forward, with its per-call checks, made decoding 1.9x slower here.
    """
    import hashlib

    import torch
    from peft import PeftModel
    from peft.tuners.lora import Linear as LoraLinear

    from chatbot.backends.lowrank import LowRankAdapted

    path = Path(folder)
    weights = path / "adapter_model.safetensors"
    if not weights.exists():
        raise ModelNotFoundError(f"No LoRA adapter at {path} (expected {weights.name}).")
    wrapped = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    inner = wrapped.get_base_model()
    with torch.no_grad():
        for parent in list(inner.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, LoraLinear):
                    key = child.active_adapters[0]
                    setattr(
                        parent,
                        name,
                        LowRankAdapted(
                            child.base_layer,
                            child.lora_A[key].weight,
                            child.lora_B[key].weight,
                            child.scaling[key],
                        ),
                    )
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    return inner, AdapterInfo(path.name, str(path), sha)


class TransformersChatModel:
    """Applies the model's own chat template and streams through TextIteratorStreamer.

    One lock per model: generation is serialised because two cores gain nothing from
    running two generations at once, and it keeps seeded sampling reproducible.
    """

    def __init__(
        self,
        name_or_path: str,
        *,
        dtype: str = "auto",
        threads: int | None = None,
        timeout_s: float = 60.0,
        identity: ModelIdentity | None = None,
        prefix_cache: bool = True,
        kv_cache: str = "dynamic",
        pack_4bit: bool = True,
        int8_head: bool = True,
        adapter: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        local_only = offline()
        if local_only and not Path(name_or_path).exists() and "/" not in name_or_path:
            raise ModelNotFoundError(f"Model '{name_or_path}' is neither a local folder nor a Hugging Face model id.")
        target_dtype = resolve_dtype(dtype)
        # 4-bit codes are recovered from float32 weights; the int4 kernel is only fast with
        # bfloat16 activations (float32: 6.9 vs 25 tok/s unpacked), so pack only for bfloat16.
        pack = pack_4bit and target_dtype == torch.bfloat16
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_only)
            self.model = AutoModelForCausalLM.from_pretrained(
                name_or_path,
                local_files_only=local_only,
                dtype=torch.float32 if pack else target_dtype,
            )
        except (OSError, ValueError) as exc:
            where = "the local folder" if Path(name_or_path).exists() else "the local Hugging Face cache"
            raise ModelNotFoundError(
                f"Could not load model '{name_or_path}' from {where} (no downloads while "
                f"HF_HUB_OFFLINE=1). Check the path, or download it on a machine with a network "
                f"first. Details: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            ) from None
        if not self.tokenizer.chat_template:
            raise ModelError(f"Model '{name_or_path}' has no chat template; use an instruct model.")
        self.adapter = None
        if adapter:
            # Unmerged, so the base weights stay exact 4-bit values that packing can recover: the
            # low-rank path runs beside each packed layer.
            self.model, self.adapter = load_adapter(self.model, adapter)
        self.packing = None
        if pack:
            from chatbot.backends.packing import pack_4bit_linears, pack_int8_head

            self.packing = pack_4bit_linears(self.model, target_dtype)
            # the head is the one large layer left in bfloat16 once the body is packed
            if int8_head and self.packing.packed:
                self.packing = dataclasses.replace(self.packing, int8_head=pack_int8_head(self.model, target_dtype))
            self.model.to(target_dtype)
        self.model.eval()
        self.timeout_s = timeout_s
        self._lock = threading.Lock()  # one generation at a time: see the class docstring
        self._count_lock = threading.Lock()
        self._waiting = 0
        # KV caches of system prompts already seen: the fixed prefix is computed once, not per turn.
        # "static": a preallocated KV cache, measured 1.66x faster decode than dynamic on the
        # embedded model (docs/performance.md); it replaces the system-prompt cache.
        if kv_cache not in ("dynamic", "static"):
            raise ValueError(f"Unknown kv_cache '{kv_cache}' (use dynamic or static)")
        self.kv_cache = kv_cache
        self.use_prefix_cache = prefix_cache and kv_cache == "dynamic"
        self._prefix_caches: OrderedDict[tuple[int, ...], object] = OrderedDict()
        dtype_label = str(self.model.dtype).removeprefix("torch.")
        if self.packing and self.packing.packed:
            dtype_label += f" ({self.packing.description})"
        self.identity = (
            dataclasses.replace(identity, dtype=dtype_label)
            if identity
            else ModelIdentity(
                backend="transformers",
                name=name_or_path,
                source=str(Path(name_or_path).resolve()) if Path(name_or_path).exists() else name_or_path,
                dtype=dtype_label,
                context_window=self.context_window,
            )
        )
        if self.adapter:
            extra = {
                **self.identity.extra,
                "adapter": self.adapter.name,
                "adapter_path": self.adapter.path,
                "adapter_sha256": self.adapter.sha256,
            }
            self.identity = dataclasses.replace(self.identity, extra=extra)

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    def _encode(self, messages: Sequence[Message]) -> BatchEncoding:
        return chat_encoding(self.tokenizer, messages)

    def _prefix_cache_for(self, messages: Sequence[Message], input_ids):
        """A private copy of the KV cache for the system message, if the prompt starts with it."""
        if not self.use_prefix_cache or not messages or messages[0]["role"] != "system":
            return None
        prefix = chat_encoding(self.tokenizer, messages[:1], add_generation_prompt=False)["input_ids"]
        n = prefix.shape[-1]
        if n >= input_ids.shape[-1] or not bool((input_ids[0, :n] == prefix[0]).all()):
            return None
        key = tuple(prefix[0].tolist())
        cache = self._prefix_caches.get(key)
        if cache is None:
            import torch
            from transformers import DynamicCache

            with torch.inference_mode():
                cache = self.model(input_ids=prefix, cache=DynamicCache(), use_cache=True).past_key_values
            self._prefix_caches[key] = cache
            while len(self._prefix_caches) > 8:
                self._prefix_caches.popitem(last=False)
        self._prefix_caches.move_to_end(key)
        return copy.deepcopy(cache)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return int(self._encode(messages)["input_ids"].shape[-1])

    def load(self) -> tuple[int, int]:
        """(replies being written, replies waiting for their turn)."""
        with self._count_lock:
            return int(self._lock.locked()), self._waiting

    def _generate_kwargs(self, settings: GenerationSettings) -> dict:
        kwargs = {
            "max_new_tokens": settings.max_new_tokens,
            "repetition_penalty": settings.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if self.kv_cache == "static":
            kwargs["cache_implementation"] = "static"
        if settings.do_sample and settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop_requested = threading.Event()

        class StopWhenAsked(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop_requested.is_set()

        inputs = self._encode(messages)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout_s
        )
        failure: list[BaseException] = []
        my_turn = threading.Event()
        with self._count_lock:
            self._waiting += 1

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    with self._count_lock:
                        self._waiting -= 1
                    my_turn.set()
                    if settings.seed is not None:
                        torch.manual_seed(settings.seed)
                    cache = self._prefix_cache_for(messages, inputs["input_ids"])
                    self.model.generate(
                        **inputs,
                        **({"cache": cache} if cache is not None else {}),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([StopWhenAsked()]),
                        **self._generate_kwargs(settings),
                    )
            except BaseException as exc:  # surfaced to the reader below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        text_so_far = ""
        try:
            # The timeout counts from this request's turn: waiting behind other replies is not silence.
            while not my_turn.wait(0.5):
                if failure:
                    break
            for piece in streamer:
                if piece:
                    text_so_far += piece
                    yield piece
                    if any(s in text_so_far for s in settings.stop):
                        break
        except Exception as exc:  # queue.Empty on timeout
            if failure:
                raise ModelError(f"The model failed: {type(failure[0]).__name__}") from failure[0]
            raise ModelTimeoutError(f"No output from the model for {self.timeout_s:.0f} s") from exc
        finally:
            stop_requested.set()  # the caller stopped reading or we are done: free the model
            worker.join(timeout=self.timeout_s)
        if failure:
            raise ModelError(f"The model failed: {type(failure[0]).__name__}") from failure[0]
