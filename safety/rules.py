"""The curated pattern layer: YAML rules over normalised text, with the suppressors that keep
idioms, negation, fiction, reported speech and resolved past experience from routing."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from importlib import resources as pkg_resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .resources import ResourceFileError
from .types import CATEGORIES

RULES_FILE = "rules.yaml"
_CLAUSE_BREAK = re.compile(r"[.!?;,:\n()\"]|\b(?:but|though|although|however|except|yet|whereas)\b")
_SENTENCE_BREAK = re.compile(r"[.!?;\n]")
_PRONOUN = re.compile(r"\b(?:i|you|he|she|they|we|it|someone|people)\b")
_MACRO = re.compile(r"\{([A-Z_]+)\}")


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    kind: Literal["crisis", "signal"] = "crisis"
    category: str | None = None
    severity: int = Field(default=0, ge=0, le=6)
    subject: Literal["self", "other"] = "self"
    immediate: bool = False
    negatable: bool = True  # "I'm not suicidal"
    past_ok: bool = True  # resolved past experience does not route
    fiction_ok: bool = False  # fiction / reported framing does not route
    humor_ok: bool = False  # "I'll kill him lol" does not route
    accident_ok: bool = False  # "I cut myself cooking" does not route
    patterns: tuple[str, ...]

    @field_validator("category")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}; use one of {CATEGORIES}")
        return value


class Suppressors(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    idioms: tuple[str, ...]
    negation: str
    negation_window: int = 5
    negation_neutral: tuple[str, ...] = ()
    past: str
    current: str
    fiction: str
    reported_speech: str
    roleplay: str
    humor: str
    accident: str
    # Plain dosage questions ("what is the maximum a day"): keep the semantic layer's bar raised.
    dose_question: str = r"(?!)"


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    macros: dict[str, str] = {}
    suppressors: Suppressors
    # A whole message that says yes (or maybe) to the safety question a crisis reply just asked.
    affirmative_answer: str = r"(?!)"
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    regex: re.Pattern


@dataclass(frozen=True)
class Hit:
    rule: RuleSpec
    suppressed_by: str | None  # None -> counts


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    idioms: re.Pattern
    negation: re.Pattern
    negation_window: int
    negation_neutral: re.Pattern | None
    past: re.Pattern
    current: re.Pattern
    fiction: re.Pattern
    reported_speech: re.Pattern
    roleplay: re.Pattern
    humor: re.Pattern
    accident: re.Pattern
    dose_question: re.Pattern
    affirmative_answer: re.Pattern


def _expand(pattern: str, macros: dict[str, str]) -> str:
    for _ in range(3):  # macros may use macros
        pattern = _MACRO.sub(lambda m: macros[m.group(1)], pattern)
    return pattern


def compile_rules(data: dict, filename: str = RULES_FILE) -> RuleSet:
    try:
        spec = RulesFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResourceFileError(f"{filename}: field '{where}': {first['msg']}") from exc
    s = spec.suppressors

    def rx(p: str, where: str) -> re.Pattern:
        try:
            return re.compile(_expand(p, spec.macros))
        except (re.error, KeyError) as exc:
            raise ResourceFileError(f"{filename}: {where}: bad pattern: {exc}") from exc

    compiled = []
    for rule in spec.rules:
        if rule.kind == "crisis" and (rule.category is None or rule.severity < 1):
            raise ResourceFileError(f"{filename}: rule '{rule.id}': crisis rules need category and severity>=1")
        joined = "|".join(f"(?:{_expand(p, spec.macros)})" for p in rule.patterns)
        compiled.append(CompiledRule(rule, rx(joined, f"rule '{rule.id}'")))
    return RuleSet(
        rules=tuple(compiled),
        idioms=rx("|".join(f"(?:{p})" for p in s.idioms), "suppressors.idioms"),
        negation=rx(s.negation, "suppressors.negation"),
        negation_window=s.negation_window,
        negation_neutral=rx("|".join(s.negation_neutral), "suppressors.negation_neutral")
        if s.negation_neutral
        else None,
        past=rx(s.past, "suppressors.past"),
        current=rx(s.current, "suppressors.current"),
        fiction=rx(s.fiction, "suppressors.fiction"),
        reported_speech=rx(s.reported_speech, "suppressors.reported_speech"),
        roleplay=rx(s.roleplay, "suppressors.roleplay"),
        humor=rx(s.humor, "suppressors.humor"),
        accident=rx(s.accident, "suppressors.accident"),
        dose_question=rx(s.dose_question, "suppressors.dose_question"),
        affirmative_answer=rx(spec.affirmative_answer, "affirmative_answer"),
    )


# What must never depend on a model (the short rule list, docs/safety.md): an immediate danger, a plan or
# preparation (severity 5-6), intent, method-seeking and current self-harm; conversation signals
# and the answer to the safety question are not crisis rules and always stay.
CORE_RULE_IDS = frozenset({"suicide.intent", "suicide.method_seeking", "self_harm.current"})


def is_core(spec: RuleSpec) -> bool:
    return spec.kind != "crisis" or spec.immediate or spec.severity >= 5 or spec.id in CORE_RULE_IDS


def core_rules(rs: RuleSet) -> RuleSet:
    """Only the core crisis rules: what the screen would do if the rest left the rule file."""
    return replace(rs, rules=tuple(cr for cr in rs.rules if is_core(cr.spec)))


@functools.lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    text = pkg_resources.files("safety").joinpath(RULES_FILE).read_text(encoding="utf-8")
    return compile_rules(yaml.safe_load(text), f"safety/{RULES_FILE}")


def _span(text: str, pos: int, breaks: re.Pattern) -> tuple[int, int]:
    """Start and end of the clause/sentence around `pos`."""
    start = 0
    for m in breaks.finditer(text, 0, pos):
        start = m.end()
    next_break = breaks.search(text, pos)
    return start, (next_break.start() if next_break else len(text))


def _negated(text: str, clause_start: int, m: re.Match, rs: RuleSet) -> bool:
    if _PRONOUN.match(m.group(0)):  # "I'm not saying it, but I want to die": the match has its own subject
        return False
    match_start = m.start()
    before = text[clause_start:match_start]
    if rs.negation_neutral is not None:
        before = rs.negation_neutral.sub(" ", before)
    words = before.split()[-rs.negation_window :]
    window = " ".join(words)
    last = None
    for m in rs.negation.finditer(window):
        last = m
    if last is None:
        return False
    # "if I do not get help I will ..." : a new subject after the negator owns the predicate
    return _PRONOUN.search(window, last.end()) is None


def _in_quotes(raw: str, pos: int) -> bool:
    return raw.count('"', 0, pos) % 2 == 1 or raw.count("\u201c", 0, pos) > raw.count("\u201d", 0, pos)


def match(normalized: str, rs: RuleSet | None = None) -> list[Hit]:
    """Every rule hit in a normalised message, each marked with what (if anything) suppressed it."""
    rs = rs or load_rules()
    text = rs.idioms.sub(" ~ ", normalized)
    has_current = rs.current.search(text) is not None
    hits: list[Hit] = []
    for cr in rs.rules:
        m = cr.regex.search(text)
        if m is None:
            continue
        hits.append(Hit(cr.spec, _suppression(text, normalized, m, cr.spec, rs, has_current)))
    return hits


def _suppression(text: str, raw: str, m: re.Match, rule: RuleSpec, rs: RuleSet, has_current: bool) -> str | None:
    clause_start, clause_end = _span(text, m.start(), _CLAUSE_BREAK)
    sent_start, sent_end = _span(text, m.start(), _SENTENCE_BREAK)
    sentence = text[sent_start:sent_end]
    if rule.negatable and _negated(text, clause_start, m, rs):
        return "negated"
    if rule.past_ok and not has_current and rs.past.search(sentence):
        return "past"
    framed = rs.fiction.search(text) is not None and rs.roleplay.search(text) is None
    if framed and rule.fiction_ok:
        return "fiction"
    if framed and (_in_quotes(text, m.start()) or rs.reported_speech.search(text, sent_start, m.start())):
        return "reported"
    if rule.humor_ok and rs.humor.search(text, clause_start, min(len(text), clause_end + 12)):
        return "humor"
    if rule.accident_ok and rs.accident.search(sentence):
        return "accident"
    return None
