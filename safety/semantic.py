"""Semantic layer: nearest curated examples (safety/examples.yaml) in MiniLM space.

Catches paraphrases with no keyword. Routes when the closest crisis example is close enough and
clearly closer than the closest non-crisis example. Thresholds live in examples.yaml.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources as pkg_resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .normalize import normalize
from .resources import ResourceFileError
from .types import CATEGORIES

EXAMPLES_FILE = "examples.yaml"


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


class ExamplesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    thresholds: Thresholds
    crisis: tuple[CrisisExample, ...]
    safe: tuple[SafeExample, ...]


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


def load_examples_file() -> ExamplesFile:
    text = pkg_resources.files("safety").joinpath(EXAMPLES_FILE).read_text("utf-8")
    try:
        return ExamplesFile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResourceFileError(f"safety/{EXAMPLES_FILE}: field '{where}': {first['msg']}") from exc


class SemanticLayer:
    def __init__(self, examples: ExamplesFile, crisis_vectors, safe_vectors, embed_fn) -> None:
        self.examples = examples
        self.crisis_vectors = crisis_vectors
        self.safe_vectors = safe_vectors
        self.embed = embed_fn
        self.classifier = _fit_classifier(crisis_vectors, safe_vectors, examples.thresholds.classifier_c)

    @classmethod
    @functools.lru_cache(maxsize=1)
    def load(cls) -> SemanticLayer:
        embed = fast_embedder()
        examples = load_examples_file()
        crisis = embed([normalize(e.text) for e in examples.crisis])
        safe = embed([normalize(e.text) for e in examples.safe])
        return cls(examples, crisis, safe, embed)

    def scores(self, normalized: str) -> tuple[int, float, float]:
        best, sim, safe_best, _ = self._scores(normalized)
        return best, sim, safe_best

    def _scores(self, normalized: str) -> tuple[int, float, float, float]:
        vector = _cached_vector(self.embed, normalized)
        crisis_sims = self.crisis_vectors @ vector
        best = int(crisis_sims.argmax())
        safe_best = float((self.safe_vectors @ vector).max()) if len(self.safe_vectors) else 0.0
        prob = float(self.classifier.predict_proba(vector[None, :])[0, 1])
        return best, float(crisis_sims[best]), safe_best, prob

    def classify(
        self, normalized: str, careful: bool = False, suppressed: bool = False, strong_only: bool = False,
        no_classifier: bool = False,
    ) -> Verdict | None:
        """strong_only: a rule saw explicit negation, which MiniLM cannot read, so only a near-copy routes."""
        t = self.examples.thresholds
        best, sim, safe_sim, prob = self._scores(normalized)
        shift = (-t.careful_discount if careful else 0.0) + (t.suppressed_penalty if suppressed else 0.0)
        routes = sim >= t.strong + shift or (
            not strong_only and sim >= t.route + shift and sim - safe_sim >= t.margin
        )
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


@functools.lru_cache(maxsize=512)
def _cached_query(embed, text: str):
    return embed([text])[0]


def _cached_vector(embed, text: str):
    """Short repeated messages ("ok", "yes", "thanks") are common; embed each once."""
    return _cached_query(embed, text) if len(text) < 200 else embed([text])[0]


def fast_embedder():
    """The shared packaged MiniLM, called without sentence-transformers' per-call overhead.

    Same tokenizer, weights, mean pooling and L2 normalisation as chatbot.embeddings.embed
    (cosine 1.0 against it, checked by tests/test_safety_semantic.py), but a few ms faster per call.
    """
    import torch  # heavy: loaded only when the semantic layer is first used

    from chatbot.embeddings import load_embedder

    model = load_embedder()
    tokenizer = model.tokenizer
    transformer = model[0].auto_model.eval()
    max_len = min(int(getattr(model, "max_seq_length", 256) or 256), 256)

    def embed(texts: list[str]):
        batch = tokenizer(texts, return_tensors="pt", truncation=True, max_length=max_len, padding=True)
        with torch.inference_mode():
            hidden = transformer(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    return embed
