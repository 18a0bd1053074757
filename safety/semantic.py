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

    @classmethod
    @functools.lru_cache(maxsize=1)
    def load(cls) -> SemanticLayer:
        from chatbot.embeddings import embed  # heavy: torch + sentence-transformers

        examples = load_examples_file()
        crisis = embed([normalize(e.text) for e in examples.crisis])
        safe = embed([normalize(e.text) for e in examples.safe])
        return cls(examples, crisis, safe, embed)

    def scores(self, normalized: str) -> tuple[int, float, float]:
        vector = self.embed([normalized])[0]
        crisis_sims = self.crisis_vectors @ vector
        best = int(crisis_sims.argmax())
        safe_best = float((self.safe_vectors @ vector).max()) if len(self.safe_vectors) else 0.0
        return best, float(crisis_sims[best]), safe_best

    def classify(
        self, normalized: str, careful: bool = False, suppressed: bool = False, strong_only: bool = False
    ) -> Verdict | None:
        """strong_only: a rule saw explicit negation, which MiniLM cannot read, so only a near-copy routes."""
        t = self.examples.thresholds
        best, sim, safe_sim = self.scores(normalized)
        shift = (-t.careful_discount if careful else 0.0) + (t.suppressed_penalty if suppressed else 0.0)
        routes = sim >= t.strong + shift or (
            not strong_only and sim >= t.route + shift and sim - safe_sim >= t.margin
        )
        if not routes:
            return None
        ex = self.examples.crisis[best]
        return Verdict(ex.category, ex.severity, ex.subject, ex.id, sim, safe_sim)
