"""An eval run's config: the app's own sections (validated by chatbot.config) plus a `run:` section.

The app sections go through the same `Config` model the app uses, so a run measures exactly
what a person would talk to. Environment variables (LISTENER__...) are ignored on purpose: a
run depends only on its file and the command line, and the resolved config is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot.config import _merge

Metric = Literal["miti", "length", "repetition", "safety", "crisis", "speed"]
METRICS: tuple[Metric, ...] = ("miti", "length", "repetition", "safety", "crisis", "speed")


class RunSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int | None = 0  # if set, also becomes generation.seed
    scenario_sets: list[str] = ["all"]  # set names under evals/data/scenarios/, "all", or paths
    limit: int | None = Field(None, ge=1)  # at most this many scenarios per set
    max_turns: int | None = Field(None, ge=1)  # at most this many turns per scenario
    esconv: str | None = None  # path to a local ESConv.json (never shipped)
    annomi: str | None = None  # path to a local AnnoMI-simple.csv (never shipped)
    annomi_quality: Literal["high", "low"] | None = None
    safety_sets: bool = True  # score the screen on the project set of the safety corpus (safety/data/)
    crisis_probe: bool = True  # send each crisis message of that set through the listener
    metrics: list[Metric] = list(METRICS)
    output_dir: str = "runs"


class RunConfigError(ValueError):
    pass


@dataclass(frozen=True)
class RunConfig:
    run: RunSection
    app_config: Any  # chatbot.config.Config

    def resolved(self) -> dict:
        """What summary.json records: every setting after defaults and overrides."""
        return {**self.app_config.model_dump(), "run": self.run.model_dump()}


def _dotted(item: str) -> dict:
    key, sep, raw = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not sep or len(parts) != 2:
        raise RunConfigError(f"--set '{item}': expected section.key=value, e.g. run.limit=2")
    return {parts[0]: {parts[1]: yaml.safe_load(raw.strip()) if raw.strip() else None}}


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(prefix + ".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())


def parse_run_config(data: Mapping, origin: str = "config", overrides: Sequence[str] = ()) -> RunConfig:
    from chatbot.config import Config, defaults_path

    if not isinstance(data, Mapping):
        raise RunConfigError(f"{origin}: expected a mapping of sections at the top level")
    for item in overrides:
        data = _merge(dict(data), _dotted(item))
    data = dict(data)
    run_data = data.pop("run", None) or {}
    try:
        run = RunSection.model_validate(run_data)
    except ValidationError as exc:
        raise RunConfigError(f"{origin}: invalid run settings: {_problems(exc, 'run.')}") from None
    app_data = _merge(yaml.safe_load(defaults_path().read_text(encoding="utf-8")) or {}, data)
    if run.seed is not None:
        app_data = _merge(app_data, {"generation": {"seed": run.seed}})
    try:
        app = Config.model_validate(app_data)
    except ValidationError as exc:
        raise RunConfigError(f"{origin}: invalid settings: {_problems(exc)}") from None
    return RunConfig(run=run, app_config=app)


def load_run_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RunConfigError(f"Run config not found: {path}") from None
    except yaml.YAMLError as exc:
        raise RunConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_run_config(data, str(path), overrides)
