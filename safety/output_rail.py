"""Output rail: screens the model's reply before it is shown. Pure apart from cached YAML loading."""

from __future__ import annotations

import functools
import re
from importlib import resources as pkg_resources

import yaml

from .normalize import normalize
from .rules import RuleSet, match
from .types import ReplyCheck

RAIL_FILE = "output_rail.yaml"
REASONS = ("method_detail", "encouragement", "diagnosis", "claims_human", "claims_therapist")


@functools.lru_cache(maxsize=1)
def load_rail() -> dict[str, tuple[re.Pattern, ...]]:
    data = yaml.safe_load(pkg_resources.files("safety").joinpath(RAIL_FILE).read_text("utf-8"))
    unknown = set(data) - set(REASONS)
    if unknown:
        raise ValueError(f"safety/{RAIL_FILE}: unknown sections {sorted(unknown)}")
    return {reason: tuple(re.compile(p) for p in data.get(reason, ())) for reason in REASONS}


def check_reply(reply: str, rules: RuleSet | None = None) -> ReplyCheck:
    """Not ok for method/dosage details, encouragement of harm, diagnosis, claims to be human or a
    therapist, and crisis language in the model's own voice (`rules`: the crisis rules to read it
    with; the shipped ones when None)."""
    if not isinstance(reply, str):
        raise TypeError("reply must be a string")
    text = normalize(reply)
    for reason, patterns in load_rail().items():
        for i, pattern in enumerate(patterns):
            if pattern.search(text):
                return ReplyCheck(ok=False, reason=reason, evidence=(f"rail:{reason}:{i}",))
    own_voice = [
        h.rule.id
        for h in match(text, rules)
        if h.suppressed_by is None and h.rule.kind == "crisis" and h.rule.subject == "self"
    ]
    if own_voice:
        return ReplyCheck(ok=False, reason="crisis_voice", evidence=tuple(own_voice))
    return ReplyCheck(ok=True, reason=None, evidence=())
