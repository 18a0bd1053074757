"""Making any input safe to handle: bytes, control characters, empty and huge messages."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# C0/C1 controls except tab and newline; also lone surrogates that cannot be encoded.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")


def _meaningful(ch: str) -> bool:
    """Letters, digits and emoji carry meaning; undecodable bytes (U+FFFD) and punctuation alone do not."""
    return ch != "\ufffd" and unicodedata.category(ch)[0] in "LNS"


@dataclass(frozen=True)
class CleanInput:
    text: str  # what the screen and the model see
    problem: str | None  # None | "empty" | "too_long"


def clean_user_text(raw: str | bytes | None, max_chars: int) -> CleanInput:
    if raw is None:
        raw = ""
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = str(raw)
    text = _SURROGATE.sub("\ufffd", raw)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text).strip()
    if not any(_meaningful(ch) for ch in text):
        return CleanInput(text=text, problem="empty")
    if len(text) > max_chars:
        return CleanInput(text=text, problem="too_long")
    return CleanInput(text=text, problem=None)
