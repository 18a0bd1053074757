"""Pure functions from session data to what the page shows (chat messages, panels as HTML)."""

from __future__ import annotations

import functools
import html
import math
import re
from importlib import resources
from typing import Any

import yaml

from chatbot.conversation import Turn

# Markdown punctuation in people's (and the model's) words is shown, never interpreted: no
# images or links from typed text, no raw HTML. Crisis replies are reviewed Markdown.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")
_TRUSTED_MARKDOWN_KINDS = {"crisis"}


@functools.lru_cache(maxsize=1)
def load_texts() -> dict[str, str]:
    text = resources.files("chatbot.webui").joinpath("texts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def as_plain_text(text: str) -> str:
    """Markdown that displays `text` literally: HTML-escaped and Markdown-escaped."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", html.escape(text, quote=False))


def reply_markdown(turn: Turn) -> str:
    return turn.reply if turn.kind in _TRUSTED_MARKDOWN_KINDS else as_plain_text(turn.reply)


def technique_label(technique: dict | None) -> str | None:
    if not technique:
        return None
    try:
        from chatbot.coder import Code

        return Code.from_dict(technique).label
    except (ImportError, TypeError, ValueError):
        code = str(technique.get("code", "other"))
        sub = technique.get("subtype")
        return f"{sub.capitalize()} {code}" if sub else code.capitalize()


def technique_line(turn: Turn, texts: dict) -> str | None:
    if turn.kind == "crisis":
        label = texts["crisis_technique"]
    else:
        label = technique_label(turn.technique)
    return f"*{texts['technique_prefix']} {label}*" if label else None


def assistant_markdown(turn: Turn, demo: bool, texts: dict) -> str:
    body = reply_markdown(turn)
    line = technique_line(turn, texts) if demo else None
    return f"{body}\n\n{line}" if line else body


def chat_messages(turns: list[Turn], notices: list, demo: bool, texts: dict) -> list[dict]:
    """Role/content messages for gr.Chatbot: disclosures where they were shown, then turns."""
    out: list[dict] = []
    by_turn: dict[int, list[str]] = {}
    for notice in notices:
        by_turn.setdefault(min(notice.before_turn, len(turns)), []).append(notice.text)
    for i in range(len(turns) + 1):
        for text in by_turn.get(i, []):
            out.append({"role": "assistant", "content": text})
        if i < len(turns):
            out.append({"role": "user", "content": as_plain_text(turns[i].user_text)})
            out.append({"role": "assistant", "content": assistant_markdown(turns[i], demo, texts)})
    return out


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_DIALLED = re.compile(r"\+?\d[\d ()-]*\d|\d")
# "Text HOME to 741741": the keyword, and the number when it differs from the call number
_TEXT_KEYWORD = re.compile(r"\btext\s+([A-Z][A-Z0-9]+)\s+to\s+(\d[\d ]*\d)", re.IGNORECASE)


def _dial_link(scheme: str, contact: str, label: str, body: str | None = None) -> str | None:
    """A tel: or sms: link for the number that `contact` starts with ("988 then 1" dials 988)."""
    match = _DIALLED.match(contact.strip())
    if not match:
        return None
    digits = re.sub(r"[^\d+]", "", match.group(0))
    href = f"{scheme}:{digits}" + (f"?&body={body}" if body else "")
    return f'<a class="help-link" href="{_e(href)}">{_e(label)} {_e(match.group(0).strip())}</a>'


def _resource_links(r: Any) -> str:
    how = set(getattr(r, "how", ()) or ())
    keyword = _TEXT_KEYWORD.search(r.display)
    links = [
        _dial_link("tel", r.contact, "Call") if "call" in how else None,
        _dial_link("sms", keyword.group(2), "Text", keyword.group(1).upper())
        if keyword and "text" in how
        else (_dial_link("sms", r.contact, "Text") if "text" in how else None),
    ]
    shown = [link for link in links if link]
    return f' <span class="help-actions">{" ".join(shown)}</span>' if shown else ""


def help_panel_html(directory: Any, country_code: str, texts: dict) -> str:
    """The human resources for one country, emergency number first, each number a tap away.
    Only entries checked against a source are shown: a list that doubts itself fails a person in
    crisis. With none left, the international directory is shown."""
    key, country = directory.country(country_code)
    resources = [r for r in country.resources if r.verified]
    if not resources and key != "INTL":
        resources = [r for r in directory.country("INTL")[1].resources if r.verified]
    items = []
    for r in resources:
        hours = r.hours if r.hours and r.hours not in r.display else None
        extra = [x for x in (hours, f"for {r.audience}" if r.audience else None) if x]
        detail = f' <span class="help-extra">({_e("; ".join(extra))})</span>' if extra else ""
        items.append(f"<li><strong>{_e(r.name)}</strong>: {_e(r.display)}{detail}{_resource_links(r)}</li>")
    number = country.emergency.number
    emergency = _dial_link("tel", number, "Call") if _DIALLED.fullmatch(number.strip()) else None
    return (
        '<section class="help-panel" role="region" aria-labelledby="help-heading">'
        f'<h2 id="help-heading" tabindex="-1">{_e(texts["help_heading"])}: {_e(country.name)}</h2>'
        f"<p>{_e(texts['help_intro'])}</p>"
        f'<p class="help-emergency"><strong>{_e(texts["emergency_label"])}: '
        f"{_e(number)}</strong>{' ' + emergency if emergency else ''}</p>"
        f'<ul class="help-list">{"".join(items)}</ul>'
        f'<p class="help-country" data-country="{_e(key)}"></p>'
        f'<button type="button" class="help-hide">{_e(texts["help_hide"])}</button>'
        "</section>"
    )


def _unbounded(value: Any) -> bool:
    return value == "inf" or (isinstance(value, float) and math.isinf(value))


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None or _unbounded(value):
        return "no questions yet" if value is not None else "n/a"
    return f"{value:.1f}{suffix}"


def miti_panel_html(summary: dict | None) -> str:
    """The session's counts against MITI 4.2.1 thresholds; `summary` from coder.miti_summary."""
    if not summary or not summary.get("total"):
        return '<div class="miti-panel"><p>No coded listener replies yet.</p></div>'
    ratings = summary["ratings"]
    # With no question asked the ratio is unbounded: that is too little to rate, not "good".
    r_to_q_rating = "not rated yet" if _unbounded(summary["r_to_q"]) else ratings["r_to_q"]
    rows = [
        ("Reflection : question", _fmt(summary["r_to_q"]), r_to_q_rating, "≥ 1 fair, ≥ 2 good"),
        (
            "Complex reflections",
            _fmt(summary["pct_complex_reflections"], " %"),
            ratings["pct_complex_reflections"],
            "≥ 40 % fair, ≥ 50 % good",
        ),
    ]
    body = "".join(
        f'<tr><th scope="row">{_e(name)}</th><td>{_e(value)}</td>'
        f'<td class="rating rating-{_e((rating or "na").replace(" ", "-"))}">{_e(rating or "n/a")}'
        f"</td><td>{_e(threshold)}</td></tr>"
        for name, value, rating, threshold in rows
    )
    counts = ", ".join(f"{_e(k)} {v}" for k, v in summary["counts"].items() if v)
    return (
        '<div class="miti-panel"><table><caption>Session techniques (MITI 4.2.1)</caption>'
        '<thead><tr><th scope="col">Measure</th><th scope="col">Value</th>'
        '<th scope="col">Rating</th><th scope="col">Thresholds</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
        f'<p class="miti-counts">{summary["total"]} coded replies: {counts}</p></div>'
    )


def practice_html(code: Any, explanation: str = "", rewrite: str | None = None, texts: dict | None = None) -> str:
    html = (
        f'<p class="practice-result">Coded as <strong>{_e(code.label)}</strong> '
        f"(confidence {code.confidence:.2f}, {_e(code.evidence)})</p>"
    )
    if explanation:
        html += f'<p class="practice-explain">{_e(explanation)}</p>'
    if rewrite:
        lead = (texts or {}).get("practice_rewrite", "A reflective alternative:")
        html += f'<p class="practice-rewrite">{_e(lead)} <em>{_e(rewrite)}</em></p>'
    return html


def status_html(text: str, *, visible: bool = True, typing: bool = False) -> str:
    """A polite live region under the chat: what just happened (stopped, deleted) or that a reply
    is being written (with moving dots). "The listener replied." is for screen readers only: the
    reply itself shows it."""
    cls = "reply-status" + ("" if visible else " sr-only") + (" typing" if typing else "")
    return f'<p class="{cls}" role="status" aria-live="polite">{_e(text)}</p>'
