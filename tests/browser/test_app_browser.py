"""The app in headless Debian chromium: the whole flow, isolation, escaping, and no outside requests.

The app runs in-process on 127.0.0.1 with the real safety screen and technique coder and a
scripted model that streams slowly enough to watch.
"""

from __future__ import annotations

import json
import os
import re
import time
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from conftest import BROWSER_MARKS, ScriptedModel

WORK = "Work has been really stressful lately and I can't sleep."
CRISIS = "I want to kill myself tonight"
REPLY = "That sounds exhausting. Work follows you into the night."

pytestmark = BROWSER_MARKS


class SlowModel(ScriptedModel):
    """Streams word by word with a short pause, so the page sees a growing reply."""

    def stream(self, messages, settings):
        for piece in super().stream(messages, settings):
            time.sleep(0.03)
            yield piece


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from chatbot.config import load_config
    from chatbot.factory import build_listener
    from evals.loadtest import start_app

    # One reply at a time, as a serial backend is served: the queue tests need a queue.
    config = load_config(overrides=["listening.pipeline=false", "locale.country=US", "app.concurrency_limit=1"])
    model = SlowModel(default=REPLY)
    listener = build_listener(config, model=model)
    demo, url = start_app(listener, config, str(tmp_path_factory.mktemp("exports")))
    yield SimpleNamespace(url=url, model=model)
    demo.close()


@pytest.fixture(scope="module")
def app_url(served):
    return served.url


@pytest.fixture
def audited(browser):
    """A fresh browser context that records every request the page makes."""
    context = browser.new_context(accept_downloads=True)
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    page = context.new_page()
    page.on("websocket", lambda ws: urls.append(ws.url))
    yield page, urls
    context.close()


def _send(page, text: str) -> None:
    page.locator("#message textarea").fill(text)
    page.locator("#send").click()


def _wait_reply(page, count: int) -> None:
    """Wait until `count` listener replies (after the greeting) are complete."""
    from playwright.sync_api import expect

    expect(page.locator("#reply-status [role=status]")).to_have_text("The listener replied.", timeout=60_000)
    expect(page.locator("#chat-log .message.bot")).to_have_count(count + 1, timeout=60_000)


def _chat_text(page) -> str:
    return page.locator("#chat-log").inner_text()


def test_end_to_end_flow_stays_on_localhost(audited, app_url, tmp_path):
    from playwright.sync_api import expect

    page, urls = audited
    page.goto(app_url)
    expect(page.locator("#disclosure")).to_contain_text("AI, not a person")
    expect(page.locator("#get-help")).to_be_visible()
    log = page.locator("#chat-log [role=log]")
    expect(log).to_have_attribute("aria-live", "polite")

    # 1. a message, and the streamed reply (seen part-way, then whole)
    _send(page, WORK)
    expect(log).to_have_attribute("aria-busy", "true")
    expect(page.locator("#chat-log")).to_contain_text("That sounds exhausting.", timeout=60_000)
    _wait_reply(page, 1)
    assert "Work follows you into the night." in _chat_text(page)
    expect(log).to_have_attribute("aria-busy", "false")
    expect(page.locator("#help-panel")).to_be_hidden()

    # 2. demo mode: a technique label under the reply, and the MITI panel
    page.locator("#demo-toggle input").check()
    expect(page.locator("#chat-log")).to_contain_text("Technique:")
    expect(page.locator("#miti-panel")).to_contain_text("Reflection : question")
    page.locator("#practice textarea").fill("It sounds like you're worn out and worried.")
    page.locator("#practice-code").click()
    expect(page.locator("#practice-result")).to_contain_text("Coded as")

    # 3. a crisis message: the reviewed reply and the resource panel, which stays
    _send(page, CRISIS)
    _wait_reply(page, 2)
    panel = page.locator("#help-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("988")
    expect(panel).to_contain_text("Emergency: 911")

    # 4. export, and the downloaded transcript's contents
    page.locator("#export").click()
    link = page.locator("#export-files a[download$='.json']")
    expect(link).to_be_visible(timeout=30_000)
    served = link.get_attribute("href")
    assert page.request.get(served).ok and os.path.exists(served.split("file=", 1)[1])
    with page.expect_download() as download_info:
        link.click()
    saved = tmp_path / "transcript.json"
    download_info.value.save_as(saved)
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [t["user"] for t in data["turns"]] == [WORK, CRISIS]
    assert data["turns"][0]["reply"] == REPLY
    assert data["model"]["backend"] == "scripted" and data["session"]["careful_mode"] is True
    assert data["turns"][1]["kind"] == "crisis" and data["techniques"][0]["turn"] == 1
    assert [(e["turn"], e["stage"]) for e in data["safety_events"]] == [(2, "input")]
    assert CRISIS not in json.dumps(data["safety_events"])

    # 5. undo takes back the crisis turn; the help panel stays for the session
    page.locator("#undo").click()
    expect(page.locator("#chat-log .message.bot")).to_have_count(2)
    expect(panel).to_be_visible()

    # 6. delete (after a confirmation): the conversation goes, the help panel stays
    page.locator("#delete").click()
    page.locator("#delete-yes").click()
    expect(page.locator("#chat-log .message.user")).to_have_count(0)
    expect(panel).to_be_visible()
    expect(page.locator("#export-files")).to_be_hidden()
    assert not page.request.get(served).ok  # the served copy is gone too
    assert not os.path.exists(served.split("file=", 1)[1])

    # Gradio's run history would keep every message in localStorage; the app turns it off
    stored = page.evaluate("""async () => JSON.stringify([localStorage, sessionStorage,
        (await indexedDB.databases()).map(d => d.name)])""")
    assert "Work has been" not in stored and "kill" not in stored

    hosts = {urlparse(u).hostname for u in urls if urlparse(u).scheme not in ("data", "blob")}
    assert urls and hosts == {"127.0.0.1"}, f"requests left 127.0.0.1: {sorted(hosts)}"


def test_help_button_and_country_selector(audited, app_url):
    from playwright.sync_api import expect

    page, _ = audited
    page.goto(app_url)
    page.locator("#get-help").click()
    panel = page.locator("#help-panel")
    expect(panel).to_contain_text("Emergency: 911")
    dropdown = page.locator("#country input")
    dropdown.click()
    dropdown.fill("United Kingdom")
    page.locator("[role=option]", has_text="United Kingdom").first.click()
    expect(panel).to_contain_text("Emergency: 999")
    expect(panel).to_contain_text("Samaritans")


def test_html_in_messages_is_shown_as_text_and_never_runs(audited, app_url):
    from playwright.sync_api import expect

    page, _ = audited
    page.goto(app_url)
    attack = (
        '<img src=x onerror="window.__xss_img=1"> <script>window.__xss_script=1</script> '
        "![p](http://127.0.0.2/pixel.png)"
    )
    _send(page, attack)
    _wait_reply(page, 1)
    user = page.locator("#chat-log .message.user").last
    expect(user).to_contain_text('<img src=x onerror="window.__xss_img=1">')
    expect(user).to_contain_text("<script>window.__xss_script=1</script>")
    assert page.locator("#chat-log img[src=x], #chat-log script").count() == 0
    assert page.evaluate("() => [window.__xss_img, window.__xss_script]") == [None, None]


def test_two_sessions_never_see_each_other(browser, app_url):
    from playwright.sync_api import expect

    contexts = [browser.new_context() for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    try:
        for page in pages:
            page.goto(app_url)
        _send(pages[0], "My sister Alice is moving away.")
        _send(pages[1], "My dog Biscuit is unwell.")  # queued behind the first reply
        for page in pages:
            _wait_reply(page, 1)
        first, second = (_chat_text(p) for p in pages)
        assert "Alice" in first and "Biscuit" not in first
        assert "Biscuit" in second and "Alice" not in second
        pages[0].reload()  # a new page load is a new session
        expect(pages[0].locator("#chat-log .message.user")).to_have_count(0)
    finally:
        for c in contexts:
            c.close()


@pytest.fixture
def two_people(browser, served):
    """Two pages; the first person's reply (a few seconds long) is being written."""
    from playwright.sync_api import expect

    served.model.enqueue(" ".join(["That sounds like a lot to hold."] * 15))
    contexts = [browser.new_context() for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    try:
        for page in pages:
            page.goto(served.url)
        _send(pages[0], "First person.")
        expect(pages[0].locator("#chat-log")).to_contain_text("That sounds like", timeout=60_000)
        yield pages
    finally:
        for c in contexts:
            c.close()


def test_the_next_person_sees_a_queue_position(two_people):
    from playwright.sync_api import expect

    pages = two_people
    _send(pages[1], "Second person.")
    expect(pages[1].get_by_text(re.compile(r"queue: *1/1"))).not_to_have_count(0)
    _wait_reply(pages[1], 1)  # and then the reply comes, with no error
    expect(pages[1].locator(".toast-body")).to_have_count(0)


def test_stop_keeps_no_partial_reply_and_restores_the_message(audited, app_url, served):
    from playwright.sync_api import expect

    page, _ = audited
    # A reply of a few seconds, so Stop lands while it streams (the default reply takes 0.3 s, and
    # one clean-clone CI run clicked Stop after it had finished).
    served.model.enqueue(" ".join(["That sounds like a lot to hold."] * 15))
    page.goto(app_url)
    # (Was "I keep going over it in my head" x3, which the semantic layer once routed as a crisis:
    # a false alarm recorded in docs/safety.md. This test is about Stop, so it uses plain wording.)
    long = "I spent the weekend sorting through old photos. " * 3
    page.locator("#message textarea").fill(long.strip())
    page.locator("#send").click()
    expect(page.locator("#chat-log .message.bot")).to_have_count(2, timeout=60_000)
    page.locator("#stop").click()
    expect(page.locator("#message textarea")).to_have_value(long.strip(), timeout=30_000)
    expect(page.locator("#chat-log .message.user")).to_have_count(0)


def test_keyboard_only_send(audited, app_url):
    from playwright.sync_api import expect

    page, _ = audited
    page.goto(app_url)
    page.locator("#message textarea").focus()
    ring = page.evaluate("() => getComputedStyle(document.querySelector('#message textarea')).outlineStyle")
    assert ring == "solid"  # a visible focus ring where you type
    page.keyboard.type("Just checking in.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Second line.")
    page.keyboard.press("Enter")
    _wait_reply(page, 1)
    user = page.locator("#chat-log .message.user")
    expect(user).to_contain_text("Just checking in.")
    expect(user).to_contain_text("Second line.")
    expect(page.locator("#message textarea")).to_have_value("")


CONTRAST_JS = """(selectors) => selectors.map((sel) => {
  const el = document.querySelector(sel);
  if (!el) return [sel, null, null];
  let bg = null;
  for (let node = el; node && !bg; node = node.parentElement) {
    const c = getComputedStyle(node).backgroundColor;
    if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') bg = c;
  }
  return [sel, getComputedStyle(el).color, bg || 'rgb(255, 255, 255)'];
})"""


def _hex(css_color: str) -> str:
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3]
    return "#" + "".join(f"{round(float(p)):02x}" for p in parts)


def test_rendered_text_has_readable_contrast(audited, app_url):
    from chatbot.webui.theme import contrast_ratio

    page, _ = audited
    page.goto(app_url)
    page.locator("#get-help").click()
    _send(page, WORK)
    _wait_reply(page, 1)
    selectors = [
        "#send",
        "#stop",
        "#get-help",
        "#disclosure p",
        "#help-panel h2",
        "#help-panel li",
        "#chat-log .message.bot .prose",
        "#chat-log .message.user .prose",
        "#notes p",
        "#message label span",
    ]
    for sel, fg, bg in page.evaluate(CONTRAST_JS, selectors):
        assert fg is not None, f"{sel} not found"
        assert contrast_ratio(_hex(fg), _hex(bg)) >= 4.5, (sel, fg, bg)


def test_help_panel_takes_focus_offers_tap_to_call_and_can_be_hidden(audited, app_url):
    from playwright.sync_api import expect

    page, _ = audited
    page.goto(app_url)
    page.locator("#get-help").click()
    panel = page.locator("#help-panel")
    expect(page.locator("#help-heading")).to_be_focused()
    expect(panel.locator('a[href="tel:988"]').first).to_be_visible()
    expect(panel.locator('a[href="sms:988"]').first).to_be_visible()
    expect(panel).not_to_contain_text("not confirmed")
    panel.locator(".help-hide").click()
    expect(panel).to_be_hidden()
    page.locator("#get-help").click()  # one tap brings it back
    expect(panel).to_be_visible()


def test_help_country_follows_the_browser(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    try:
        page = context.new_page()
        page.goto(app_url)
        expect(page.locator("#country input")).to_have_value("France (FR)", timeout=30_000)
        page.locator("#get-help").click()
        expect(page.locator("#help-panel")).to_contain_text("3114")
    finally:
        context.close()


def _rect(page, selector: str) -> dict:
    return page.locator(selector).first.evaluate(
        "(el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,"
        " left: r.left, right: r.right, height: r.height, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,"
        " lineHeight: parseFloat(getComputedStyle(el).lineHeight), innerHeight: window.innerHeight}; }"
    )


def test_phone_layout_keeps_the_title_whole_and_the_message_box_in_view(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(app_url)
        expect(page.locator("#message textarea")).to_be_visible()
        title = _rect(page, "#title h1")
        assert title["height"] < 1.5 * title["lineHeight"], title  # one line, not "Reflectiv / e"
        assert title["scrollWidth"] <= title["clientWidth"], title  # and not clipped
        assert page.evaluate("() => window.scrollY") == 0
        for selector in ("#message textarea", "#send", "#stop", "#get-help"):
            box = _rect(page, selector)
            assert box["top"] >= 0 and box["bottom"] <= box["innerHeight"], (selector, box)
        tops = {round(_rect(page, f"#{name}")["top"]) for name in ("retry", "undo", "export", "delete")}
        assert len(tops) == 1, tops  # the secondary actions share one row
        country = _rect(page, "#country input")
        assert country["scrollWidth"] <= country["clientWidth"], country  # "United States (US)" whole
    finally:
        context.close()


def test_desktop_chat_log_fills_the_height_with_the_message_box_in_view(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(app_url)
        expect(page.locator("#message textarea")).to_be_visible()
        log, box = _rect(page, "#chat-log"), _rect(page, "#message textarea")
        assert log["height"] >= 0.45 * log["innerHeight"], log
        assert box["bottom"] <= box["innerHeight"], box
    finally:
        context.close()


def test_delete_asks_first_comes_last_in_tab_order_and_says_it_is_done(audited, app_url):
    from playwright.sync_api import expect

    page, _ = audited
    page.goto(app_url)
    _send(page, WORK)
    _wait_reply(page, 1)
    expect(page.locator("#chat-log button[aria-label=Clear]")).to_be_hidden()  # no one-click bin icon
    order = page.evaluate(
        """() => Array.from(document.querySelectorAll('button, textarea, input, a[href]'))
            .filter((el) => el.offsetParent !== null && el.tabIndex >= 0).map((el) => el.id || el.closest('[id]')?.id)"""
    )
    assert order.index("delete") > max(order.index(name) for name in ("message", "send", "stop", "export"))

    page.locator("#delete").click()
    expect(page.locator("#delete-question")).to_contain_text("cannot be undone")
    expect(page.locator("#delete-no")).to_be_focused()  # Enter now keeps the conversation
    page.keyboard.press("Enter")
    expect(page.locator("#delete-confirm")).to_be_hidden()
    expect(page.locator("#chat-log .message.user")).to_have_count(1)

    page.locator("#delete").click()
    page.locator("#delete-yes").click()
    expect(page.locator("#chat-log .message.user")).to_have_count(0)
    status = page.locator("#reply-status .reply-status")
    expect(status).to_have_text("Conversation deleted.")
    expect(status).to_be_visible()


def test_typing_indicator_while_writing_and_stop_says_what_it_did(audited, app_url, served):
    from playwright.sync_api import expect

    page, _ = audited
    served.model.enqueue(" ".join(["That sounds like a lot to hold."] * 15))  # a few seconds
    page.goto(app_url)
    _send(page, "I spent the weekend sorting through old photos.")
    typing = page.locator("#reply-status .reply-status.typing")
    expect(typing).to_be_visible(timeout=60_000)
    expect(typing).to_have_text("The listener is writing")
    page.locator("#stop").click()
    status = page.locator("#reply-status .reply-status")
    expect(status).to_have_text("Stopped. Your message is back in the box.", timeout=30_000)
    expect(status).to_be_visible()
    expect(page.locator("#reply-status .typing")).to_have_count(0)


def test_a_queued_person_sees_their_message_one_queue_place_and_a_clear_box(two_people):
    from playwright.sync_api import expect

    pages = two_people
    waiting = pages[1]
    _send(waiting, "Second person, waiting.")
    queue = waiting.get_by_text(re.compile(r"queue: *\d+/\d+"))
    expect(queue).to_have_count(1)  # shown once, on the log
    expect(waiting.locator("#chat-log .message.user")).to_contain_text("Second person, waiting.")
    box = waiting.locator("#message textarea")
    on_top = box.evaluate(
        "(el) => { const r = el.getBoundingClientRect();"
        " return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === el; }"
    )
    assert on_top, "something covers the message box while waiting"
    _wait_reply(waiting, 1)
