"""Screenshots of the app on the real embedded model: normal chat, demo mode, crisis panel and a
person waiting in the queue, each at desktop width (NAME.png) and phone width (NAME-phone.png).

    .venv/bin/python docs/screenshots/make_screenshots.py

Starts the app in-process on 127.0.0.1 and drives Debian's chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from chatbot.factory import offline_environment  # noqa: E402

offline_environment()

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST = "Work has been really stressful lately and I can't switch off at night."
SECOND = "I keep thinking I'll get fired if I slow down, even though nobody has said that."
PRACTICE = "It sounds like you're carrying a fear that nobody else can see."
CRISIS = "I don't want to be alive anymore."
WAITING = "Is anyone there? I just need to say this out loud."
DESKTOP = {"width": 1100, "height": 1000}
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send_and_wait(page, text: str, replies: int) -> None:
    page.locator("#message textarea").fill(text)
    page.locator("#send").click()
    _wait_for_reply(page, replies)


def _wait_for_reply(page, replies: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#chat-log .message.bot")).to_have_count(replies + 1, timeout=300_000)
    expect(page.locator("#reply-status [role=status]")).to_have_text("The listener replied.",
                                                                      timeout=300_000)


def _both_widths(page, name: str, show: str | None = None) -> None:
    """NAME.png at desktop width (the whole page), NAME-phone.png at phone width (one screen, at
    the top or at `show`)."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    if show:
        page.locator(show).scroll_into_view_if_needed()
    else:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(HERE / f"{name}-phone.png"))
    page.set_viewport_size(DESKTOP)


def main() -> int:
    import app
    from chatbot.config import load_config
    from chatbot.factory import build_listener
    from playwright.sync_api import sync_playwright

    config = load_config(overrides=["app.concurrency_limit=1"])  # one reply at a time: the queue shows
    started = time.perf_counter()
    listener = build_listener(config)
    if listener.model is None:
        print(f"error: the embedded model did not load: {listener.model_problem}", file=sys.stderr)
        return 1
    print(f"model {listener.model.identity.name} ready in {time.perf_counter() - started:.1f}s")
    demo = app.build_app(listener, config)
    demo.queue()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                ssr_mode=False, quiet=True, pwa=False, **app.launch_options())
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=DESKTOP)
            page.goto(url)
            _send_and_wait(page, FIRST, 1)
            _send_and_wait(page, SECOND, 2)
            _both_widths(page, "chat")

            page.locator("#demo-toggle input").check()
            page.locator("#practice textarea").fill(PRACTICE)
            page.locator("#practice-code").click()
            page.locator("#practice-result .practice-result").wait_for(timeout=60_000)
            _both_widths(page, "demo-mode", "#demo-panel")

            crisis = browser.new_page(viewport=DESKTOP)
            crisis.goto(url)
            _send_and_wait(crisis, CRISIS, 1)
            crisis.locator("#help-panel").wait_for(state="visible")
            _both_widths(crisis, "crisis-panel", "#help-panel")

            # One person's reply is being written while two more wait for their turn, one on a
            # phone (each page keeps its width: the waiting message is the browser's own copy).
            first = browser.new_page(viewport=DESKTOP)
            waiting = {name: browser.new_page(viewport=size) for name, size in (("queue", DESKTOP), ("queue-phone", PHONE))}
            for queued in (first, *waiting.values()):
                queued.goto(url)
            first.locator("#message textarea").fill(FIRST)
            first.locator("#send").click()
            first.locator("#reply-status .typing").wait_for(timeout=300_000)
            for queued in waiting.values():
                queued.locator("#message textarea").fill(WAITING)
                queued.locator("#send").click()
            for name, queued in waiting.items():
                queued.get_by_text(re.compile(r"queue: *\d+/\d+")).wait_for(timeout=60_000)
                queued.screenshot(path=str(HERE / f"{name}.png"), full_page=name == "queue")
            for queued in waiting.values():  # the model finishes before the app closes
                _wait_for_reply(queued, 1)
            browser.close()
    finally:
        demo.close()
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
