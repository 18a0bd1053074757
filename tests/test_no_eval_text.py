"""The product holds no text from the reference scenarios or the everyday set.

Rules, prompts and code tuned to the exact words of an eval line pass that eval without listening
any better. So no product file may share five words in a row with a line a scripted person types
in evals/data/scenarios/ or evals/data/everyday/.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ("evals/data/scenarios", "evals/data/everyday")
# Hand-written product text: code, rules, prompts, fixed replies, the safety screen's nearest
# examples. *.jsonl training corpora under chatbot/ are data, not hand-written rules: not globbed here.
PRODUCT_GLOBS = (
    "chatbot/**/*.py",
    "chatbot/**/*.yaml",
    "prompts/*.yaml",
    "safety/*.py",
    "safety/*.yaml",
    "safety/examples/*.yaml",
    "app.py",
)
N = 5
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Everyday phrases whose five-word runs say nothing about the evals. The last two are the plain ways
# to ask for advice and to close a subject, which the reply rules must recognise in any words.
COMMON_PHRASES = ("I don't know how to", "I don't want to be", "tell me what to do", "I don't want to talk about it")


def grams(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower().replace("\u2019", "'"))
    return {tuple(words[i : i + N]) for i in range(len(words) - N + 1)}


COMMON = {g for phrase in COMMON_PHRASES for g in grams(phrase)}


def reference_lines() -> list[str]:
    lines = []
    for folder in REFERENCE:
        for path in sorted((ROOT / folder).glob("*.yaml")):
            for scenario in yaml.safe_load(path.read_text("utf-8"))["scenarios"]:
                lines += scenario["turns"]
    return lines


def product_files() -> list[Path]:
    return sorted({p for pattern in PRODUCT_GLOBS for p in ROOT.glob(pattern)})


def shared(text: str, reference: set[tuple[str, ...]]) -> list[str]:
    return sorted(" ".join(g) for g in (grams(text) & reference) - COMMON)


def test_no_product_file_shares_five_words_with_an_eval_line():
    lines = reference_lines()
    reference = set().union(*map(grams, lines))
    files = product_files()
    assert len(lines) > 100 and len(files) > 30
    found = {}
    for path in files:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if hits := shared(line, reference):
                found[f"{path.relative_to(ROOT)}:{number}"] = hits
    assert found == {}


def test_the_check_sees_a_copied_line_however_it_is_cased_or_punctuated():
    reference = set().union(*map(grams, reference_lines()))
    copied = reference_lines()[0].upper().replace(" ", "  ")
    assert shared(f"# e.g. {copied}", reference)
    assert shared("I don't know how to say this.", grams("I don't know how to")) == []
