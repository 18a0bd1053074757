"""Surface rules for the technique coder, read from rules.yaml (no model, no I/O after load)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
PATTERN_FIELDS = (
    "open_invitations",
    "closed_question_starts",
    "open_question_starts",
    "advice",
    "advice_imperative_starts",
    "diagnosis",
    "summary_starts",
    "other_phrases",
)


@dataclass(frozen=True)
class RuleHit:
    code: str
    subtype: str | None
    evidence: str  # "rule:<name>"


@dataclass(frozen=True)
class Rules:
    fillers: tuple[str, ...]
    patterns: dict[str, tuple[re.Pattern, ...]]

    def any(self, name: str, text: str) -> bool:
        return any(p.search(text) for p in self.patterns[name])


@functools.lru_cache(maxsize=1)
def load_rules() -> Rules:
    path = resources.files("chatbot.coder").joinpath("rules.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [f for f in ("leading_fillers", *PATTERN_FIELDS) if f not in data]
    if missing:
        raise ValueError(f"{path}: missing fields {missing}")
    try:
        patterns = {f: tuple(re.compile(p, re.IGNORECASE) for p in data[f]) for f in PATTERN_FIELDS}
    except re.error as exc:
        raise ValueError(f"{path}: bad pattern: {exc}") from None
    return Rules(tuple(w.lower() for w in data["leading_fillers"]), patterns)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text.strip()) if s.strip()]


def normalise(sentence: str, rules: Rules) -> str:
    """Lower-case, straight quotes, no leading fillers ("So, what now?" -> "what now?")."""
    s = sentence.lower().replace("\u2019", "'").replace("\u2018", "'").strip()
    changed = True
    while changed:
        changed = False
        for filler in rules.fillers:
            m = re.match(rf"{re.escape(filler)}\b[\s,.-]*", s)
            if m and len(s) > m.end():
                s, changed = s[m.end() :], True
    return s


def other_hit(sentence: str, rules: Rules) -> RuleHit | None:
    if rules.any("other_phrases", normalise(sentence, rules)):
        return RuleHit("other", None, "rule:social")
    return None


def question_hit(sentence: str, rules: Rules) -> RuleHit | None:
    s = normalise(sentence, rules)
    if rules.any("open_invitations", s):
        return RuleHit("question", "open", "rule:open_invitation")
    if not s.rstrip().endswith("?"):
        return None
    if rules.any("closed_question_starts", s):
        return RuleHit("question", "closed", "rule:closed_question")
    if rules.any("open_question_starts", s):
        return RuleHit("question", "open", "rule:open_question")
    # A statement said as a question ("So it's mostly at night?") asks for a yes or no.
    return RuleHit("question", "closed", "rule:question_mark")


def advice_hit(sentence: str, rules: Rules, prompt: str | None = None) -> RuleHit | None:
    """prompt: the person's line before it. Saying back their own plan ("maybe I could ask for
    a day off" -> "you could ask for a day off") is a reflection, not advice."""
    s = normalise(sentence, rules)
    if rules.any("diagnosis", s):
        return RuleHit("advice", None, "rule:diagnosis")
    said = " ".join(prompt.lower().replace("\u2019", "'").split()) if prompt else ""
    for pattern in (*rules.patterns["advice"], *rules.patterns["advice_imperative_starts"]):
        for match in pattern.finditer(s):
            if not (said and _first_person(match.group(0)) in said):
                return RuleHit("advice", None, "rule:advice")
    return None


def _first_person(phrase: str) -> str:
    return re.sub(r"\byou\b", "i", phrase.lower())


def summary_hit(text: str, rules: Rules) -> RuleHit | None:
    s = normalise(text, rules)
    if rules.any("summary_starts", s):
        return RuleHit("summary", None, "rule:summary")
    return None


def is_diagnosis(text: str) -> bool:
    rules = load_rules()
    return any(rules.any("diagnosis", normalise(s, rules)) for s in split_sentences(text))
