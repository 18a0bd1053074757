"""Per-session risk that builds up across turns; careful mode never resets within the session."""

from __future__ import annotations

from .types import Assessment


class ConversationRisk:
    """One per Conversation; mutable; never shared between sessions.

    Holds only signal ids and counts, never text. Retractions ("jk") do not lower anything.
    """

    def __init__(self) -> None:
        self.careful_mode = False
        self.turns = 0
        self.routed_turns: list[int] = []
        self.max_severity = 0
        self.categories: list[str] = []
        self.signal_counts: dict[str, int] = {}
        self.score = 0.0
        self.last_routed: Assessment | None = None  # the latest routed turn's assessment (no text)
        # the crisis classifier's top probability for each turn it scored, newest last (numbers only)
        self.learned_scores: list[float] = []
        self._last_seen: Assessment | None = None  # kept (not its id()), so double updates are harmless

    def update(self, assessment: Assessment) -> None:
        if self._last_seen is assessment:  # a reference, since id() of a freed object can be reused
            return
        self._last_seen = assessment
        self.turns += 1
        for signal in assessment.signals:
            self.signal_counts[signal] = self.signal_counts.get(signal, 0) + 1
        self.score = accumulated_score(self.signal_counts)
        if assessment.learned_score is not None:
            self.learned_scores = [*self.learned_scores[-(LEARNED_WINDOW - 1) :], assessment.learned_score]
        if assessment.route:
            self.careful_mode = True
            # the build-up so far has had its answer: the window adds up afresh, not the same turns again
            self.learned_scores = []
            self.routed_turns.append(self.turns)
            self.max_severity = max(self.max_severity, assessment.severity)
            if assessment.category and assessment.category not in self.categories:
                self.categories.append(assessment.category)
            self.last_routed = assessment

    def learned_window(self) -> float:
        """Sum of the classifier's scores over the recent turns it scored: slow build-ups add up."""
        return sum(self.learned_scores)

    def just_routed(self) -> bool:
        """The previous message was routed, so the reply the person is answering asked about safety."""
        return bool(self.routed_turns) and self.routed_turns[-1] == self.turns

    def as_dict(self) -> dict:
        return {
            "careful_mode": self.careful_mode,
            "turns": self.turns,
            "routed_turns": list(self.routed_turns),
            "max_severity": self.max_severity,
            "categories": list(self.categories),
            "signals": dict(self.signal_counts),
            "score": round(self.score, 3),
        }


LEARNED_WINDOW = 3  # turns whose classifier scores add up (this one and the two before)

# Weight per signal family; a signal counts at most twice so one repeated phrase cannot route alone.
SIGNAL_WEIGHTS = {
    "hopeless": 1.0,
    "burden": 1.5,
    "isolation": 0.5,
    "goodbye": 2.0,
    "giving_away": 2.0,
    "stressor": 0.5,
    "ending": 1.5,
    "distress": 0.5,
    "method_ambiguous": 1.5,
    "retraction": 0.0,
    # Eating-disorder build-up signals are scored separately (screen.py), not towards suicide.
    "ed_restrict": 0.0,
    "ed_body": 0.0,
}


def accumulated_score(signal_counts: dict[str, int]) -> float:
    total = 0.0
    for signal, count in signal_counts.items():
        family = signal.split(".", 1)[0]
        total += SIGNAL_WEIGHTS.get(family, 0.5) * min(count, 2)
    return total
