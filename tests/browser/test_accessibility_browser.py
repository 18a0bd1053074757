"""The page audited with axe-core in headless chromium, on each main view at desktop and phone width.

axe-core comes bundled in the PyPI package axe-playwright-python; the audit runs inside the page,
so it needs no network. A view passes with no serious or critical violation.
"""

from __future__ import annotations

import pytest
from conftest import BROWSER_MARKS, ScriptedModel

pytestmark = BROWSER_MARKS

WORK = "Work has been really stressful lately and I can't sleep."
CRISIS = "I want to kill myself tonight"
REPLY = "That sounds exhausting. Work follows you into the night."
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from chatbot.config import load_config
    from chatbot.factory import build_listener
    from evals.loadtest import start_app

    config = load_config(overrides=["listening.pipeline=false", "locale.country=US"])
    listener = build_listener(config, model=ScriptedModel(default=REPLY))
    demo, url = start_app(listener, config, str(tmp_path_factory.mktemp("exports")))
    yield url
    demo.close()


def _send(page, text: str, replies: int) -> None:
    from playwright.sync_api import expect

    page.locator("#message textarea").fill(text)
    page.locator("#send").click()
    expect(page.locator("#chat-log .message.bot")).to_have_count(replies + 1, timeout=60_000)
    expect(page.locator("#reply-status [role=status]")).to_have_text("The listener replied.", timeout=60_000)


def _chat(page) -> None:
    _send(page, WORK, 1)


def _crisis(page) -> None:
    from playwright.sync_api import expect

    _send(page, WORK, 1)
    _send(page, CRISIS, 2)
    expect(page.locator("#help-panel .help-panel")).to_be_visible()


def _demo(page) -> None:
    from playwright.sync_api import expect

    _send(page, WORK, 1)
    page.locator("#demo-toggle input").check()
    expect(page.locator("#miti-panel table")).to_be_visible()
    page.locator("#practice textarea").fill("You should just get more sleep.")
    page.locator("#practice-code").click()
    expect(page.locator("#practice-result")).to_contain_text("Coded as", timeout=60_000)


VIEWS = {"chat": _chat, "crisis": _crisis, "demo": _demo}


@pytest.mark.parametrize("width", sorted(VIEWPORTS))
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_no_serious_or_critical_axe_violations(browser, app_url, view, width):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport=VIEWPORTS[width])
    try:
        page = context.new_page()
        page.goto(app_url)
        VIEWS[view](page)
        results = Axe().run(page)
        found = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert results.response["passes"], "axe checked nothing"
        assert not found, results.generate_report()
    finally:
        context.close()
