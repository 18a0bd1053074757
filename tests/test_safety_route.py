"""Fixed crisis replies and the resource directory."""

from __future__ import annotations

import pytest

from safety import Assessment, ResourceFileError, crisis_reply, list_countries, load_resources
from safety.resources import parse_resources
from safety.route import load_replies
from safety.types import CATEGORIES, ReplyCheck, failed_closed

REQUIRED = {"US", "CA", "UK", "IE", "AU", "NZ", "DE", "FR", "IN", "INTL"}


def assessment(category="suicide", subject="self", immediate=False):
    return Assessment(
        route=True, category=category, severity=3, subject=subject, evidence=("t",), immediate_danger=immediate
    )


def test_directory_covers_required_countries_with_sources():
    directory = load_resources()
    assert set(directory.countries) >= REQUIRED
    for code, entry in directory.countries.items():
        assert entry.emergency.source
        for r in entry.resources:
            assert r.source and (r.checked or not r.verified), (code, r.name)


def test_988_press_3_is_not_offered():
    for entry in load_resources().countries.values():
        for r in entry.resources:
            assert "press 3" not in r.display.lower() and "press 3" not in (r.notes or "").lower()


def test_unverified_entries_stay_unverified():
    us = {r.name: r for r in load_resources().countries["US"].resources}
    assert us["988 Suicide & Crisis Lifeline"].verified
    assert not us["ANAD eating disorders helpline"].verified  # no page of its own read yet
    assert not load_resources().countries["IN"].resources[0].verified  # Tele-MANAS: news reports only


def test_bad_resources_yaml_names_file_and_field():
    bad = (
        "countries:\n  INTL:\n    name: x\n    emergency: {number: '1', source: s, checked: null, verified: false}\n"
        "    resources:\n      - {name: n, how: [fax], contact: c, display: d, for_categories: [any], "
        "source: s, checked: null, verified: false}\n"
    )
    with pytest.raises(ResourceFileError, match=r"test\.yaml.*resources\.0\.how"):
        parse_resources(bad, "test.yaml")
    with pytest.raises(ResourceFileError, match=r"extra|Extra"):
        parse_resources(bad.replace("how: [fax]", "how: [call], colour: red"), "test.yaml")
    with pytest.raises(ResourceFileError, match="INTL"):
        parse_resources("countries: {}\n", "test.yaml")


def test_list_countries_for_the_selector():
    codes = [c for c, _ in list_countries()]
    assert set(codes) == set(load_resources().countries) and codes[-1] == "INTL"


@pytest.mark.parametrize("category", CATEGORIES)
def test_reply_follows_safe_messaging(category):
    reply = crisis_reply(assessment(category), "US")
    text = reply.text.lower()
    assert "i'm an ai" in text and "911" in text and reply.resources
    assert "?" in reply.text  # asks directly about safety
    assert "keep talking" in text or "still here" in text
    for word in ("method", "dose", "mg", "bridge", "rope"):
        assert word not in text


def test_replies_are_deterministic_and_pure():
    a = assessment()
    assert crisis_reply(a, "UK") == crisis_reply(a, "UK")
    assert "116 123" in crisis_reply(a, "UK").text


def test_immediate_danger_puts_emergency_number_first():
    reply = crisis_reply(assessment(immediate=True), "AU")
    first = reply.text.split("\n")[0]
    assert "000" in first and reply.text.index("000") < reply.text.index("Lifeline")


def test_third_party_gets_helping_someone_else_resources():
    reply = crisis_reply(assessment(subject="other"), "US")
    assert "someone else" in reply.text and all(r.helping_others for r in reply.resources)


def test_category_specific_resource_comes_first():
    assert crisis_reply(assessment("abuse"), "US").resources[0].name.startswith("National Domestic")
    assert crisis_reply(assessment("eating_disorder"), "UK").resources[0].name.startswith("Beat")


def test_unknown_country_falls_back_to_intl():
    reply = crisis_reply(assessment(), "ZZ")
    assert reply.country == "INTL" and "findahelpline.com" in reply.text


def test_fail_closed_reply_has_resources():
    reply = crisis_reply(failed_closed(RuntimeError("x")), "CA")
    assert reply.category is None and "9-8-8" in reply.text and reply.country == "CA"


def test_replacement_replies_exist_for_every_reason():
    from safety import safe_replacement_reply

    table = load_replies().replacement
    for reason in type(table).model_fields:
        text = safe_replacement_reply(ReplyCheck(ok=False, reason=reason))
        assert "AI" in text and text == getattr(table, reason)
    assert safe_replacement_reply(ReplyCheck(ok=False, reason="error")) == table.default


def test_routes_by_a_learned_layer_alone_get_the_check_in_text_with_resources():
    from safety import Assessment, crisis_reply

    semantic = Assessment(
        route=True, category="suicide", severity=2, subject="self", evidence=("example:s-01", "sim:0.61")
    )
    by_rule = Assessment(route=True, category="suicide", severity=4, subject="self", evidence=("suicide.intent",))
    check_in = crisis_reply(semantic, "US").text
    classifier = Assessment(
        route=True, category="suicide", severity=2, subject="self", evidence=("classifier:suicide:0.91",)
    )
    assert crisis_reply(classifier, "US").text == check_in
    assert "check rather than guess" in check_in and "988" in check_in and "911" in check_in
    assert "check rather than guess" not in crisis_reply(by_rule, "US").text
    urgent = Assessment(
        route=True, category="suicide", severity=5, subject="self", evidence=("example:s-01",), immediate_danger=True
    )
    assert "check rather than guess" not in crisis_reply(urgent, "US").text
