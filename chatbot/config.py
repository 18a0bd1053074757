"""One configuration: defaults in defaults.yaml, then a YAML file, the environment, the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from chatbot.models import GenerationSettings

ENV_PREFIX = "LISTENER__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    backend: Literal["embedded", "transformers", "openai"]
    name: str | None
    base_url: str | None
    api_key_env: str
    cache_dir: str | None
    engine: Literal["auto", "llama.cpp", "torch"]
    slots: int = Field(ge=1, le=64)
    dtype: Literal["auto", "float32", "bfloat16", "float16"]
    threads: int | None
    timeout_s: float
    kv_cache: Literal["dynamic", "static"]
    pack_4bit: bool
    int8_head: bool
    adapter: str
    context_window: int


class GenerationConfig(_Section):
    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    do_sample: bool
    seed: int | None


class ListeningConfig(_Section):
    pipeline: bool
    candidates: int
    history_tokens: int
    busy_summaries_at: int = Field(ge=1)


class SafetyConfig(_Section):
    semantic: bool
    timeout_s: float


class LocaleConfig(_Section):
    country: str


class AppConfig(_Section):
    host: str
    port: int
    concurrency_limit: int = Field(ge=1)
    max_waiting: int = Field(ge=0)
    max_message_chars: int


class Config(_Section):
    """Every field is required: the values, and their meaning, are in defaults.yaml alone."""

    model: ModelConfig
    generation: GenerationConfig
    listening: ListeningConfig
    safety: SafetyConfig
    locale: LocaleConfig
    app: AppConfig

    def generation_settings(self) -> GenerationSettings:
        from chatbot.models import GenerationSettings

        return GenerationSettings(**self.generation.model_dump())


class ConfigError(ValueError):
    pass


def _merge(base: dict, override: Mapping) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _dotted(key: str, raw: str, origin: str) -> dict:
    parts = [p for p in key.lower().split(".") if p]
    if len(parts) != 2:
        raise ConfigError(f"{origin}: '{key}' must look like section.key (e.g. model.backend)")
    return {parts[0]: {parts[1]: yaml.safe_load(raw) if raw != "" else None}}


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def defaults_path() -> Path:
    return Path(str(resources.files("chatbot") / "defaults.yaml"))


def default_config() -> Config:
    """defaults.yaml alone: no file, environment or command line."""
    return load_config(environ={})


def default_settings(**changes: object) -> GenerationSettings:
    """The generation settings of defaults.yaml, with these changes."""
    return default_config().generation_settings().with_(**changes)


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults < config file < LISTENER__SECTION__KEY env vars < --set section.key=value."""
    data = _read_yaml(defaults_path())
    if path:
        data = _merge(data, _read_yaml(Path(path)))
    env = os.environ if environ is None else environ
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].replace("__", ".")
            data = _merge(data, _dotted(key, raw, f"environment variable {name}"))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set '{item}': expected section.key=value")
        data = _merge(data, _dotted(key.strip(), raw.strip(), f"--set {item}"))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid configuration: {problems}") from None
