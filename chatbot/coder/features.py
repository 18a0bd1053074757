"""Pure text features the classifier adds to the MiniLM embedding."""

from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"[a-z']+")
# Function words carry no topic; overlap is measured on the rest.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "so",
        "if",
        "then",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "about",
        "as",
        "into",
        "up",
        "out",
        "over",
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "yourself",
        "we",
        "us",
        "our",
        "they",
        "them",
        "their",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "should",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "nor",
        "don't",
        "didn't",
        "can't",
        "won't",
        "isn't",
        "aren't",
        "wasn't",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "you're",
        "you've",
        "you'd",
        "you'll",
        "it's",
        "that's",
        "there's",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "just",
        "really",
        "very",
        "too",
        "also",
        "all",
        "any",
        "some",
        "more",
        "most",
        "much",
        "many",
        "such",
        "own",
        "same",
        "than",
        "like",
        "feel",
        "feeling",
        "felt",
        "sounds",
        "sound",
        "seems",
        "seem",
        "it's",
        "lot",
        "get",
        "got",
        "go",
        "going",
        "one",
        "thing",
        "things",
    ]
)


def content_words(text: str) -> set[str]:
    words = {w.strip("'") for w in WORD.findall(text.lower().replace("\u2019", "'"))}
    return {_stem(w) for w in words if w and w not in STOPWORDS and len(w) > 2}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def overlap(text: str, prompt: str | None) -> float:
    """Share of the reply's content words that the person used: high for simple reflections."""
    mine = content_words(text)
    if not prompt or not mine:
        return 0.0
    return len(mine & content_words(prompt)) / len(mine)


def surface(text: str) -> np.ndarray:
    words = len(WORD.findall(text.lower()))
    sentences = max(1, len(re.findall(r"[.!?]+(\s|$)", text.strip())))
    return np.array(
        [float(text.strip().endswith("?")), min(sentences, 4) / 4, min(words, 60) / 60],
        dtype=np.float32,
    )


def subtype_features(text: str, prompt: str | None, text_vec, prompt_vec) -> np.ndarray:
    """Simple vs complex reflection: how far the reply goes beyond the person's words."""
    cos = float(np.dot(text_vec, prompt_vec)) if prompt_vec is not None else 0.0
    has_prompt = float(prompt_vec is not None)
    len_ratio = 0.0
    if prompt:
        len_ratio = min(len(WORD.findall(text)) / max(1, len(WORD.findall(prompt))), 3) / 3
    return np.array([overlap(text, prompt), cos, len_ratio, has_prompt], dtype=np.float32)
