"""Scenario datasets: the project's YAML sets, and loaders for public sets a user keeps locally.

A scenario is one simulated conversation: the user's messages in order. ESConv and AnnoMI are
never shipped; the loaders read a copy the researcher downloaded themselves.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Scenario:
    set: str  # which dataset it came from, e.g. "core", "esconv"
    id: str
    topic: str
    turns: tuple[str, ...]  # the user's messages, in order


class _ScenarioEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    topic: str = ""
    turns: list[str]


class _ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenarios: list[_ScenarioEntry]


def scenarios_dir() -> Path:
    return Path(str(resources.files("evals") / "data" / "scenarios"))


def available_sets(directory: Path | None = None) -> list[str]:
    folder = directory or scenarios_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_scenario_file(path: Path, set_name: str | None = None) -> list[Scenario]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"Scenario file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"{path}: not valid YAML: {exc}") from None
    try:
        parsed = _ScenarioFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())
        raise DatasetError(f"{path}: {problems}") from None
    name = set_name or path.stem
    seen: set[str] = set()
    out = []
    for entry in parsed.scenarios:
        if entry.id in seen:
            raise DatasetError(f"{path}: scenario id '{entry.id}' appears twice")
        if not entry.turns:
            raise DatasetError(f"{path}: scenario '{entry.id}' has no turns")
        seen.add(entry.id)
        out.append(Scenario(name, entry.id, entry.topic, tuple(entry.turns)))
    return out


def load_scenario_sets(names: Iterable[str], directory: Path | None = None) -> list[Scenario]:
    """Each name is a set under evals/data/scenarios/ (its file stem), "all", or a YAML path."""
    folder = directory or scenarios_dir()
    out: list[Scenario] = []
    for name in names:
        if name == "all":
            for stem in available_sets(folder):
                out.extend(load_scenario_file(folder / f"{stem}.yaml"))
            continue
        path = Path(name)
        if path.suffix in (".yaml", ".yml"):
            out.extend(load_scenario_file(path))
        elif (folder / f"{name}.yaml").exists():
            out.extend(load_scenario_file(folder / f"{name}.yaml"))
        else:
            known = ", ".join(available_sets(folder)) or "none"
            raise DatasetError(f"Unknown scenario set '{name}' (known: {known}, or a .yaml path)")
    return out


def _merge_runs(speakers_texts: Iterable[tuple[bool, str]]) -> list[str]:
    """The user's messages: consecutive user utterances joined into one message."""
    turns: list[str] = []
    previous_was_user = False
    for is_user, text in speakers_texts:
        text = " ".join(text.split())
        if not text:  # an empty utterance neither adds nor breaks a run
            continue
        if is_user and previous_was_user:
            turns[-1] = f"{turns[-1]} {text}"
        elif is_user:
            turns.append(text)
        previous_was_user = is_user
    return turns


def load_esconv(path: str | Path) -> list[Scenario]:
    """ESConv.json (Liu et al. 2021): a list of dialogues with `dialog: [{speaker, content}]`.
    The seeker's messages become the scenario; the supporter's replies are dropped."""
    path = Path(path)
    try:
        dialogues = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"ESConv file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(dialogues, list):
        raise DatasetError(f"{path}: expected a JSON list of dialogues (ESConv.json)")
    out = []
    for index, dialogue in enumerate(dialogues):
        try:
            pieces = [(u["speaker"] == "seeker", u["content"]) for u in dialogue["dialog"]]
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: dialogue {index} lacks dialog/speaker/content ({exc})") from None
        turns = _merge_runs(pieces)
        if turns:
            topic = dialogue.get("problem_type") or dialogue.get("emotion_type") or ""
            out.append(Scenario("esconv", f"esconv-{index:04d}", topic, tuple(turns)))
    return out


ANNOMI_COLUMNS = ("transcript_id", "utterance_id", "interlocutor", "utterance_text")


def load_annomi(path: str | Path, quality: str | None = None) -> list[Scenario]:
    """AnnoMI-simple.csv (Wu et al. 2022): one row per utterance. The client's messages of each
    transcript become a scenario; `quality` ("high"/"low") keeps only those transcripts."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DatasetError(f"AnnoMI file not found: {path}") from None
    missing = [c for c in ANNOMI_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise DatasetError(f"{path}: missing AnnoMI columns {missing}")
    by_transcript: dict[str, list[dict]] = {}
    for row in rows:
        if quality and row.get("mi_quality") != quality:
            continue
        by_transcript.setdefault(row["transcript_id"], []).append(row)
    out = []
    for transcript_id in sorted(by_transcript, key=_natural):
        # AnnoMI-full repeats an utterance once per annotator: keep each utterance once
        unique = {int(r["utterance_id"]): r for r in by_transcript[transcript_id]}
        utterances = [unique[i] for i in sorted(unique)]
        turns = _merge_runs((r["interlocutor"] == "client", r["utterance_text"]) for r in utterances)
        if turns:
            topic = utterances[0].get("topic", "")
            out.append(Scenario("annomi", f"annomi-{transcript_id}", topic, tuple(turns)))
    return out


def _natural(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (10**9, key)


def limit_per_set(scenarios: list[Scenario], limit: int | None) -> list[Scenario]:
    """At most `limit` scenarios of each set, taking its topics in turn (first topic's first
    scenario, second topic's first, ...), so a small subset still covers every topic. Stable."""
    if limit is None:
        return scenarios
    chosen: set[int] = set()
    for set_name in dict.fromkeys(s.set for s in scenarios):
        by_topic: dict[str, list[int]] = {}
        for i, s in enumerate(scenarios):
            if s.set == set_name:
                by_topic.setdefault(s.topic, []).append(i)
        queues = list(by_topic.values())
        picked = 0
        while picked < limit and any(queues):
            for queue in queues:
                if queue and picked < limit:
                    chosen.add(queue.pop(0))
                    picked += 1
    return [s for i, s in enumerate(scenarios) if i in chosen]  # file order kept
