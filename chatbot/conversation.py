"""Conversation and turn records. One Conversation per browser/terminal session, never shared."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from safety.risk import ConversationRisk


@dataclass(frozen=True)
class Turn:
    """One exchange: what the person said and what was shown back."""

    user_text: str
    reply: str
    kind: str  # "listening" | "crisis" | "input_error" | "model_error" | "replaced" | "busy" (never recorded)
    move: str | None = None  # planned listening move (reflect, question, affirm, summarize)
    technique: dict[str, Any] | None = None  # {"code": ..., "subtype": ...} from the coder
    safety: dict[str, Any] | None = None  # input assessment, without raw text
    output_safety: dict[str, Any] | None = None
    latency_s: float | None = None
    first_token_s: float | None = None
    tokens: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Conversation:
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    country: str = "US"
    turns: list[Turn] = field(default_factory=list)
    risk: ConversationRisk = field(default_factory=ConversationRisk)

    @property
    def careful_mode(self) -> bool:
        """On once a crisis was routed; never cleared within the session (the risk keeps it)."""
        return self.risk.careful_mode

    def messages(self) -> list[dict[str, str]]:
        """Role/content history as shown to the person (crisis replies included)."""
        out: list[dict[str, str]] = []
        for turn in self.turns:
            out.append({"role": "user", "content": turn.user_text})
            out.append({"role": "assistant", "content": turn.reply})
        return out

    def user_texts(self) -> list[str]:
        return [t.user_text for t in self.turns]

    def undo(self) -> Turn | None:
        return self.turns.pop() if self.turns else None

    def clear(self) -> None:
        self.turns.clear()
