"""The listening corpus: one JSONL file per move in data/listening/, split by topic (topics.yaml).

A row: {"id", "move", "kind", "topic", "context": [{"role", "content"}...], "user", "reply"}.
The same rows train the adapter (train split), choose the checkpoint (validation split) and
measure it on lives it never saw (test split).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

MOVES = ("reflect", "question", "affirm", "summarize", "respond")
RESPOND_KINDS = (
    "greeting",
    "minimal",
    "thanks",
    "goodbye",
    "feedback",
    "clarify",
    "about_bot",
    "asks_advice",
    "asks_help",
    "may_ask",
    "change_topic",
    "question",
)
SPLITS = ("train", "validation", "test")


class CorpusError(ValueError):
    """A corpus row that does not fit the format; the message names the file and line."""


@dataclass(frozen=True)
class ListeningExample:
    id: str
    move: str
    kind: str | None
    topic: str
    context: tuple[tuple[str, str], ...]  # (role, content), user first, assistant last
    user: str
    reply: str

    def history(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.context]


def corpus_dir() -> Path:
    return Path(str(resources.files("chatbot.train").joinpath("data", "listening")))


@functools.lru_cache(maxsize=4)
def topic_splits(path: Path | None = None) -> dict[str, str]:
    path = path or corpus_dir() / "topics.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for split in SPLITS:
        for topic in data.get(split) or []:
            if topic in out:
                raise CorpusError(f"{path}: topic {topic!r} is in two splits")
            out[topic] = split
    return out


def parse_row(raw: dict, where: str, topics: dict[str, str]) -> ListeningExample:
    def need(field: str, kind: type) -> object:
        value = raw.get(field)
        if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
            raise CorpusError(f"{where}: field {field!r} missing or not a {kind.__name__}")
        return value

    move = need("move", str)
    if move not in MOVES:
        raise CorpusError(f"{where}: move {move!r} is not one of {MOVES}")
    kind = raw.get("kind")
    if (move == "respond") != (kind is not None) or (kind is not None and kind not in RESPOND_KINDS):
        raise CorpusError(f"{where}: kind {kind!r} does not fit move {move!r}")
    topic = need("topic", str)
    if topic not in topics:
        raise CorpusError(f"{where}: topic {topic!r} is not in topics.yaml")
    context = raw.get("context") or []
    if not isinstance(context, list):
        raise CorpusError(f"{where}: context must be a list")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(context):
        role = "user" if i % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != role:
            raise CorpusError(f"{where}: context[{i}] must be a {role} message")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise CorpusError(f"{where}: context[{i}] has no content")
        turns.append((role, content.strip()))
    if len(turns) % 2:
        raise CorpusError(f"{where}: context must end with an assistant message")
    return ListeningExample(
        id=str(need("id", str)),
        move=str(move),
        kind=kind,
        topic=str(topic),
        context=tuple(turns),
        user=str(need("user", str)).strip(),
        reply=str(need("reply", str)).strip(),
    )


def read_file(path: Path, topics: dict[str, str] | None = None) -> Iterator[ListeningExample]:
    topics = topics if topics is not None else topic_splits()
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not JSON ({exc.msg})") from None
            yield parse_row(raw, where, topics)


def load_corpus(split: str | None = None, directory: Path | None = None) -> list[ListeningExample]:
    """Every row of every move file, optionally only one split; ids must be unique."""
    directory = directory or corpus_dir()
    topics = topic_splits(directory / "topics.yaml")
    rows: list[ListeningExample] = []
    for move in MOVES:
        path = directory / f"{move}.jsonl"
        if path.exists():
            rows.extend(read_file(path, topics))
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise CorpusError(f"{directory}: id {row.id!r} appears twice")
        seen.add(row.id)
    if split is not None:
        if split not in SPLITS:
            raise CorpusError(f"unknown split {split!r}")
        rows = [r for r in rows if topics[r.topic] == split]
    return rows
