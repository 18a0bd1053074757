"""TechniqueCoder: MITI codes for a listener's utterance from rules plus a small classifier.

Rules catch the unambiguous cues (question forms, advice phrases, summary openers). The rest is
classified by logistic regressions over MiniLM embeddings, trained at load from the shipped
labelled utterances (chatbot/coder/data/labelled.jsonl), deterministically.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from chatbot.coder import features, rules
from chatbot.coder.codes import Code, primary_code

SUBTYPE_WEIGHT = 4.0  # lifts the few prompt-overlap features against 384 embedding dimensions


def labelled_path() -> Path:
    return Path(str(resources.files("chatbot.coder") / "data" / "labelled.jsonl"))


def load_labelled(path: Path | None = None) -> list[dict]:
    path = path or labelled_path()
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    for i, row in enumerate(rows, 1):
        if not row.get("text") or "code" not in row:
            raise ValueError(f"{path}:{i}: each row needs 'text' and 'code'")
    return rows


class _Classifier(Protocol):
    """What the coder uses of a fitted scikit-learn classifier (sklearn is imported lazily)."""

    classes_: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@dataclass
class _Models:
    code: _Classifier  # LogisticRegression over [embedding, surface]
    reflection: _Classifier  # simple vs complex over [embedding, subtype features]
    question: _Classifier  # open vs closed, for questions the rules did not catch


def _fit(x, y) -> _Classifier:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=4.0, max_iter=5000, random_state=0)
    return model.fit(np.asarray(x), np.asarray(y))


class TechniqueCoder:
    def __init__(self, models: _Models, embed_fn) -> None:
        self._models = models
        self._embed = embed_fn
        self._rules = rules.load_rules()

    # -- building -------------------------------------------------------------------------
    @classmethod
    def load(cls) -> TechniqueCoder:
        """The default coder, trained once per process on the shipped training split."""
        return _default_coder()

    @classmethod
    def train(cls, rows: list[dict], embed_fn=None) -> TechniqueCoder:
        if embed_fn is None:
            from safety.embeddings import embed as embed_fn
        texts = [r["text"] for r in rows]
        prompts = [r.get("prompt") for r in rows]
        vecs = embed_fn(texts)
        prompt_set = sorted({p for p in prompts if p})
        pvecs = dict(zip(prompt_set, embed_fn(prompt_set))) if prompt_set else {}

        code_x = [np.concatenate([v, features.surface(t)]) for v, t in zip(vecs, texts)]
        code_model = _fit(code_x, [r["code"] for r in rows])

        refl_x, refl_y = [], []
        for r, v in zip(rows, vecs):
            if r["code"] != "reflection":
                continue
            prompt = r.get("prompt")
            # Each reflection twice: with its client line and without, so both cases are learned.
            for p in {prompt, None}:
                refl_x.append(_subtype_x(r["text"], p, v, pvecs.get(p) if p else None))
                refl_y.append(r["subtype"])
        q_rows = [(v, r["subtype"]) for r, v in zip(rows, vecs) if r["code"] == "question"]
        question_model = _fit([v for v, _ in q_rows], [s for _, s in q_rows])
        return cls(_Models(code_model, _fit(refl_x, refl_y), question_model), embed_fn)

    # -- coding ---------------------------------------------------------------------------
    def code(self, text: str, prompt: str | None = None) -> Code:
        """One label for the whole utterance (prompt = the client line before it)."""
        return primary_code(self.code_all(text, prompt))

    def code_all(self, text: str, prompt: str | None = None) -> list[Code]:
        """MITI-style segments: a question counts alone; adjacent statements of one kind merge."""
        text = (text or "").strip()
        if not text:
            return [Code("other", None, 1.0, "rule:empty")]
        sentences = rules.split_sentences(text) or [text]
        vecs = self._embed([text, *sentences] + ([prompt] if prompt else []))
        whole_vec, sent_vecs = vecs[0], vecs[1 : 1 + len(sentences)]
        prompt_vec = vecs[-1] if prompt else None

        # A summary marker counts only when no sentence gives advice: advice in a recap is advice.
        advice_anywhere = any(rules.advice_hit(s, self._rules, prompt) for s in sentences)
        hit = rules.summary_hit(text, self._rules)
        if hit and not advice_anywhere:
            return [Code(hit.code, None, 0.95, hit.evidence)]

        parts: list[tuple[str, str | None, float, str, list[str]]] = []
        for sentence, vec in zip(sentences, sent_vecs):
            # Advice first: "Why don't you just tell her?" is advice in question form.
            hit = (
                rules.other_hit(sentence, self._rules)
                or rules.advice_hit(sentence, self._rules, prompt)
                or rules.question_hit(sentence, self._rules)
            )
            if hit:
                conf = 0.7 if hit.evidence == "rule:question_mark" else 0.95
                code, subtype, evidence = hit.code, hit.subtype, hit.evidence
            else:
                code, conf = self._classify(sentence, vec)
                subtype, evidence = None, "classifier"
                if code == "summary":  # one sentence is not a summary; see the run check below
                    code = "reflection"
                if code == "question":
                    subtype = str(self._models.question.predict(vec[None, :])[0])
            if parts and parts[-1][0] == code and code != "question":
                last = parts[-1]
                parts[-1] = (code, last[1], min(last[2], conf), last[3], last[4] + [sentence])
            else:
                parts.append((code, subtype, conf, evidence, [sentence]))

        # Without a marker, a summary is a run of reflections that the whole text reads as a
        # summary; a lone sentence the classifier calls "summary" is read as a reflection.
        if len(parts) == 1 and parts[0][0] == "reflection" and len(sentences) > 1:
            code, prob = self._classify(text, whole_vec)
            if code == "summary":
                return [Code("summary", None, round(prob, 3), "classifier")]

        out = []
        for code, subtype, conf, evidence, group in parts:
            if code == "reflection":
                block = " ".join(group)
                block_vec = whole_vec if len(parts) == 1 else self._embed([block])[0]
                subtype, sub_conf = self._reflection_subtype(block, prompt, block_vec, prompt_vec)
                conf = min(conf, sub_conf)
            out.append(Code(code, subtype, round(float(conf), 3), evidence))
        return out

    def code_many(self, turns: Sequence[tuple[str, str | None]], chunk: int = 80) -> list[list[Code]]:
        """`code_all` for many utterances: each chunk's texts are embedded in one batched call
        first (the embedder's cache then serves `code_all`); the codes are the same as one by one."""
        out: list[list[Code]] = []
        for start in range(0, len(turns), chunk):
            part = turns[start : start + chunk]
            texts: list[str] = []
            for text, prompt in part:
                text = (text or "").strip()
                texts += [text, *(rules.split_sentences(text) or [])] + ([prompt] if prompt else [])
            if texts:
                self._embed(list(dict.fromkeys(t for t in texts if t)))
            out += [self.code_all(text, prompt) for text, prompt in part]
        return out

    def _classify(self, text: str, vec) -> tuple[str, float]:
        x = np.concatenate([vec, features.surface(text)])[None, :]
        probs = self._models.code.predict_proba(x)[0]
        best = int(np.argmax(probs))
        return str(self._models.code.classes_[best]), float(probs[best])

    def _reflection_subtype(self, text, prompt, vec, prompt_vec) -> tuple[str, float]:
        x = _subtype_x(text, prompt, vec, prompt_vec)[None, :]
        probs = self._models.reflection.predict_proba(x)[0]
        best = int(np.argmax(probs))
        return str(self._models.reflection.classes_[best]), float(probs[best])


def _subtype_x(text, prompt, vec, prompt_vec):
    extra = features.subtype_features(text, prompt, vec, prompt_vec) * SUBTYPE_WEIGHT
    return np.concatenate([vec, extra])


@functools.lru_cache(maxsize=1)
def _default_coder() -> TechniqueCoder:
    rows = [r for r in load_labelled() if r.get("split", "train") == "train"]
    return TechniqueCoder.train(rows)
