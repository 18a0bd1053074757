"""Session export: each message once, safety events without raw text, atomic writes."""

from __future__ import annotations

import json
import os

import pytest

from chatbot.config import default_settings
from chatbot.conversation import Conversation, Turn
from chatbot.models import ModelIdentity
from chatbot.transcript import (
    export_session,
    safety_events,
    to_json,
    to_markdown,
    transcript_data,
    write_atomic,
)

CRISIS_SAFETY = {
    "route": True,
    "category": "suicide",
    "severity": 4,
    "subject": "self",
    "evidence": ["rule:intent"],
    "immediate_danger": False,
    "error": None,
    "signals": [],
}
CALM_SAFETY = {
    "route": False,
    "category": None,
    "severity": 0,
    "subject": "self",
    "evidence": [],
    "immediate_danger": False,
    "error": None,
    "signals": [],
}


def _conversation() -> Conversation:
    conv = Conversation(country="UK")
    conv.turns += [
        Turn(
            "Work has been a lot lately.\nI can't switch off.",
            "It sounds like work follows you home.",
            "listening",
            move="reflect",
            safety=CALM_SAFETY,
            output_safety={"ok": True, "reason": None, "evidence": []},
            technique={"code": "reflection", "subtype": "complex", "confidence": 0.8, "evidence": "classifier"},
            latency_s=0.5,
            tokens=9,
        ),
        Turn(
            "I want to end my life",
            "You deserve support right now. Call 116 123.",
            "crisis",
            safety=CRISIS_SAFETY,
            meta={"resources_country": "UK"},
        ),
        Turn(
            "okay",
            "Some replacement text.",
            "replaced",
            safety=CALM_SAFETY,
            output_safety={"ok": False, "reason": "claims_human", "evidence": ["rule:human"]},
        ),
    ]
    conv.risk.careful_mode = True
    return conv


def _data(conv: Conversation) -> dict:
    identity = ModelIdentity(backend="scripted", name="tiny", source="/models/tiny")
    return transcript_data(
        conv,
        model=identity.as_dict(),
        settings=default_settings(seed=7),
        exported_at=1_800_000_000.0,
        started_at=1_799_990_000.0,
        disclosures=[{"at": "2027-01-15T08:00:00+00:00", "text": "AI"}],
        extra_settings={"pipeline": True},
    )


def test_each_message_appears_once_in_json():
    conv = _conversation()
    text = to_json(_data(conv))
    for turn in conv.turns:
        assert text.count(json.dumps(turn.user_text)[1:-1]) == 1
        assert text.count(json.dumps(turn.reply)[1:-1]) == 1


def test_model_identity_settings_and_session_are_recorded():
    data = json.loads(to_json(_data(_conversation())))
    assert data["model"]["name"] == "tiny" and data["model"]["source"] == "/models/tiny"
    assert data["settings"]["seed"] == 7 and data["settings"]["pipeline"] is True
    assert data["session"]["country"] == "UK" and data["session"]["careful_mode"] is True
    assert data["exported_at"].startswith("2027-01-15")
    assert [t["kind"] for t in data["turns"]] == ["listening", "crisis", "replaced"]
    assert data["techniques"] == [
        {"turn": 1, "code": "reflection", "subtype": "complex", "confidence": 0.8, "evidence": "classifier"}
    ]


def test_safety_events_cover_routed_input_and_replaced_reply_without_text():
    conv = _conversation()
    events = safety_events(conv.turns)
    assert [(e["turn"], e["stage"]) for e in events] == [(2, "input"), (3, "output")]
    assert events[0]["category"] == "suicide" and events[0]["resources_country"] == "UK"
    assert events[1]["reason"] == "claims_human"
    dumped = json.dumps(events)
    for turn in conv.turns:
        assert turn.user_text not in dumped and turn.reply not in dumped


def test_unbounded_ratio_is_valid_json():
    # one reflection and no question: R:Q is infinite, which plain JSON cannot hold
    data = _data(_conversation())
    assert data["miti"]["r_to_q"] == "inf"
    json.loads(to_json(data))


def test_markdown_is_the_plain_conversation_without_jargon():
    data = _data(_conversation())
    md = to_markdown(data)
    assert "> Work has been a lot lately.\n> I can't switch off." in md
    assert md.count("**You:**") == len(data["turns"]) == md.count("**Listener:**")
    for jargon in ("technique:", "category=", "severity", "ratio", "inf", "seed", "repetition_penalty", "kind:"):
        assert jargon not in md, jargon
    assert "JSON" in md  # where the technical details went


def test_empty_session_exports():
    data = transcript_data(Conversation(), exported_at=0.0)
    assert data["turns"] == [] and data["miti"] is None and data["safety_events"] == []
    assert "(No messages.)" in to_markdown(data)


def test_export_writes_both_files_and_leaves_no_temp_files(tmp_path):
    md, js = export_session(_data(_conversation()), tmp_path / "out")
    assert md.suffix == ".md" and js.suffix == ".json"
    assert json.loads(js.read_text(encoding="utf-8"))["session"]["country"] == "UK"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([md.name, js.name])


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = write_atomic(tmp_path / "t.md", "old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]
