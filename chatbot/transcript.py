"""Session export to Markdown and JSON, written only when the person asks.

Each message appears once (in `turns`); techniques and safety events refer to turns by number
instead of repeating the text. Safety records hold rule ids and scores, never raw text.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from chatbot.conversation import Conversation, Turn

FORMAT = "reflective-listener-transcript"
VERSION = 1


class TurnRecord(TypedDict):
    """One entry of the export's `turns`: the only place a turn's text appears."""

    turn: int
    user: str
    reply: str
    kind: str
    move: str | None
    technique: dict[str, Any] | None
    latency_s: float | None
    first_token_s: float | None
    tokens: int | None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _json_safe(value: Any) -> Any:
    """JSON has no Infinity/NaN (an R:Q with no questions is unbounded): write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else None)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _settings_dict(settings: Any) -> dict | None:
    if settings is None:
        return None
    if is_dataclass(settings) and not isinstance(settings, type):  # an instance, not the class
        return asdict(settings)
    if hasattr(settings, "model_dump"):
        return settings.model_dump()
    return dict(settings)


def safety_events(turns: Sequence[Turn]) -> list[dict]:
    """Only what is worth a reader's attention: routed or risky input, replaced replies."""
    events: list[dict] = []
    for number, turn in enumerate(turns, 1):
        inp = turn.safety or {}
        if inp.get("route") or inp.get("severity") or inp.get("signals") or inp.get("error"):
            event = {"turn": number, "stage": "input", **inp}
            if turn.meta.get("resources_country"):
                event["resources_country"] = turn.meta["resources_country"]
            events.append(event)
        out = turn.output_safety or {}
        if out and not out.get("ok", True):
            events.append({"turn": number, "stage": "output", **out})
    return events


def _miti(turns: Sequence[Turn]) -> dict | None:
    from chatbot.coder.miti import miti_summary, utterance_codes

    codes = utterance_codes(t.technique for t in turns)
    return miti_summary(codes) if codes else None


def transcript_data(
    conversation: Conversation,
    *,
    model: dict | None = None,
    settings: Any = None,
    exported_at: float,
    started_at: float | None = None,
    disclosures: Sequence[dict] = (),
    extra_settings: dict | None = None,
) -> dict:
    """The whole session as plain data (pure: no clock, no I/O)."""
    turns: list[TurnRecord] = []
    for number, turn in enumerate(conversation.turns, 1):
        turns.append(
            {
                "turn": number,
                "user": turn.user_text,
                "reply": turn.reply,
                "kind": turn.kind,
                "move": turn.move,
                "technique": turn.technique,
                "latency_s": turn.latency_s,
                "first_token_s": turn.first_token_s,
                "tokens": turn.tokens,
            }
        )
    all_settings = _settings_dict(settings)
    if extra_settings:
        all_settings = {**(all_settings or {}), **extra_settings}
    return _json_safe(
        {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": _iso(exported_at),
            "session": {
                "id": conversation.session_id,
                "started_at": _iso(started_at),
                "country": conversation.country,
                "careful_mode": conversation.careful_mode,
            },
            "disclosures": list(disclosures),
            "model": model,
            "settings": all_settings,
            "turns": turns,
            "techniques": [{"turn": t["turn"], **t["technique"]} for t in turns if t["technique"]],
            "safety_events": safety_events(conversation.turns),
            "miti": _miti(conversation.turns),
        }
    )


def _quote(text: str) -> str:
    """Person's and listener's words as a Markdown block quote, line by line."""
    return "\n".join("> " + line if line else ">" for line in text.splitlines() or [""])


def to_markdown(data: dict) -> str:
    """The conversation for the person who had it: their words and the listener's, in plain
    language. Model, settings, technique codes and safety events are in the JSON export."""
    exported = (data["exported_at"] or "")[:16].replace("T", " ")
    lines = ["# Your conversation with the reflective-listening AI", ""]
    if exported:
        lines += [f"Saved {exported} (UTC). The listener is an AI, not a person.", ""]
    for t in data["turns"]:
        lines += ["**You:**", "", _quote(t["user"]), ""]
        lines += ["**Listener:**", "", _quote(t["reply"]), ""]
    if not data["turns"]:
        lines += ["(No messages.)", ""]
    lines += [
        "---",
        "",
        "Technical details (model, settings, technique codes) are in the JSON file saved with this one.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def to_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_atomic(path: str | Path, text: str) -> Path:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_session(data: dict, directory: str | Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write `<stem>.md` and `<stem>.json` into `directory`; returns both paths."""
    stem = stem or f"session-{data['session']['id'][:8]}"
    directory = Path(directory)
    md = write_atomic(directory / f"{stem}.md", to_markdown(data))
    js = write_atomic(directory / f"{stem}.json", to_json(data))
    return md, js
