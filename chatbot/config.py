"""One configuration: defaults in defaults.yaml, then a YAML file, the environment, the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

ENV_PREFIX = "LISTENER__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    backend: Literal["embedded", "transformers", "openai"] = "embedded"
    name: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache_dir: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    threads: int | None = 2
    timeout_s: float = 60.0
    kv_cache: Literal["dynamic", "static"] = "static"
    pack_4bit: bool = True
    int8_head: bool = True
    # embedded: "none", a shipped adapter by name ("listening"), or a LoRA folder;
    # transformers: "none" or a LoRA folder trained for that model
    adapter: str = "none"
    context_window: int = 4096  # openai: the served model's window (transformers reads its own)


class GenerationConfig(_Section):
    max_new_tokens: int = 80
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    do_sample: bool = True
    seed: int | None = 0


class ListeningConfig(_Section):
    pipeline: bool = True
    candidates: int = 3
    history_tokens: int = 1536


class SafetyConfig(_Section):
    semantic: bool = True
    timeout_s: float = 2.0


class LocaleConfig(_Section):
    country: str = "US"


class AppConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 7860
    concurrency_limit: int = 1
    max_message_chars: int = 4000


class Config(_Section):
    model: ModelConfig = ModelConfig()
    generation: GenerationConfig = GenerationConfig()
    listening: ListeningConfig = ListeningConfig()
    safety: SafetyConfig = SafetyConfig()
    locale: LocaleConfig = LocaleConfig()
    app: AppConfig = AppConfig()

    def generation_settings(self):
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
