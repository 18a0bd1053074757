"""Shared by the rule-class test files (test_safety_rules_*.py): the two checks each rule class
makes (the rules-only `screen` fixture is in conftest.py); not a
test module itself."""

from __future__ import annotations

from safety import SafetyScreen


def assert_routes(screen: SafetyScreen, text: str, category: str, subject: str, immediate: bool) -> None:
    a = screen.assess_message(text)
    assert a.route, (text, a.evidence)
    assert a.category == category, (text, a.category, a.evidence)
    assert a.subject == subject, (text, a.subject, a.evidence)
    assert a.immediate_danger == immediate, (text, a.evidence)


def assert_not_routed(screen: SafetyScreen, text: str) -> None:
    a = screen.assess_message(text)
    assert not a.route, (text, a.category, a.evidence)
