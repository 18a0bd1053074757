"""The coder's vocabulary: MITI 4.2.1 behaviour codes as a small frozen record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CODES = ("reflection", "question", "affirmation", "summary", "advice", "information", "other")
SUBTYPES = {"reflection": ("simple", "complex"), "question": ("open", "closed")}
# keyed by (code, subtype) as a Code holds them, so a subtype may be None
LABELS: dict[tuple[str, str | None], str] = {
    ("reflection", "simple"): "Simple reflection",
    ("reflection", "complex"): "Complex reflection",
    ("question", "open"): "Open question",
    ("question", "closed"): "Closed question",
}
# Priority for the single label of a multi-part reply: what a reader most needs to see first.
PRIMARY_ORDER = ("summary", "advice", "reflection", "affirmation", "question", "information", "other")


@dataclass(frozen=True)
class Code:
    code: str
    subtype: str | None  # reflection: simple|complex; question: open|closed; else None
    confidence: float
    evidence: str  # "rule:<name>" or "classifier"

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown code {self.code!r}")
        if self.subtype not in (SUBTYPES.get(self.code) or (None,)):
            raise ValueError(f"subtype {self.subtype!r} does not fit code {self.code!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Code:
        """Back from `as_dict`; other keys (a turn's "segments") are ignored.

        A missing key becomes None; `__post_init__` rejects a missing or unknown code.
        """
        values: dict[str, Any] = {k: data.get(k) for k in ("code", "subtype", "confidence", "evidence")}
        return cls(**values)

    @property
    def label(self) -> str:
        """Human label for the demo UI, e.g. "Complex reflection", "Open question"."""
        return LABELS.get((self.code, self.subtype), self.code.capitalize())


def primary_code(parts: Sequence[Code]) -> Code:
    """The one label for a whole reply, from its MITI segments (`TechniqueCoder.code_all`)."""
    if len(parts) == 1:
        return parts[0]
    return min(parts, key=lambda c: PRIMARY_ORDER.index(c.code))


def technique_record(parts: Sequence[Code]) -> dict:
    """What a turn keeps of its reply's coding: the primary code, plus every segment, because
    MITI counts segments ("reflection + question" is one of each)."""
    return {**primary_code(parts).as_dict(), "segments": [c.as_dict() for c in parts]}
