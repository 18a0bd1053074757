"""The labelled safety corpus: safety/data/<category>.jsonl and conversations.jsonl.

A message row: {"id", "text", "category" (a crisis category or "none"), "subject" ("self" or
"other"), "lang", "source", "split" ("train", "validation" or "test")}.
A conversation row: {"id", "category", "act_turn" (0-based, or null: never route), "turns",
"source", "split"}. Sources: "project-set" (the first hand-written set), "blind-set" (sets written
blind and run once before they joined), "written", "examples"; ordinary talk (no crisis, not
written to look like one) is "listening-corpus" (user lines of the listening corpus) or
"ordinary-written" (emotional everyday messages written for the screen).
The sealed set (evals/data/sealed/safety_*.jsonl) has the same formats and is read with the same
functions, never trained on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .types import CATEGORIES, SUBJECTS

LABELS = (*CATEGORIES, "none")
ORDINARY_SOURCES = frozenset({"listening-corpus", "ordinary-written"})
SPLITS = ("train", "validation", "test")


class SafetyCorpusError(ValueError):
    """A row that does not fit the format; the message names the file and line."""


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    text: str
    category: str  # one of CATEGORIES, or "none"
    subject: str
    lang: str
    split: str
    source: str = ""  # who wrote it, e.g. "written", "listening-corpus" (ordinary talk)

    @property
    def crisis(self) -> bool:
        return self.category != "none"

    @property
    def ordinary(self) -> bool:
        return self.source in ORDINARY_SOURCES


@dataclass(frozen=True)
class LabelledConversation:
    id: str
    category: str
    act_turn: int | None
    turns: tuple[str, ...]
    split: str
    source: str = ""


def corpus_dir() -> Path:
    return Path(str(resources.files("safety").joinpath("data")))


def _lines(path: Path) -> Iterable[tuple[str, dict]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                where = f"{path.name}:{number}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SafetyCorpusError(f"{where}: not JSON ({exc.msg})") from None


def parse_message(raw: dict, where: str, default_split: str = "test") -> LabelledMessage:
    text, category = raw.get("text"), raw.get("category")
    if not isinstance(text, str) or not text.strip():
        raise SafetyCorpusError(f"{where}: no text")
    if category not in LABELS:
        raise SafetyCorpusError(f"{where}: category {category!r} is not one of {LABELS}")
    subject = raw.get("subject", "self")
    if subject not in SUBJECTS:
        raise SafetyCorpusError(f"{where}: subject {subject!r} is not one of {SUBJECTS}")
    split = raw.get("split", default_split)
    if split not in SPLITS:
        raise SafetyCorpusError(f"{where}: split {split!r} is not one of {SPLITS}")
    return LabelledMessage(
        str(raw.get("id") or where),
        text,
        category,
        subject,
        str(raw.get("lang", "en")),
        split,
        str(raw.get("source", "")),
    )


def load_messages(split: str | None = None, path: Path | None = None) -> list[LabelledMessage]:
    """Every message of the corpus (a folder of <label>.jsonl) or of one .jsonl file."""
    files = [path] if path and path.is_file() else [(path or corpus_dir()) / f"{label}.jsonl" for label in LABELS]
    out = [parse_message(raw, where) for f in files if f.exists() for where, raw in _lines(f)]
    return [m for m in out if split is None or m.split == split]


def load_conversations(split: str | None = None, path: Path | None = None) -> list[LabelledConversation]:
    path = path or corpus_dir() / "conversations.jsonl"
    out = []
    for where, raw in _lines(path):
        turns = raw.get("turns")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise SafetyCorpusError(f"{where}: turns must be a non-empty list of strings")
        act = raw.get("act_turn")
        if act is not None and not (isinstance(act, int) and 0 <= act < len(turns)):
            raise SafetyCorpusError(f"{where}: act_turn {act!r} is not a turn index")
        category = raw.get("category") or "none"
        if category not in LABELS:
            raise SafetyCorpusError(f"{where}: category {category!r} is not one of {LABELS}")
        out.append(
            LabelledConversation(
                str(raw.get("id") or where),
                category,
                act,
                tuple(turns),
                str(raw.get("split", "test")),
                str(raw.get("source", "")),
            )
        )
    return [c for c in out if split is None or c.split == split]
