"""Frozen records the screen returns. None of them ever holds the person's raw text."""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = (
    "suicide",
    "self_harm",
    "harm_to_others",
    "abuse",
    "medical_emergency",
    "eating_disorder",
)
SUBJECTS = ("self", "other")


@dataclass(frozen=True)
class Assessment:
    route: bool  # True -> fixed crisis reply, the model is never called
    category: str | None  # one of CATEGORIES, or None
    severity: int  # 0 none .. 6 (C-SSRS-informed; other categories mapped onto the same scale)
    subject: str  # "self" | "other"
    evidence: tuple[str, ...]  # rule ids / example ids that matched; never raw text
    immediate_danger: bool = False  # emergency number first
    error: str | None = None  # exception type name when the screen failed closed
    signals: tuple[str, ...] = ()  # conversation-level risk signals (e.g. hopelessness), for ConversationRisk
    learned_score: float | None = None  # the crisis classifier's top probability, when it ran

    def as_dict(self) -> dict:
        return {
            "route": self.route,
            "category": self.category,
            "severity": self.severity,
            "subject": self.subject,
            "evidence": list(self.evidence),
            "immediate_danger": self.immediate_danger,
            "error": self.error,
            "signals": list(self.signals),
            "learned_score": self.learned_score,
        }


def failed_closed(error: BaseException | str, category: str | None = None) -> Assessment:
    """What the screen returns when it could not finish: treat as a possible crisis."""
    name = error if isinstance(error, str) else type(error).__name__
    return Assessment(
        route=True,
        category=category,
        severity=0,
        subject="self",
        evidence=("fail_closed",),
        error=name,
    )


@dataclass(frozen=True)
class ReplyCheck:
    ok: bool
    reason: (
        str | None
    )  # method_detail | encouragement | diagnosis | claims_human | claims_therapist | crisis_voice | error
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "evidence": list(self.evidence)}
