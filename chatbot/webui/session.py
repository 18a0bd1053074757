"""One browser session's state: the conversation, the demo flag, the AI disclosures shown.

Kept in a gr.State, so each browser tab has its own; nothing here is shared or module-level.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chatbot.conversation import Conversation

# New York GBL Art. 47: say it is an AI at the start and at least every three hours of use.
REDISCLOSE_AFTER_S = 3 * 60 * 60


@dataclass(frozen=True)
class Notice:
    """An AI disclosure shown in the chat log before turn number `before_turn` (0-based)."""

    before_turn: int
    text: str
    at: float

    def as_dict(self) -> dict:
        return {
            "before_turn": self.before_turn,
            "at": datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="seconds"),
            "text": self.text,
        }


@dataclass
class Session:
    conversation: Conversation
    started_at: float
    disclosed_at: float
    notices: list[Notice] = field(default_factory=list)
    demo: bool = False
    help_open: bool = False  # "Get help now" was pressed
    help_hidden: bool = False  # the person closed the panel; "Get help now" or a new crisis reopens it
    pending: str | None = None  # the message whose reply is being written (restored on Stop)
    kept: str | None = None  # a message the model was too busy to take, put back in the box
    stop: threading.Event | None = None  # Stop for the reply being written; each reply has its own
    retries: int = 0  # Retry presses for the last message: each one samples a different reply
    export_dir: str | None = None  # created on the first export only

    @property
    def show_help(self) -> bool:
        """Once shown, the help panel stays until the person closes it (one tap reopens it)."""
        return not self.help_hidden and (self.help_open or self.conversation.careful_mode)


def new_session(conversation: Conversation, now: float, first_message: str) -> Session:
    return Session(
        conversation=conversation,
        started_at=now,
        disclosed_at=now,
        notices=[Notice(0, first_message, now)],
    )


def remind_if_due(session: Session, now: float, reminder: str) -> bool:
    """Add the AI reminder before the next turn when three hours passed since the last one."""
    if now - session.disclosed_at < REDISCLOSE_AFTER_S:
        return False
    session.notices.append(Notice(len(session.conversation.turns), reminder, now))
    session.disclosed_at = now
    return True


def delete_exports(session: Session | None) -> None:
    """Remove exported copies kept on this machine (also run when Gradio drops the state)."""
    if session is not None and session.export_dir:
        shutil.rmtree(session.export_dir, ignore_errors=True)
        session.export_dir = None


def delete_session(session: Session, now: float, first_message: str) -> None:
    """Delete means: the turns, technique codes and exported files are gone. Careful mode (set by
    a crisis message) and the help panel stay on, because the risk did not go away."""
    delete_exports(session)
    session.conversation.clear()
    session.pending = None
    if session.stop is not None:
        session.stop.set()  # a reply still being written belongs to the deleted conversation
    session.notices = [Notice(0, first_message, now)]
    session.disclosed_at = now
