"""Shared by the per-round rule-class test files (test_safety_rules_fresh7/8/9.py): one rules-only
screen per module and the two checks each round makes. Import the fixture and helpers from here
instead of repeating them; not a test module itself."""

from __future__ import annotations

import pytest

from safety import SafetyScreen


@pytest.fixture(scope="module")
def screen() -> SafetyScreen:
    """Rules and conversation risk only (no embedder), so the rule classes are tested on their own."""
    return SafetyScreen(semantic=False)


def assert_routes(screen: SafetyScreen, text: str, category: str, subject: str, immediate: bool) -> None:
    a = screen.assess_message(text)
    assert a.route, (text, a.evidence)
    assert a.category == category, (text, a.category, a.evidence)
    assert a.subject == subject, (text, a.subject, a.evidence)
    assert a.immediate_danger == immediate, (text, a.evidence)


def assert_not_routed(screen: SafetyScreen, text: str) -> None:
    a = screen.assess_message(text)
    assert not a.route, (text, a.category, a.evidence)
