"""What the engine needs of its collaborators besides the model (`chatbot.models.ChatModel`),
and the values that pass between them (`Reading`, `PlannedReply`).

The concrete classes: `safety.SafetyScreen`, `chatbot.listening.ReflectFirstPipeline` and
`chatbot.coder.TechniqueCoder`; tests pass fakes that match these shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from chatbot.coder.codes import primary_code, technique_record

if TYPE_CHECKING:  # for annotations only
    from chatbot.coder.codes import Code
    from chatbot.coder.reply_rules import DirectKind
    from chatbot.models import GenerationSettings, Message
    from safety import Assessment, ConversationRisk, ReplyCheck


class Reading(NamedTuple):
    """What kind of thing the person said (None: something to reflect), and the sentences of it
    that a reflection can echo ("" when there are none)."""

    kind: DirectKind | None
    statements: str

    @property
    def bare(self) -> bool:
        """A one-word answer ("no", "ok", "nah") with nothing else to reflect."""
        return self.kind is not None and self.kind.kind == "minimal" and not self.statements


@dataclass
class PlannedReply:
    text: str
    move: str
    segments: list[Code]  # MITI segments of `text`, coded once
    fallback: bool
    tokens: int
    candidates: list[dict] = field(default_factory=list)  # model text and checks, never user text
    check: ReplyCheck | None = None  # the output rail's verdict on `text`, when the pipeline has a rail

    @property
    def code(self) -> Code:
        return primary_code(self.segments)

    def technique(self) -> dict:
        """The code record the engine, the transcript and demo mode show; no second coding."""
        return technique_record(self.segments)


class SafetyScreen(Protocol):
    """The input screen and the output rail. Neither raises: each fails closed."""

    def assess_message(
        self, text: str, history: Sequence[str] = (), risk: ConversationRisk | None = None
    ) -> Assessment: ...

    def check_reply(self, reply: str, user_text: str = "") -> ReplyCheck: ...

    def warm_up(self) -> None:
        """Load what the first message would otherwise wait for."""


class Coder(Protocol):
    """MITI codes for a listener's utterance; `prompt` is the person's message before it."""

    def code(self, text: str, prompt: str | None = None) -> Code: ...

    def code_all(self, text: str, prompt: str | None = None) -> list[Code]: ...


class ReplyPipeline(Protocol):
    """Plans, generates, checks and codes one listening reply. Model errors propagate."""

    def reply(
        self,
        history: Sequence[Message],
        user_text: str,
        settings: GenerationSettings,
        reading: Reading | None = None,
    ) -> PlannedReply: ...
