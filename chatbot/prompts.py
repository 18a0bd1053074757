"""Prompt templates as YAML data in prompts/, validated at load so a typo is an error."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class FewShot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    assistant: str
    history: list[dict[str, str]] = []


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    template: str
    examples: list[FewShot] = []
    messages: dict[str, str] = {}  # fixed texts keyed by situation (engine_messages.yaml)

    def render(self, **values: str) -> str:
        return self.template.format(**values) if values else self.template


class PromptError(ValueError):
    pass


def prompts_dir() -> Path:
    return Path(str(resources.files("prompts")))


@functools.cache
def load_prompt(name: str, directory: str | None = None) -> PromptTemplate:
    path = Path(directory or prompts_dir()) / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptError(f"No prompt template '{name}' at {path}") from None
    except yaml.YAMLError as exc:
        raise PromptError(f"{path}: not valid YAML: {exc}") from None
    try:
        return PromptTemplate.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) + f" ({e['msg']})" for e in exc.errors())
        raise PromptError(f"{path}: invalid template: {fields}") from None
