"""The embedded GGUF run by llama.cpp (llama-cpp-python), with continuous batching across people.

Why not PyTorch here: torch's CPU kernels for 4-bit weights are fast only with bfloat16
activations, which need avx512_bf16; on AVX2-only CPUs (most laptops) the torch path decodes in
float32 at a fraction of llama.cpp's speed on the same file (docs/performance.md). llama.cpp reads
the GGUF's own Q4_1 weights on every CPU, so nothing is converted or approximated.

The chat template is the one stored in the GGUF, rendered as transformers renders it.
"""

from __future__ import annotations

import ctypes
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from chatbot.backends import lora_gguf
from chatbot.backends.batching import Scheduler
from chatbot.models import GenerationSettings, Message, ModelError, ModelIdentity, ModelNotFoundError


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppEngine:
    """One llama.cpp context with a sequence (and a share of the KV cache) per slot."""

    def __init__(self, gguf: Path, *, slots: int, context_per_slot: int, threads: int, max_batch_tokens: int) -> None:
        from llama_cpp import _internals, _logger, llama_cpp

        _logger.set_verbose(False)  # llama.cpp logs every tensor at load otherwise
        self.slots = slots
        self.context_per_slot = context_per_slot
        self.max_batch_tokens = max_batch_tokens
        self._model = _internals.LlamaModel(
            path_model=str(gguf), params=llama_cpp.llama_model_default_params(), verbose=False
        )
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * context_per_slot
        params.n_batch = params.n_ubatch = max_batch_tokens
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = False  # a cache stream per slot: batched steps measured faster than one shared cache
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=max_batch_tokens, embd=0, n_seq_max=1, verbose=False)
        self.n_vocab = self._model.n_vocab()
        vocab = llama_cpp.llama_model_get_vocab(self._model.model)
        self._ends = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)}
        self.metadata = self._model.metadata()
        self._lora = None

    def use_lora(self, path: Path) -> None:
        """Apply a GGUF LoRA adapter (`lora_gguf`) to every slot, at scale 1 (llama.cpp applies alpha / rank)."""
        from llama_cpp import llama_cpp

        adapter = llama_cpp.llama_adapter_lora_init(self._model.model, str(path).encode("utf-8"))
        if adapter is None:
            raise ModelError(f"llama.cpp could not load the LoRA adapter {path.name}.")
        self._lora = adapter
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(1.0)
        if llama_cpp.llama_set_adapters_lora(self._ctx.ctx, adapters, 1, scales) != 0:
            raise ModelError(f"llama.cpp could not apply the LoRA adapter {path.name}.")

    def close(self) -> None:
        """Free the context, then the adapter, then the model (each refers to the next)."""
        from llama_cpp import llama_cpp

        self._batch.close()
        self._ctx.close()
        if self._lora is not None:
            llama_cpp.llama_adapter_lora_free(self._lora)
            self._lora = None
        self._model.close()

    def decode(self, pieces: Sequence[tuple[int, Sequence[int], int]]) -> list[np.ndarray]:
        batch = self._batch.batch
        n = 0
        last: list[int] = []
        for slot, tokens, start in pieces:
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = start + i
                batch.seq_id[n][0] = slot
                batch.n_seq_id[n] = 1
                batch.logits[n] = i == len(tokens) - 1
                n += 1
            last.append(n - 1)
        batch.n_tokens = n
        self._ctx.decode(self._batch)
        rows = []
        for i in last:
            pointer = ctypes.cast(self._ctx.get_logits_ith(i), ctypes.POINTER(ctypes.c_float))
            rows.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return rows

    def forget(self, slot: int, keep: int) -> None:
        self._ctx.kv_cache_seq_rm(slot, keep, -1)

    def copy(self, source: int, slot: int, keep: int) -> None:
        # Between slots (separate cache streams) llama.cpp copies whole sequences only, then trims.
        self._ctx.kv_cache_seq_rm(slot, -1, -1)
        self._ctx.kv_cache_seq_cp(source, slot, -1, -1)
        self._ctx.kv_cache_seq_rm(slot, keep, -1)

    def logits_at_every_position(self, tokens: Sequence[int]) -> np.ndarray:
        """[len(tokens), vocab]: teacher-forced logits, for fidelity checks; uses slot 0, so only when idle."""
        rows = []
        for start in range(0, len(tokens), self.max_batch_tokens):
            chunk = tokens[start : start + self.max_batch_tokens]
            batch = self._batch.batch
            for i, token in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, start + i, 1, True
                batch.seq_id[i][0] = 0
            batch.n_tokens = len(chunk)
            self._ctx.decode(self._batch)
            pointer = ctypes.cast(self._ctx.get_logits(), ctypes.POINTER(ctypes.c_float))
            rows.append(np.ctypeslib.as_array(pointer, shape=(len(chunk), self.n_vocab)).copy())
        self.forget(0, 0)
        return np.concatenate(rows)

    def tokenize(self, text: str) -> list[int]:
        return list(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._model.detokenize(list(tokens), special=False).decode("utf-8", errors="replace")

    def is_end(self, token: int) -> bool:
        return token in self._ends

    def special_text(self, token: int) -> str:
        return self._model.token_to_piece(token, special=True).decode("utf-8", errors="replace")


class ChatTemplate:
    """The GGUF's chat template, rendered with transformers' own renderer (same prompt as the torch path)."""

    def __init__(self, source: str, bos: str, eos: str) -> None:
        from transformers.utils.chat_template_utils import render_jinja_template

        self._render = render_jinja_template
        self.source, self.bos, self.eos = source, bos, eos

    def __call__(self, messages: Sequence[Message]) -> str:
        rendered, _ = self._render(  # type: ignore[str-unpack]  # returns (prompts, indices)
            conversations=[list(messages)],
            chat_template=self.source,
            add_generation_prompt=True,
            bos_token=self.bos,
            eos_token=self.eos,
        )
        return rendered[0]


class LlamaCppChatModel:
    """The ChatModel protocol over `Scheduler` and `LlamaCppEngine`."""

    def __init__(
        self,
        gguf: Path,
        *,
        identity: ModelIdentity,
        slots: int = 8,
        context_per_slot: int = 2048,
        threads: int = 2,
        max_batch_tokens: int = 512,
        timeout_s: float = 60.0,
        adapter: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """`adapter`: a peft LoRA folder, converted to llama.cpp's format in `cache_dir` on first use."""
        if not gguf.exists():
            raise ModelNotFoundError(f"No GGUF file at {gguf}.")
        self.engine = LlamaCppEngine(
            gguf, slots=slots, context_per_slot=context_per_slot, threads=threads, max_batch_tokens=max_batch_tokens
        )
        meta = self.engine.metadata
        extra = {**identity.extra, "engine": "llama.cpp", "slots": str(slots)}
        if adapter is not None:
            try:
                self.engine.use_lora(
                    lora_gguf.converted_for(adapter, self.engine.metadata, cache_dir or Path(tempfile.gettempdir()))
                )
            except BaseException:
                self.engine.close()
                raise
            extra |= {
                "adapter": adapter.name,
                "adapter_path": str(adapter.resolve()),
                "adapter_sha256": lora_gguf.adapter_sha256(adapter),
            }
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{gguf.name} carries no chat template; use an instruct model.")
        self._template = ChatTemplate(template, *self._special_texts(meta))
        self.scheduler = Scheduler(self.engine)
        self.timeout_s = timeout_s
        self.identity = ModelIdentity(
            backend=identity.backend,
            name=identity.name,
            source=identity.source,
            weights_sha256=identity.weights_sha256,
            dtype="Q4_1 (llama.cpp)",
            context_window=context_per_slot,
            extra=extra,
        )

    def _special_texts(self, meta: dict[str, str]) -> tuple[str, str]:
        texts = []
        for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
            token = int(meta.get(key, -1))
            texts.append(self.engine.special_text(token) if token >= 0 else "")
        return texts[0], texts[1]

    @property
    def slots(self) -> int:
        """Replies decoded together; the pipeline samples its candidates at once when above 1."""
        return self.engine.slots

    @property
    def context_window(self) -> int:
        return self.engine.context_per_slot

    def encode(self, messages: Sequence[Message]) -> list[int]:
        return self.engine.tokenize(self._template(messages))

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.encode(messages))

    def load(self) -> tuple[int, int]:
        """(replies being written, replies waiting for a slot)."""
        return self.scheduler.load()

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]:
        prompt = self.encode(messages)
        if len(prompt) + settings.max_new_tokens > self.engine.context_per_slot:
            raise ModelError(
                f"The conversation is too long for the model ({len(prompt)} tokens + "
                f"{settings.max_new_tokens} new > {self.engine.context_per_slot})."
            )
        request = self.scheduler.submit(prompt, settings)
        text_so_far = ""
        pieces = self.scheduler.pieces(request, self.timeout_s)
        try:
            for piece in pieces:
                text_so_far += piece
                yield piece
                if any(s in text_so_far for s in settings.stop):
                    return
        finally:
            pieces.close()  # cancels the request: its slot is free at the next step

    def close(self) -> None:
        if self.scheduler.close():  # a step still running would read freed memory
            self.engine.close()
