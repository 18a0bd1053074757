"""Pure rules about a listener's reply and the person's words, read from reply_rules.yaml."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

PATTERN_FIELDS = (
    "self_claims",
    "dismissive",
    "not_a_reply",
    "summary_requests",
    "effort_cues",
    "difficulty",
)


@dataclass(frozen=True)
class DirectKind:
    """Something the person says that is answered with a fixed text, not reflected (reply_rules.yaml)."""

    kind: str
    cue: re.Pattern
    yields_to_statements: bool = False  # a statement in the same message is reflected instead
    reflect_statements: bool = False  # such a statement is reflected before the fixed text


@dataclass(frozen=True)
class ReplyRules:
    patterns: dict[str, tuple[re.Pattern, ...]]
    hedges: tuple[str, ...]
    perspective: tuple[tuple[re.Pattern, str], ...]
    meanings: tuple[tuple[re.Pattern, str, bool], ...] = ()  # cue, phrase, applies with preference
    no_meaning_when: re.Pattern | None = None
    feeling_words: frozenset[str] = frozenset()
    direct: tuple[DirectKind, ...] = ()

    def any(self, name: str, text: str) -> bool:
        text = text.replace("\u2019", "'")
        return any(p.search(text) for p in self.patterns[name])

    def direct_kind(self, sentence: str) -> DirectKind | None:
        """The first kind whose cue matches this sentence of the person's, if any."""
        text = " ".join(sentence.replace("\u2019", "'").lower().split())
        return next((k for k in self.direct if k.cue.search(text)), None)


@functools.lru_cache(maxsize=1)
def load_reply_rules() -> ReplyRules:
    path = resources.files("chatbot.coder").joinpath("reply_rules.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [f for f in (*PATTERN_FIELDS, "hedges", "perspective") if f not in data]
    if missing:
        raise ValueError(f"{path}: missing fields {missing}")
    patterns = {f: tuple(re.compile(p, re.IGNORECASE) for p in data[f]) for f in PATTERN_FIELDS}
    # Longest phrases first so "i was" wins over "i".
    swaps = sorted(data["perspective"].items(), key=lambda kv: -len(kv[0]))
    perspective = tuple((re.compile(rf"(?<![\w']){re.escape(k)}(?![\w'])", re.IGNORECASE), v) for k, v in swaps)
    hedges = tuple(sorted((h.lower() for h in data["hedges"]), key=len, reverse=True))
    meanings = tuple(
        (re.compile(m["cue"], re.IGNORECASE), m["phrase"], bool(m.get("with_preference")))
        for m in data.get("meanings", [])
    )
    guard = data.get("no_meaning_when")
    direct = tuple(
        DirectKind(
            d["kind"],
            re.compile(d["cue"], re.IGNORECASE),
            bool(d.get("yields_to_statements")),
            bool(d.get("reflect_statements")),
        )
        for d in data.get("direct", [])
    )
    return ReplyRules(
        patterns,
        hedges,
        perspective,
        meanings,
        re.compile(guard, re.IGNORECASE) if guard else None,
        frozenset(w.lower() for w in data.get("feeling_words", [])),
        direct,
    )


def meaning_for(text: str, rules: ReplyRules | None = None) -> str | None:
    """The meaning a reflection may add for these words, from the first matching cue."""
    rules = rules or load_reply_rules()
    text = text.replace("\u2019", "'")
    preference = bool(rules.no_meaning_when and rules.no_meaning_when.search(text))
    return next(
        (
            phrase
            for cue, phrase, with_preference in rules.meanings
            if cue.search(text) and (with_preference or not preference)
        ),
        None,
    )


def to_second_person(text: str, rules: ReplyRules | None = None) -> str:
    """'I miss my dad' -> 'you miss your dad'. One pass, so swapped words are not swapped back."""
    rules = rules or load_reply_rules()
    text = text.replace("\u2019", "'")
    alternatives = (f"(?P<g{i}>{p.pattern})" for i, (p, _) in enumerate(rules.perspective))
    combined = re.compile("|".join(alternatives), re.IGNORECASE)

    def swap(match: re.Match) -> str:
        group = match.lastgroup
        assert group is not None  # every alternative is a named group g<i>
        return rules.perspective[int(group[1:])][1]

    return combined.sub(swap, text)


def strip_hedges(clause: str, rules: ReplyRules | None = None) -> str:
    rules = rules or load_reply_rules()
    changed = True
    while changed:
        changed = False
        for hedge in rules.hedges:
            m = re.match(rf"{re.escape(hedge)}\b[\s,]*", clause, re.IGNORECASE)
            if m and len(clause) > m.end():
                clause, changed = clause[m.end() :], True
    # An "I guess" said in passing goes too: "the flat is okay I suppose, it's near the station".
    for hedge in (h for h in rules.hedges if h.startswith("i ")):
        clause = re.sub(rf",?\s+{re.escape(hedge)}\b(?=\s*(,|$))", "", clause, flags=re.IGNORECASE)
    return clause
