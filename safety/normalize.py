"""Turn a message into one canonical lowercase form the YAML rules are written against."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources as pkg_resources

import yaml

_APOSTROPHES = re.compile(r"[\u2019\u2018\u02bc`']")
_RUNS = re.compile(r"([a-z])\1{2,}")
_DOUBLES = re.compile(r"([a-z])\1")
_TOKEN = re.compile(r"[^\s]+")
_EDGE_PUNCT = re.compile(r"^([^\w$@|]*)(.*?)([^\w$@|]*)$")
_SPACES = re.compile(r"[ \t]+")
_UNDECOMPOSED = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe"})
_OD = re.compile(r"\bod[\u2019']?e?d\b")
# Contractions expanded before apostrophes go, so "he'll" does not become "hell" nor "we'll" "well".
_CONTRACTIONS = (
    (re.compile(r"\b(won)['\u2019]t\b"), "will not"),
    (re.compile(r"\b(can)['\u2019]t\b"), "can not"),
    (re.compile(r"\b(shan)['\u2019]t\b"), "shall not"),
    (re.compile(r"\b(\w+)n['\u2019]t\b"), r"\1 not"),
    (re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)['\u2019]ll\b"), r"\1 will"),
    (re.compile(r"\b(i|you|he|she|we|they|who)['\u2019]d\b"), r"\1 would"),
    (re.compile(r"\b(you|we|they|who)['\u2019]re\b"), r"\1 are"),
    (re.compile(r"\b(i|you|we|they|who|could|would|should|might|must)['\u2019]ve\b"), r"\1 have"),
    (re.compile(r"\bi['\u2019]m\b"), "i am"),
)


@dataclass(frozen=True)
class _Tables:
    leet: dict[str, str]
    number_with_unit: re.Pattern
    vocab_by_dedup: dict[str, str]
    tokens: dict[str, str]
    phrases: tuple[tuple[re.Pattern, str], ...]


def _dedup(word: str) -> str:
    return _DOUBLES.sub(r"\1", word)


@functools.lru_cache(maxsize=1)
def tables() -> _Tables:
    data = yaml.safe_load(pkg_resources.files("safety").joinpath("normalize.yaml").read_text("utf-8"))
    return _Tables(
        leet={str(k): str(v) for k, v in data["leet"].items()},
        number_with_unit=re.compile(data["number_with_unit"]),
        vocab_by_dedup={_dedup(w): w for w in data["vocabulary"]},
        tokens={str(k): str(v) for k, v in data["tokens"].items()},
        phrases=tuple((re.compile(p), r) for p, r in data["phrases"].items()),
    )


def _strip_accents(text: str) -> str:
    text = text.replace("ß", "ss")
    # Letters NFKD does not decompose (Turkish dotless i, Polish l-stroke, Nordic o-slash, d-stroke).
    text = text.translate(_UNDECOMPOSED)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fix_token(token: str, t: _Tables) -> str:
    edges = _EDGE_PUNCT.match(token)
    assert edges is not None  # every group may be empty and a token holds no newline: it always matches
    lead, core, trail = edges.groups()
    if not core:
        return token
    has_letter = any(c.isalpha() for c in core)
    if has_letter and any(c in t.leet for c in core) and not t.number_with_unit.match(core):
        core = "".join(t.leet.get(c, c) for c in core)
    core = _RUNS.sub(r"\1\1", core)
    if core in t.tokens:
        core = t.tokens[core]
    elif core.isalpha() and core not in t.vocab_by_dedup.values():
        core = t.vocab_by_dedup.get(_dedup(core), core)
        core = t.tokens.get(core, core)
    return f"{lead}{core}{trail}"


def normalize(text: str) -> str:
    """Lowercase, accent-free, leetspeak and slang resolved; punctuation kept for clause splits."""
    t = tables()
    # Invisible format characters (soft hyphen, zero-width space/joiner) must not split a word.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text).lower()
    text = _OD.sub("overdosed", text)  # "od'd" would otherwise become the word "odd"
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _strip_accents(_APOSTROPHES.sub("", text))
    text = _TOKEN.sub(lambda m: _fix_token(m.group(0), t), text)
    for pattern, replacement in t.phrases:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()
