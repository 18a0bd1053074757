"""Stop, Send, Retry clicked fast in headless chromium: a stopped or queued reply never swallows
the next message.

The model here behaves like the transformers backend: one generation at a time (a lock held by a
worker thread) that ends only when the reader closes the stream, wrapped in GuardedModel as the
factory does. A "long story" message gets a reply of about a minute, so a stopped generation that
kept the model busy would hold the next reply far past the waits below.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from conftest import BROWSER_MARKS, ScriptedModel

LONG = "Let me tell you the long story of my week at work."
SHORT_REPLY = "That sounds like a full week."
LONG_REPLY = " ".join(["It sounds like there is a lot going on."] * 60)  # ~540 words, ~54 s

pytestmark = BROWSER_MARKS


class OneAtATimeModel(ScriptedModel):
    """Generation runs in a worker thread under one lock and stops only when asked (stream closed)."""

    def __init__(self) -> None:
        super().__init__(default=SHORT_REPLY)
        self.lock = threading.Lock()
        self.generating = threading.Event()  # set while a generation holds the lock

    def stream(self, messages, settings):
        text = LONG_REPLY if "long story" in messages[-1]["content"] else SHORT_REPLY
        pieces: queue.Queue = queue.Queue()
        stop = threading.Event()

        def run() -> None:
            with self.lock:
                self.generating.set()
                for i, word in enumerate(text.split(" ")):
                    if stop.is_set():
                        break
                    time.sleep(0.1)
                    pieces.put(word if i == 0 else " " + word)
                self.generating.clear()
            pieces.put(None)

        threading.Thread(target=run, daemon=True).start()
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        finally:
            stop.set()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import app
    from chatbot.backends.guarded import GuardedModel
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    # The reply pipeline (the default) takes whole candidates from the model before it shows a word.
    config = load_config(overrides=["listening.pipeline=true", "locale.country=US"])
    model = OneAtATimeModel()
    listener = build_listener(config, model=GuardedModel(model, timeout_s=120))
    demo = app.build_app(listener, config, export_root=str(tmp_path_factory.mktemp("exports")))
    demo.queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        ssr_mode=False,
        quiet=True,
        pwa=False,
        **app.launch_options(),
    )
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", model=model)
    demo.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url)
    yield page
    context.close()


def _box(page):
    return page.locator("#message textarea")


def _start_long_reply(page, served) -> None:
    from playwright.sync_api import expect

    _box(page).fill(LONG)
    page.locator("#send").click()
    expect(page.locator("#chat-log .message.user").last).to_contain_text(LONG, timeout=60_000)
    assert served.model.generating.wait(60), "the long reply never started"


def _expect_exchange(page, text: str) -> None:
    """`text` is in the log as the last user message, and its reply is complete."""
    from playwright.sync_api import expect

    # Far less than the ~54 s a stopped generation would keep the model busy.
    expect(page.locator("#chat-log .message.user").last).to_contain_text(text, timeout=30_000)
    expect(page.locator("#reply-status [role=status]")).to_have_text("The listener replied.", timeout=30_000)
    expect(page.locator("#chat-log .message.bot")).to_have_count(page.locator("#chat-log .message.user").count() + 1)


@pytest.mark.parametrize("gap_ms", [500, 1000, 2000])
@pytest.mark.parametrize("how", ["button", "enter"])
def test_send_right_after_stop_is_answered(page, served, gap_ms, how):
    from playwright.sync_api import expect

    _start_long_reply(page, served)
    page.locator("#stop").click()
    expect(_box(page)).to_have_value(LONG, timeout=30_000)  # the stopped message comes back
    page.wait_for_timeout(gap_ms)  # the person's pace, not a wait for the app
    _box(page).fill("Actually, just a short one.")
    if how == "enter":
        _box(page).press("Enter")
    else:
        page.locator("#send").click()
    _expect_exchange(page, "Actually, just a short one.")


def test_stop_then_send_at_once(page, served):
    _start_long_reply(page, served)
    page.locator("#stop").click()
    _box(page).fill("Never mind that.")
    page.locator("#send").click()
    _expect_exchange(page, "Never mind that.")


def test_send_clicked_twice_sends_once(page):
    from playwright.sync_api import expect

    _box(page).fill("Hello there.")
    page.locator("#send").dblclick()
    _expect_exchange(page, "Hello there.")
    expect(page.locator("#chat-log .message.user")).to_have_count(1)  # sent once


def test_message_typed_during_a_reply_is_not_lost(page, served):
    _start_long_reply(page, served)
    _box(page).fill("And one more thing.")
    page.locator("#send").click()  # while the first reply is written
    page.locator("#stop").click()
    # Either it was sent, or it is still in the box (with the stopped message before it).
    page.wait_for_function(
        """(text) => document.querySelector('#chat-log').innerText.includes(text)
            || document.querySelector('#message textarea').value.includes(text)""",
        arg="And one more thing.",
        timeout=30_000,
    )


def test_retry_during_a_reply_then_send(page, served):
    from playwright.sync_api import expect

    _box(page).fill("First, something short.")
    page.locator("#send").click()
    _expect_exchange(page, "First, something short.")
    _start_long_reply(page, served)
    page.locator("#retry").click()  # while the long reply is written
    page.locator("#stop").click()
    expect(_box(page)).not_to_have_value("", timeout=30_000)  # the stopped message is back
    _box(page).fill("Back to short.")
    page.locator("#send").click()
    _expect_exchange(page, "Back to short.")
