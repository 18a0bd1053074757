"""Semantic layer: nearest curated examples (safety/examples/) in MiniLM space.

Catches paraphrases with no keyword. Routes when the closest crisis example is close enough and
clearly closer than the closest non-crisis example. Settings (thresholds, encoder) live in
safety/semantic.yaml; examples in safety/examples/<category>.yaml and none.yaml (look-alikes).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources as pkg_resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .normalize import normalize
from .resources import ResourceFileError
from .types import CATEGORIES

SETTINGS_FILE = "semantic.yaml"
EXAMPLES_DIR = "examples"
NONE_FILE = "none"  # look-alikes that raise nothing
# Sentence ends only: splitting on "but" cut "heavy but I'm getting through it" into a false alarm.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|\n+")
MAX_CHUNKS = 8  # sentence groups scored separately in a long message


class CrisisExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    category: str
    severity: int = Field(ge=1, le=6)
    subject: Literal["self", "other"] = "self"
    text: str

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}")
        return value


class SafeExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    kind: str  # idiom, negation, fiction, past, third_party_safe, everyday...
    text: str


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    route: float  # crisis similarity that routes when also clearly above the nearest safe example
    margin: float  # crisis minus safe similarity needed
    strong: float  # crisis similarity that routes on its own
    careful_discount: float  # lowered by this in careful mode
    suppressed_penalty: float  # raised by this when a rule hit in the message was suppressed
    classifier: float = 1.01  # logistic-regression probability that routes (>1 disables)
    classifier_c: float = 16.0  # inverse regularisation of that classifier


class Encoder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    threads: int = Field(default=1, ge=1)  # torch threads; 1 is fastest on the shared 2-core machine
    max_tokens: int = Field(default=128, ge=16, le=256)  # longer messages are also scored by sentence
    int8: bool = False  # dynamic int8 quantisation of the Linear layers (examples embedded the same way)


class OtherLanguage(BaseModel):
    """MiniLM is English-only: other languages land close together whatever they say, so a message
    that looks Spanish/French/German routes semantically only on a near-copy (rules do the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    markers: str  # regex of function words of other languages, on normalised text
    share: float = Field(default=0.25, gt=0, le=1)  # share of words that must be markers


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    thresholds: Thresholds
    encoder: Encoder = Encoder()
    other_language: OtherLanguage | None = None


class ExamplesFile(Settings):
    """The settings with every example, each kind in id order (the embedding order)."""

    crisis: tuple[CrisisExample, ...]
    safe: tuple[SafeExample, ...]


class CrisisExamples(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    examples: tuple[CrisisExample, ...]


class SafeExamples(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    examples: tuple[SafeExample, ...]


@dataclass(frozen=True)
class Verdict:
    category: str
    severity: int
    subject: str
    example_id: str
    similarity: float
    safe_similarity: float
    via: str = "nearest"  # "nearest" example rule or "classifier"
    probability: float = 0.0


def _parse(name: str, model):
    text = pkg_resources.files("safety").joinpath(name).read_text("utf-8")
    try:
        return model.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResourceFileError(f"safety/{name}: field '{where}': {first['msg']}") from exc


def load_examples_file() -> ExamplesFile:
    """semantic.yaml (thresholds, encoder) and every example file; ids unique, each crisis example
    in the file of its category."""
    settings = _parse(SETTINGS_FILE, Settings)
    crisis: list[CrisisExample] = []
    for category in CATEGORIES:
        name = f"{EXAMPLES_DIR}/{category}.yaml"
        part = _parse(name, CrisisExamples).examples
        wrong = [e.id for e in part if e.category != category]
        if wrong:
            raise ResourceFileError(f"safety/{name}: examples of another category: {wrong[:5]}")
        crisis += part
    safe = list(_parse(f"{EXAMPLES_DIR}/{NONE_FILE}.yaml", SafeExamples).examples)
    ids = [e.id for e in (*crisis, *safe)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ResourceFileError(f"safety examples: duplicate ids {duplicates[:5]}")
    # Embedded in batches by an int8 model whose activation scale depends on the batch, so the
    # order is fixed by id (a new example takes the next number and leaves earlier batches alone).
    crisis.sort(key=lambda e: e.id)
    safe.sort(key=lambda e: e.id)
    return ExamplesFile(**dict(settings), crisis=tuple(crisis), safe=tuple(safe))


def sentence_chunks(normalized: str, max_chunks: int = MAX_CHUNKS) -> list[str]:
    """Sentences of a long message, so a crisis sentence is not averaged away by the rest.

    Fewer than two sentences of three or more words: no chunks (the whole message is enough).
    More than max_chunks sentences are merged into max_chunks consecutive groups.
    """
    parts = [p.strip() for p in _SENTENCE_END.split(normalized)]
    parts = [p for p in parts if len(p.split()) >= 3]
    if len(parts) < 2:
        return []
    if len(parts) > max_chunks:
        size = -(-len(parts) // max_chunks)
        parts = [" ".join(parts[i : i + size]) for i in range(0, len(parts), size)]
    return parts


class SemanticLayer:
    def __init__(self, examples: ExamplesFile, crisis_vectors, safe_vectors, embed_fn) -> None:
        self.examples = examples
        self.crisis_vectors = crisis_vectors
        self.safe_vectors = safe_vectors
        self.embed = embed_fn
        self.classifier = _fit_classifier(crisis_vectors, safe_vectors, examples.thresholds.classifier_c)
        lang = examples.other_language
        self._markers = re.compile(lang.markers) if lang else None

    def looks_other_language(self, normalized: str) -> bool:
        lang = self.examples.other_language
        words = normalized.split()
        if lang is None or self._markers is None or not words:
            return False
        return len(self._markers.findall(normalized)) / len(words) >= lang.share

    @classmethod
    @functools.lru_cache(maxsize=2)
    def load(cls) -> SemanticLayer:
        examples = load_examples_file()
        enc = examples.encoder
        embed = fast_embedder(threads=enc.threads, max_tokens=enc.max_tokens, int8=enc.int8)
        crisis = _embed_batched(embed, [normalize(e.text) for e in examples.crisis])
        safe = _embed_batched(embed, [normalize(e.text) for e in examples.safe])
        return cls(examples, crisis, safe, embed)

    def scores(self, normalized: str) -> tuple[int, float, float]:
        best, sim, safe_best, _ = self._scores(normalized)
        return best, sim, safe_best

    def _scores(self, normalized: str) -> tuple[int, float, float, float]:
        return self._score_vectors(_cached_vectors(self.embed, normalized)[:1])[0]

    def _score_vectors(self, vectors) -> list[tuple[int, float, float, float]]:
        crisis_sims = vectors @ self.crisis_vectors.T
        safe_sims = vectors @ self.safe_vectors.T if len(self.safe_vectors) else None
        probs = self.classifier.predict_proba(vectors)[:, 1]
        out = []
        for i in range(len(vectors)):
            best = int(crisis_sims[i].argmax())
            safe_best = float(safe_sims[i].max()) if safe_sims is not None else 0.0
            out.append((best, float(crisis_sims[i, best]), safe_best, float(probs[i])))
        return out

    def classify(
        self,
        normalized: str,
        careful: bool = False,
        suppressed: bool = False,
        strong_only: bool = False,
        no_classifier: bool = False,
    ) -> Verdict | None:
        """strong_only: a rule saw explicit negation, which MiniLM cannot read, so only a near-copy routes.

        The whole message and each of its sentences (long messages only) are embedded in one batch;
        the message routes if any of them does, with the evidence of the closest routing one.
        """
        if self.looks_other_language(normalized):
            strong_only = True
        verdicts = [
            self._decide(scores, careful, suppressed, strong_only, no_classifier)
            for scores in self._score_vectors(_cached_vectors(self.embed, normalized))
        ]
        routed = [v for v in verdicts if v is not None]
        return max(routed, key=lambda v: (v.via == "nearest", v.similarity)) if routed else None

    def _decide(self, scores, careful: bool, suppressed: bool, strong_only: bool, no_classifier: bool):
        t = self.examples.thresholds
        best, sim, safe_sim, prob = scores
        shift = (-t.careful_discount if careful else 0.0) + (t.suppressed_penalty if suppressed else 0.0)
        routes = sim >= t.strong + shift or (not strong_only and sim >= t.route + shift and sim - safe_sim >= t.margin)
        # A linear classifier over all examples generalises a little beyond the single nearest one;
        # it is not trusted when a rule saw negation, fiction, resolved past or an accident.
        via = "nearest"
        if not routes and not strong_only and not suppressed and not no_classifier:
            routes = prob >= t.classifier - (t.careful_discount if careful else 0.0)
            via = "classifier"
        if not routes:
            return None
        ex = self.examples.crisis[best]
        return Verdict(ex.category, ex.severity, ex.subject, ex.id, sim, safe_sim, via, prob)


def _fit_classifier(crisis_vectors, safe_vectors, c: float):
    """Logistic regression, crisis vs safe examples; deterministic (lbfgs, no sampling)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([crisis_vectors, safe_vectors])
    y = np.r_[np.ones(len(crisis_vectors)), np.zeros(len(safe_vectors))]
    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)


def _embed_batched(embed, texts: list[str], size: int = 64):
    import numpy as np

    return np.vstack([embed(texts[i : i + size]) for i in range(0, len(texts), size)])


_QUERY_CACHE: OrderedDict[tuple[int, str], object] = OrderedDict()
_QUERY_CACHE_SIZE = 2048
_QUERY_CACHE_LOCK = threading.Lock()


def _cached_query(embed, text: str):
    """Keyed by a digest, not the text: the cache is shared by sessions and outlives Delete."""
    key = (id(embed), hashlib.sha256(text.encode("utf-8", "replace")).hexdigest())
    with _QUERY_CACHE_LOCK:
        if key in _QUERY_CACHE:
            _QUERY_CACHE.move_to_end(key)
            return _QUERY_CACHE[key]
    vectors = _message_vectors(embed, text)
    with _QUERY_CACHE_LOCK:
        _QUERY_CACHE[key] = vectors
        while len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
            _QUERY_CACHE.popitem(last=False)
    return vectors


def clear_query_cache() -> None:
    """Forget every cached message embedding (evals/safety_bench.py clears it per round)."""
    with _QUERY_CACHE_LOCK:
        _QUERY_CACHE.clear()


def _message_vectors(embed, text: str):
    """Row 0: the whole message; then one row per sentence chunk. A single encoder call."""
    return embed([text, *sentence_chunks(text)])


def _cached_vectors(embed, text: str):
    """Short repeated messages ("ok", "yes", "thanks") are common; embed each once."""
    return _cached_query(embed, text) if len(text) < 200 else _message_vectors(embed, text)


def fast_embedder(threads: int | None = None, max_tokens: int = 256, int8: bool = False):
    """The shared packaged MiniLM, called without sentence-transformers' per-call overhead.

    Same tokenizer, weights, mean pooling and L2 normalisation as safety.embeddings.embed
    (cosine 1.0 against it with int8=False, checked by tests/test_safety_semantic.py), but a few ms
    faster per call. int8: a private copy with dynamically quantised Linear layers (per channel),
    about 3x faster on this CPU; examples must then be embedded with the same function.
    threads: torch's intra-op threads for the process (one is fastest when the cores are shared).
    """
    import torch  # heavy: loaded only when the semantic layer is first used

    from .embeddings import load_embedder

    model = load_embedder()
    tokenizer = model.tokenizer
    transformer = model[0].auto_model.eval()
    if int8:
        transformer = _quantized(transformer)
    max_len = min(int(getattr(model, "max_seq_length", 256) or 256), max_tokens)

    def embed(texts: list[str]):
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # set in the encoding thread (the semantic worker)
        batch = tokenizer(texts, return_tensors="pt", truncation=True, max_length=max_len, padding=True)
        with torch.inference_mode():
            hidden = transformer(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    return embed


def _quantized(transformer):
    """A quantised copy; the shared float model used by the rest of the app is left untouched."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notice pointing to torchao
        return quantize_dynamic(transformer, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
