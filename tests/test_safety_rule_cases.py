"""The rules layer on the cases of tests/data/safety_rule_cases.yaml: crisis wording routes with the
right category, subject and urgency; look-alikes do not. Rules only (the `screen` fixture in
conftest.py has no embedder). Adding a case adds a row to the data file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safety import CATEGORIES
from safety.normalize import normalize
from safety.risk import ConversationRisk

DATA = yaml.safe_load((Path(__file__).parent / "data" / "safety_rule_cases.yaml").read_text(encoding="utf-8"))
CASES = DATA["cases"]


def _id(case: dict) -> str:
    return f"{case['category']}:{case['text'][:40]}"


def test_the_case_file_is_well_formed():
    allowed = {"context", "text", "category", "subject", "immediate", "raises_bar"}
    assert len(CASES) >= 390
    for case in CASES:
        assert set(case) <= allowed and case["text"].strip(), case
        assert case["category"] in (*CATEGORIES, "none"), case
        assert case.get("subject", "self") in ("self", "other"), case
    assert {c["category"] for c in CASES} == {*CATEGORIES, "none"}
    assert len({(tuple(c.get("context", ())), c["text"]) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_rule_case(screen, case):
    risk = ConversationRisk()
    for earlier in case.get("context", ()):
        assert not screen.assess_message(earlier, risk=risk).route, earlier
    a = screen.assess_message(case["text"], risk=risk)
    if case.get("raises_bar"):
        assert getattr(screen.rules, case["raises_bar"]).search(normalize(case["text"])), case["raises_bar"]
    if case["category"] == "none":
        assert not a.route, (a.category, a.evidence)
        return
    assert a.route, a.evidence
    assert a.category == case["category"], (a.category, a.evidence)
    if "subject" in case:
        assert a.subject == case["subject"], (a.subject, a.evidence)
    if "immediate" in case:
        assert a.immediate_danger == case["immediate"], a.evidence


@pytest.mark.parametrize("row", DATA["normalised"], ids=lambda r: r["text"][:30])
def test_normalisation_the_rules_rely_on(row):
    assert normalize(row["text"]) == row["normalised"]
