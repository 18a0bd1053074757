"""What the engine needs of its collaborators besides the model (`chatbot.models.ChatModel`).

The concrete classes: `safety.SafetyScreen`, `chatbot.listening.ReflectFirstPipeline` and
`chatbot.coder.TechniqueCoder`; tests pass fakes that match these shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # for annotations only: the engine imports no coder or pipeline code to start
    from chatbot.coder.codes import Code
    from chatbot.listening import PlannedReply, Reading
    from chatbot.models import GenerationSettings, Message
    from safety import Assessment, ConversationRisk, ReplyCheck


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
