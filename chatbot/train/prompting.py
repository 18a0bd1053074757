"""Messages for the listening adapter: one builder for training rows and for live turns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from chatbot.models import Message
from chatbot.prompts import load_prompt

WINDOW_FILE = "listening.json"  # in an adapter folder: the conversation it was trained to see


@dataclass(frozen=True)
class ContextWindow:
    """Earlier exchanges shown to the adapter; it must see at a live turn what it saw in training."""

    exchanges: int = 2  # reflect, question, affirm
    summary_exchanges: int = 3  # a summary gathers more of the conversation

    def messages_kept(self, move: str) -> int:
        return 2 * (self.summary_exchanges if move == "summarize" else self.exchanges)


DEFAULT_WINDOW = ContextWindow()


def read_window(adapter_dir: str | Path | None) -> ContextWindow:
    """The window an adapter was trained with; adapters saved before the file existed saw the default."""
    if adapter_dir is None:
        return DEFAULT_WINDOW
    path = Path(adapter_dir) / WINDOW_FILE
    if not path.exists():
        return DEFAULT_WINDOW
    return ContextWindow(**json.loads(path.read_text(encoding="utf-8"))["context_window"])


def write_window(folder: Path, window: ContextWindow) -> None:
    (folder / WINDOW_FILE).write_text(json.dumps({"context_window": asdict(window)}, indent=1) + "\n", encoding="utf-8")


def adapter_messages(
    move: str, history: Sequence[Message], user_text: str, window: ContextWindow = DEFAULT_WINDOW
) -> list[Message]:
    prompt = load_prompt("listener")
    instruction = prompt.messages[move]
    system: Message = {"role": "system", "content": f"{prompt.template.strip()} {instruction}"}
    keep = window.messages_kept(move)
    recent = [{"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ("user", "assistant")]
    return [system, *(recent[-keep:] if keep else []), {"role": "user", "content": user_text}]
