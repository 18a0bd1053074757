"""The OpenAI-compatible backend against a real `transformers serve` on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatbot.backends.openai_compat import OpenAICompatibleChatModel
from chatbot.config import default_settings
from chatbot.models import ModelError, ModelNotFoundError, complete

GREEDY = default_settings(do_sample=False, max_new_tokens=10, repetition_penalty=1.0)
MESSAGES = [{"role": "user", "content": "i feel overwhelmed"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_transformers_serve(model_dir: str, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            model_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--dtype",
            "float32",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("transformers serve did not become healthy in 120 s")


@pytest.fixture(scope="module")
def served_tiny(tiny_model_dir):
    port = free_port()
    proc = start_transformers_serve(tiny_model_dir, port)
    yield f"http://127.0.0.1:{port}/v1", tiny_model_dir
    proc.terminate()
    proc.wait(timeout=30)


def test_streams_the_same_greedy_text_as_in_process(served_tiny, tiny_model_dir):
    from chatbot.backends.transformers_backend import TransformersChatModel

    base_url, name = served_tiny
    remote = OpenAICompatibleChatModel(base_url, name, timeout_s=30)
    pieces = list(remote.stream(MESSAGES, GREEDY))
    assert len(pieces) >= 2
    local = TransformersChatModel(tiny_model_dir, dtype="float32")
    assert "".join(pieces).split() == complete(local, MESSAGES, GREEDY).split()
    assert remote.identity.backend == "openai" and remote.identity.source == base_url


def test_stops_when_the_reader_stops(served_tiny):
    base_url, name = served_tiny
    remote = OpenAICompatibleChatModel(base_url, name, timeout_s=30)
    stream = remote.stream(MESSAGES, GREEDY.with_(max_new_tokens=100))
    assert next(stream)
    stream.close()
    assert complete(remote, MESSAGES, GREEDY)  # the server is free for the next request


def test_wrong_model_name_is_a_clear_error(served_tiny):
    base_url, _ = served_tiny
    with pytest.raises(ModelNotFoundError, match="does not serve 'no-such-model'"):
        OpenAICompatibleChatModel(base_url, "no-such-model", timeout_s=10)


def test_wrong_url_is_a_clear_error_after_retries():
    port = free_port()  # nothing listens here
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="No OpenAI-compatible server answered"):
        OpenAICompatibleChatModel(f"http://127.0.0.1:{port}/v1", "m", timeout_s=2, max_retries=2)
    assert time.monotonic() - started > 0.5  # it backed off and retried before giving up


def test_connection_lost_mid_conversation_is_a_model_error():
    port = free_port()
    remote = OpenAICompatibleChatModel(f"http://127.0.0.1:{port}/v1", "m", max_retries=0, check=False)
    with pytest.raises(ModelError):
        list(remote.stream(MESSAGES, GREEDY))


def test_engine_runs_over_http_with_safety_in_front(served_tiny):
    from chatbot.engine import Listener
    from safety import SafetyScreen

    base_url, name = served_tiny
    listener = Listener(
        OpenAICompatibleChatModel(base_url, name, timeout_s=30),
        SafetyScreen(semantic=False),
        settings=GREEDY,
    )
    conv = listener.new_conversation()
    turn = listener.respond(conv, "i feel overwhelmed").consume()
    assert turn.kind in ("listening", "replaced") and turn.reply
    crisis = listener.respond(conv, "I want to kill myself tonight").consume()
    assert crisis.kind == "crisis"
