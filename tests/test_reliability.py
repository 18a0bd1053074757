"""Faults in the model backend, through the engine and through the web handlers.

A fault-injecting backend fails the ways real ones do (an exception part-way through a reply, an
exception before the first word, a stall past the timeout, running out of memory), behind the
same GuardedModel every configured backend gets. Each time: a calm message, the conversation so
far kept, crisis routing working without the model, and the next message working once the
backend is back. A backend missing at start is built from a bad config via build_listener.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from conftest import ScriptedModel

from chatbot.backends.guarded import GuardedModel
from chatbot.webui import render

GOOD = "It sounds like the week has worn you down."
CRISIS = "I want to kill myself tonight"
FAULTS = ["raise_midstream", "raise_at_start", "hang", "out_of_memory"]
LEAKY_WORDS = ("Traceback", "Error", "exception", "backend died", "MemoryError", "timed out")


class FaultyModel(ScriptedModel):
    """Scripted replies until `fault` is set; then it fails in that way on every call."""

    def __init__(self) -> None:
        super().__init__(default=GOOD)
        self.fault: str | None = None
        self.release = threading.Event()  # lets a hung stream finish at the end of a test

    def stream(self, messages, settings):
        if self.fault is None:
            yield from super().stream(messages, settings)
            return
        self.calls.append([dict(m) for m in messages])
        if self.fault == "raise_at_start":
            raise ConnectionRefusedError("backend died")
        yield "It sounds like a lot. "  # a whole sentence the person may already have seen
        yield "And"
        if self.fault == "raise_midstream":
            raise ConnectionResetError("backend died")
        if self.fault == "out_of_memory":
            raise MemoryError
        if self.fault == "hang":
            self.release.wait(30)
            yield " more."


@pytest.fixture(scope="module")
def listener():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    config = load_config(overrides=["listening.pipeline=false"])
    return build_listener(config, model=GuardedModel(FaultyModel(), timeout_s=0.5))


@pytest.fixture
def backend(listener):
    inner = listener.model.inner
    inner.fault, inner.queue[:] = None, []
    inner.release.clear()
    yield inner
    inner.fault = None
    inner.release.set()  # free any stream still hung from this test


@pytest.fixture
def handlers(listener, tmp_path):
    from chatbot.webui.handlers import ChatHandlers

    return ChatHandlers(listener, export_root=str(tmp_path))


# -- through the engine --------------------------------------------------------------------------
@pytest.mark.parametrize("fault", FAULTS)
def test_engine_fault_is_calm_keeps_the_conversation_routes_crisis_and_recovers(listener, backend, fault):
    conv = listener.new_conversation()
    first = listener.respond(conv, "This week has been exhausting.").consume()
    assert first.kind == "listening"

    backend.fault = fault
    reply = listener.respond(conv, "My manager keeps piling more on.")
    shown = "".join(reply)
    failed = reply.turn
    assert failed.kind == "model_error" and failed.reply == listener.fixed["model_error"]
    assert shown.endswith(listener.fixed["model_error"])
    assert not any(word in shown for word in LEAKY_WORDS)  # nothing technical reaches the person
    assert failed.meta["timeout"] is (fault == "hang")
    assert [t.user_text for t in conv.turns] == ["This week has been exhausting.", "My manager keeps piling more on."]
    assert conv.turns[0] == first  # what came before is untouched

    calls = len(backend.calls)
    crisis = listener.respond(conv, CRISIS).consume()  # the backend is still broken
    assert crisis.kind == "crisis" and "988" in crisis.reply
    assert len(backend.calls) == calls

    backend.fault = None
    backend.release.set()
    back = listener.respond(conv, "Thanks. Still tired though.").consume()
    assert back.kind == "listening" and back.reply == GOOD and len(conv.turns) == 4
    context = " ".join(m["content"] for m in backend.calls[-1])
    assert "This week has been exhausting." in context  # the good turn is still remembered
    assert listener.fixed["model_error"] not in context and crisis.reply not in context


def test_a_stall_never_holds_a_turn_much_past_the_timeout(listener, backend):
    backend.fault = "hang"
    conv = listener.new_conversation()
    turn = listener.respond(conv, "Work is a lot.").consume()
    # 0.5 s guard; generous headroom for a busy two-core machine
    assert turn.kind == "model_error" and turn.latency_s < 5


# -- through the web handlers --------------------------------------------------------------------
@pytest.mark.parametrize("fault", FAULTS)
def test_handlers_fault_is_calm_keeps_the_chat_routes_crisis_and_recovers(handlers, listener, backend, fault):
    session = handlers.new_session("US")
    list(handlers.send("This week has been exhausting.", session))

    backend.fault = fault
    outputs = list(handlers.send("My manager keeps piling more on.", session))  # never raises
    _box, chat, panel, _miti, status, _ = outputs[-1]
    assert outputs[0][0] == "" and chat[-1]["content"] == render.as_plain_text(listener.fixed["model_error"])
    assert [m["content"] for m in chat if m["role"] == "user"] == [
        render.as_plain_text("This week has been exhausting."),
        render.as_plain_text("My manager keeps piling more on."),
    ]
    assert handlers.texts["reply_done"] in status and panel["visible"] is False
    assert session.pending is None
    for out in outputs:
        assert not any(w in m["content"] for m in out[1] for w in LEAKY_WORDS)

    crisis = list(handlers.send(CRISIS, session))[-1]
    assert session.conversation.turns[-1].kind == "crisis"
    assert crisis[2]["visible"] is True and "988" in crisis[2]["value"]

    # Export still works mid-outage and holds everything said so far.
    files, _ = handlers.export(session)
    exported = [line for line in Path(files["value"][1]).read_text(encoding="utf-8").splitlines() if '"user":' in line]
    assert len(exported) == 3

    backend.fault = None
    backend.release.set()
    final = list(handlers.send("Thanks. Still tired though.", session))[-1]
    assert session.conversation.turns[-1].kind == "listening"
    assert final[1][-1]["content"] == render.as_plain_text(GOOD)


def test_retry_after_a_fault_sends_the_same_message_again(handlers, listener, backend):
    session = handlers.new_session()
    backend.fault = "raise_midstream"
    list(handlers.send("My manager keeps piling more on.", session))
    backend.fault = None
    final = list(handlers.retry(session))[-1]
    turns = session.conversation.turns
    assert [t.kind for t in turns] == ["listening"]
    assert turns[0].user_text == "My manager keeps piling more on."
    assert final[0][-1]["content"] == render.as_plain_text(GOOD)


# -- a backend missing at start ------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket closes


BAD_CONFIGS = {
    "no-such-folder": ["model.backend=transformers", "model.name=/nonexistent/listener-model"],
    "openai-without-url": ["model.backend=openai", "model.name=some-model"],
    "openai-server-down": [
        "model.backend=openai",
        "model.name=some-model",
        "model.timeout_s=2",
        "model.base_url=http://127.0.0.1:{port}/v1",
    ],
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_missing_backend_at_start_still_gives_a_working_app(name, tmp_path):
    import app
    from chatbot.config import load_config
    from chatbot.factory import build_listener
    from chatbot.webui.handlers import ChatHandlers

    overrides = [o.format(port=_closed_port()) for o in BAD_CONFIGS[name]]
    config = load_config(overrides=["listening.pipeline=false", *overrides])
    listener = build_listener(config)  # never raises for a missing model
    assert listener.model is None and listener.model_problem

    handlers = ChatHandlers(listener, export_root=str(tmp_path))
    session = handlers.new_session("UK")
    out = list(handlers.send("I had a rough day.", session))[-1]
    missing = listener.fixed["model_missing"]
    assert session.conversation.turns[-1].kind == "model_error"
    assert out[1][-1]["content"] == render.as_plain_text(missing) and "Get help now" in missing
    assert listener.model_problem not in out[1][-1]["content"]  # operators' detail stays out

    out = list(handlers.send(CRISIS, session))[-1]
    assert session.conversation.turns[-1].kind == "crisis"
    assert out[2]["visible"] is True and "116 123" in out[2]["value"]

    files, _ = handlers.export(session)  # export needs no model either
    assert '"model": null' in Path(files["value"][1]).read_text(encoding="utf-8")
    import gradio as gr

    assert isinstance(app.build_app(listener, config), gr.Blocks)  # the page still builds with no model


# -- through the served app ----------------------------------------------------------------------
def test_served_app_turns_faults_into_calm_replies_and_recovers(listener, backend, tmp_path):
    """The same faults through Gradio's queue and gradio_client: no error ever reaches the page."""
    from gradio_client import Client

    from chatbot.config import load_config
    from evals.loadtest import start_app

    demo, url = start_app(listener, load_config(), str(tmp_path))

    def last_reply(out) -> str:
        return out[1][-1]["content"][0]["text"]

    try:
        client = Client(url, verbose=False)
        calm = render.as_plain_text(listener.fixed["model_error"])
        for fault in ("raise_midstream", "hang", "out_of_memory"):
            backend.fault = fault
            assert last_reply(client.predict(f"Work is a lot ({fault}).", api_name="/send")) == calm
        out = client.predict(CRISIS, api_name="/send")  # still broken: crisis needs no model
        assert "988" in last_reply(out)
        assert out[2]["visible"] is True and "988" in out[2]["value"]
        backend.fault = None
        backend.release.set()
        out = client.predict("Thanks. Still tired though.", api_name="/send")
        assert last_reply(out) == render.as_plain_text(GOOD)
        users = [m["content"][0]["text"] for m in out[1] if m["role"] == "user"]
        assert len(users) == 5  # every message of the session is still on screen
    finally:
        demo.close()
