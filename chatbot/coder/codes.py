"""The coder's vocabulary: MITI 4.2.1 behaviour codes as a small frozen record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CODES = ("reflection", "question", "affirmation", "summary", "advice", "information", "other")
SUBTYPES = {"reflection": ("simple", "complex"), "question": ("open", "closed")}
LABELS = {
    ("reflection", "simple"): "Simple reflection",
    ("reflection", "complex"): "Complex reflection",
    ("question", "open"): "Open question",
    ("question", "closed"): "Closed question",
}


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

    @property
    def label(self) -> str:
        """Human label for the demo UI, e.g. "Complex reflection", "Open question"."""
        return LABELS.get((self.code, self.subtype), self.code.capitalize())
