"""Messages for the listening adapter: one builder for training rows and for live turns."""

from __future__ import annotations

from collections.abc import Sequence

from chatbot.models import Message
from chatbot.prompts import load_prompt

# Earlier exchanges the adapter sees (a summary needs more of the conversation).
HISTORY_EXCHANGES = {"summarize": 3}
DEFAULT_HISTORY_EXCHANGES = 2


def adapter_messages(move: str, history: Sequence[Message], user_text: str) -> list[Message]:
    prompt = load_prompt("listener")
    instruction = prompt.messages[move]
    system: Message = {"role": "system", "content": f"{prompt.template.strip()} {instruction}"}
    keep = 2 * HISTORY_EXCHANGES.get(move, DEFAULT_HISTORY_EXCHANGES)
    recent = [{"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ("user", "assistant")]
    return [system, *recent[-keep:], {"role": "user", "content": user_text}]
