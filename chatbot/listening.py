"""Reflect-first listening: plan a move, sample a few candidates, keep the best that passes checks.

A small model told to "reflect" still gives advice, asks several questions and drifts. So each turn:
1. plan the move (reflect most turns; an open question at most every other turn; an affirmation
   when the person shows effort; a summary every few turns or when asked),
2. prompt the model for that move (prompts/<move>.yaml: instruction + few-shot examples),
3. generate a few candidates with seeds derived from settings.seed, trim each to the sentences
   before the first one that breaks a rule, and check it (coder + simple checks),
4. return the best passing candidate, or a deterministic reflection built from the person's words.
Model errors propagate: the engine owns error handling.
"""

from __future__ import annotations

import contextvars
import functools
import re
import threading
import zlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from chatbot.coder import Code
from chatbot.coder import rules as coder_rules
from chatbot.coder.codes import primary_code
from chatbot.coder.features import content_words
from chatbot.coder.reply_rules import (
    DirectKind,
    ReplyRules,
    load_reply_rules,
    meaning_for,
    strip_hedges,
    to_second_person,
)
from chatbot.coder.respond_kinds import RespondKinds
from chatbot.config import default_config
from chatbot.models import ChatModel, GenerationSettings, Message
from chatbot.prompts import load_prompt
from chatbot.protocols import Coder, PlannedReply, Reading
from chatbot.train.prompting import adapter_messages, read_window
from safety.types import ReplyCheck

MOVES = ("reflect", "question", "affirm", "summarize")
# Not a move the model is asked for: a fixed answer when the person asks something or says little.
RESPOND = "respond"
SUMMARY_EVERY = 4  # a summary on turns 4, 8, ... (1-based)
QUESTION_EVERY = 3  # a question move on turns 3, 6, ... keeps reflections >= 2x questions
HISTORY_EXCHANGES = {"summarize": 3}  # earlier exchanges shown to the model; default below
DEFAULT_HISTORY_EXCHANGES = 1  # the 135M model loses the thread with more
MAX_SENTENCES = 3
# Greedy decoding of a small model can loop. No hand-written corpus reply repeats a six-word run
# or ends on a statement made of 80% the words before it (short emphasis such as "You went in." aside).
REPEAT_RUN_WORDS = 6
RESTATED_SHARE = 0.8
MAX_NEW_TOKENS = 40  # candidates are trimmed to 1-3 sentences anyway
ECHO_MAX_WORDS = 20
SHORT_ECHO_WORDS = 10  # with an added meaning the echo stays short: reflect, don't parrot
CLAUSE_BREAKS = ("but", "because", "and", "so", "when", "if", "since", "while", "though")
# A cut after these leaves half a clause ("... and I'm" before "so tired")
DANGLING = {
    "i",
    "i'm",
    "im",
    "you",
    "you're",
    "we",
    "we're",
    "they",
    "they're",
    "he",
    "she",
    "it",
    "it's",
    "is",
    "am",
    "are",
    "was",
    "were",
    "be",
    "been",
    "feel",
    "felt",
    "and",
    "but",
    "so",
    "really",
    "very",
    "just",
    "the",
    "a",
    "my",
    "or",
    "if",
    "that",
    "to",
    "of",
    "with",
}
SUBORDINATE = {"if", "when", "because", "since", "while", "although", "though", "unless"}
REPEAT_JACCARD = 0.7  # content-word overlap with an earlier reply that counts as a repeat
ON_TOPIC_COSINE = 0.45
# Share of a candidate's content words that the person never used and that are not feeling words.
# In a hand audit of 60 pipeline replies (evals/data/coder/bot_replies_handcoded.jsonl) 17 of the
# 18 model replies judged unfit to send (invented people, events, advice) were above 0.6; the fit
# ones (41 of them, mostly fallbacks) were at 0.5 or below. Chosen on that sample: a new audit
# is its test.
MAX_NOVELTY = 0.6
SECOND_PERSON = re.compile(r"\byou(r|rs|rself|'re|'ve|'d|'ll)?\b", re.IGNORECASE)
# Codes a candidate may have (primary code) to count as doing the planned move.
MOVE_FITS = {
    "reflect": {"reflection"},
    "question": {"question", "reflection"},  # the question itself is checked separately
    "affirm": {"affirmation", "reflection"},
    "summarize": {"summary", "reflection"},
    RESPOND: {"reflection", "question", "affirmation", "summary", "other"},
}
# A trained model's reply is judged on what matters (no advice, the move's shape) rather than on
# the coder's fine labels: the coder reads many two-sentence affirmations as summaries.
TRAINED_MOVE_FITS = {
    "reflect": {"reflection", "summary", "affirmation"},
    "question": {"question", "reflection", "summary", "affirmation"},
    "affirm": {"affirmation", "reflection", "summary"},
    "summarize": {"summary", "reflection"},
    RESPOND: {"reflection", "question", "affirmation", "summary", "other"},
}
# Cosine below which a trained reply is off topic when it shares no word with the conversation.
# Hand-written reflections in the corpus: median 0.40, 1% below 0.05 (new words, same meaning).
TRAINED_ON_TOPIC_COSINE = 0.05
# Replies of the trained model run longer than the untrained one's trimmed first sentence.
ADAPTER_MAX_NEW_TOKENS = 64
# The adapter's first candidate is its most likely reply, and no repetition penalty: the penalty
# counts the prompt, so it pushes the reply away from the person's own words toward invented ones.
# Blind-judged with the earlier adapter on the validation topics (docs/listening.md): fit 12%
# against 2% sampled at 0.7 with penalty 1.1, and preferred in 66 of 89 pairs.
TRAINED_FIRST = {"do_sample": False, "repetition_penalty": 1.0}


@dataclass
class _Candidate:
    index: int
    seed: int | None
    text: str
    trimmed: bool
    code: Code | None
    checks: dict[str, bool]
    score: float
    ideal: bool
    segments: list[Code] = field(default_factory=list)
    rail: ReplyCheck | None = None

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def public(self) -> dict:
        return {
            "index": self.index,
            "seed": self.seed,
            "text": self.text,
            "trimmed": self.trimmed,
            "code": self.code.code if self.code else None,
            "subtype": self.code.subtype if self.code else None,
            "checks": dict(self.checks),
            "passed": self.passed,
            "score": round(self.score, 3),
        }


# -- pure helpers --------------------------------------------------------------------------


def plan_move(history: Sequence[Message], user_text: str, rules: ReplyRules | None = None) -> str:
    rules = rules or load_reply_rules()
    turn = 1 + sum(1 for m in history if m.get("role") == "user")  # this turn, 1-based
    replies = [m["content"] for m in history if m.get("role") == "assistant"]
    last_asked = bool(replies) and "?" in replies[-1]
    if rules.any("summary_requests", user_text):
        return "summarize"
    if turn % SUMMARY_EVERY == 0:
        return "summarize"
    if rules.any("effort_cues", user_text) and not _looks_like_affirmation(replies[-1:]):
        return "affirm"
    if turn % QUESTION_EVERY == 0 and not last_asked:
        return "question"
    return "reflect"


def read_message(user_text: str, rules: ReplyRules | None = None) -> Reading:
    rules = rules or load_reply_rules()
    sentences = coder_rules.split_sentences(user_text) or [user_text]
    kinds = [rules.direct_kind(s) for s in sentences]
    statements = " ".join(s for s, k in zip(sentences, kinds) if k is None)
    kind = next((k for k in rules.direct if k in kinds), None)  # the rules' order is precedence
    if kind is not None and kind.yields_to_statements and statements:
        kind = None
    return Reading(kind, statements)


def _looks_like_affirmation(replies: list[str]) -> bool:
    if not replies:
        return False
    return replies[0].lstrip().lower().startswith("you ") and "?" not in replies[0]


def tidy(raw: str) -> str:
    """The model's first paragraph without quotes or role labels."""
    text = raw.strip().split("\n", 1)[0].strip()
    text = re.sub(r"^(listener|assistant|ai)\s*:\s*", "", text, flags=re.IGNORECASE)
    return text.strip(" \"'\u201c\u201d")


def echo(user_text: str, rules: ReplyRules | None = None, max_words: int = ECHO_MAX_WORDS) -> tuple[str, bool]:
    """The person's own words turned to "you", and whether they carry difficulty."""
    rules = rules or load_reply_rules()
    sentences = coder_rules.split_sentences(user_text) or [user_text]
    hard = [s for s in sentences if rules.any("difficulty", s)]
    chosen = (hard or sentences)[0]
    clause = strip_hedges(chosen.strip().rstrip(".!?\u2026 "), rules)
    words = clause.split()
    if len(words) > max_words:  # cut at a clause break, never mid-phrase unless there is none
        breaks = [
            i
            for i in range(3, len(words) - 1)
            if (words[i].endswith(",") or words[i + 1] in CLAUSE_BREAKS)
            and words[i].lower().strip(",") not in DANGLING
            # "scared that if you say not yet," still waits for its main clause
            and not (words[i].endswith(",") and SUBORDINATE & {w.lower() for w in words[1:i]})
        ]
        early = [i for i in breaks if i < max_words]
        if early:
            cut = early[-1]
        else:  # no break before max_words: the first break within the long limit, or that limit
            cut = breaks[0] if breaks and breaks[0] < ECHO_MAX_WORDS else ECHO_MAX_WORDS - 1
        clause = " ".join(words[: cut + 1])
    clause = to_second_person(clause, rules).strip(" ,;")
    return clause[:1].lower() + clause[1:], bool(hard)


@functools.lru_cache(maxsize=4)
def _feeling_stems(feeling_words: frozenset[str]) -> frozenset[str]:
    return frozenset(content_words(" ".join(feeling_words)))


def novelty(text: str, said: str, rules: ReplyRules | None = None) -> float:
    """Share of the content words of `text` that are neither in `said` nor feeling words."""
    rules = rules or load_reply_rules()
    words = content_words(text)
    allowed = content_words(said) | _feeling_stems(rules.feeling_words)
    return len(words - allowed) / len(words) if words else 0.0


def _stable_index(key: str, n: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % n


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def repeats_itself(text: str, n: int = REPEAT_RUN_WORDS) -> bool:
    """The same run of n words twice in one reply: greedy decoding going round in a loop."""
    words = _words(text)
    runs = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(runs) != len(set(runs))


def restates(sentence: str, before: str) -> bool:
    """A statement of four words or more that says again what the reply already said
    ("Six years of this, and you're done being polite. You're done being polite.")."""
    words = _words(sentence)
    if not before or len(words) < 4 or sentence.rstrip().endswith("?"):
        return False
    said = set(_words(before))
    return sum(w in said for w in words) >= RESTATED_SHARE * len(words)


def is_repeat(text: str, earlier: Sequence[str]) -> bool:
    norm = " ".join(text.lower().split())
    words = content_words(text)
    return any(
        norm == " ".join(e.lower().split()) or _jaccard(words, content_words(e)) >= REPEAT_JACCARD for e in earlier
    )


# -- the pipeline --------------------------------------------------------------------------


class ReflectFirstPipeline:
    def __init__(
        self,
        model: ChatModel,
        coder: Coder,
        candidates: int | None = None,
        reply_check: Callable[[str], ReplyCheck] | None = None,
        max_new_tokens: int | None = None,
        embed_fn: Callable | None = None,
        respond_kinds: RespondKinds | None = None,
        trained: bool | None = None,
        busy_summaries_at: int | None = None,
    ) -> None:
        self.model = model
        self.coder = coder
        self.candidates = max(1, candidates or default_config().listening.candidates)
        self.busy_summaries_at = busy_summaries_at or default_config().listening.busy_summaries_at
        self.reply_check = reply_check
        # trained: the model carries the listening adapter, so it is prompted the way it was
        # trained (prompts/listener.yaml, no few-shot examples) and answers most turns itself.
        identity = getattr(model, "identity", None)
        if trained is None:
            trained = bool(identity is not None and identity.extra.get("adapter"))
        self.trained = trained
        self.window = read_window(identity.extra.get("adapter_path") if identity is not None else None)
        default_tokens = ADAPTER_MAX_NEW_TOKENS if trained else MAX_NEW_TOKENS
        self.max_new_tokens = max_new_tokens or default_tokens
        self._embed_fn = embed_fn
        # the learned reader of greetings, thanks, goodbyes... that the rules' cues miss
        self.respond_kinds = respond_kinds
        self.rules = load_reply_rules()
        self._direct = {k.kind: k for k in self.rules.direct}
        self.system = load_prompt("system").template.strip()
        self.prompts = {move: load_prompt(move) for move in (*MOVES, RESPOND)}
        missing = [
            k.kind
            for k in self.rules.direct
            if not self._respond_texts(k, with_reflection=False)
            or (k.reflect_statements and not self._respond_texts(k, with_reflection=True))
        ]
        if missing:
            raise ValueError(f"prompts/{RESPOND}.yaml has no texts for {missing}")

    def plan_move(self, history: Sequence[Message], user_text: str) -> str:
        return plan_move(history, user_text, self.rules)

    def messages_for(self, move: str, history: Sequence[Message], user_text: str) -> list[Message]:
        if self.trained:
            return adapter_messages(move, history, user_text, self.window)
        prompt = self.prompts[move]
        system = f"{self.system}\n\n{prompt.template.strip()}"
        out: list[Message] = [{"role": "system", "content": system}]
        for ex in prompt.examples:
            out += [dict(m) for m in ex.history]
            out.append({"role": "user", "content": ex.user})
            out.append({"role": "assistant", "content": ex.assistant})
        keep = 2 * HISTORY_EXCHANGES.get(move, DEFAULT_HISTORY_EXCHANGES)
        recent = [dict(m) for m in history if m.get("role") in ("user", "assistant")]
        out += recent[-keep:] if keep else []
        out.append({"role": "user", "content": user_text})
        return out

    def reply(
        self,
        history: Sequence[Message],
        user_text: str,
        settings: GenerationSettings,
        reading: Reading | None = None,
    ) -> PlannedReply:
        """`reading`: `read_message(user_text)` when the caller has read it already."""
        kind, statements = reading if reading is not None else read_message(user_text, self.rules)
        if kind is None and self.respond_kinds is not None:
            learned = self.respond_kinds.kind(user_text, self._embedder())
            if learned is not None:
                kind, statements = self._direct[learned], ""
        if kind is not None:  # greetings, thanks, advice requests...: reviewed fixed texts
            text = self.respond(kind, history, statements, settings.seed, user_text)
            return self._planned(text, RESPOND, user_text, True, 0, [])
        move = self.plan_move(history, user_text)
        if move == "summarize" and self.busy():
            # a summary's prompt carries three exchanges: when many wait, everyone's reply would
            # wait behind it, so the deterministic summary answers (as extra candidates are dropped)
            text = self.fallback(move, history, statements or user_text, settings.seed)
            return self._planned(text, move, user_text, True, 0, [])
        messages = self.messages_for(move, history, user_text)
        earlier = [m["content"] for m in history if m.get("role") == "assistant"]
        said = " ".join([*(m["content"] for m in history if m.get("role") == "user"), user_text])
        judged: list[_Candidate] = []
        tokens = 0
        sampled = self._sample(messages, settings)
        try:
            for i, cand_settings, pieces in sampled:
                tokens += len(pieces)
                cand = self._judge(i, cand_settings.seed, "".join(pieces), move, user_text, earlier, said)
                judged.append(cand)
                if cand.passed and (cand.ideal or self.trained):
                    break  # good enough: save the CPU the remaining candidates
        finally:
            sampled.close()
        passing = [c for c in judged if c.passed]
        public = [c.public() for c in judged]
        if passing:
            best = max(passing, key=lambda c: (c.score, -c.index))
            return PlannedReply(best.text, move, best.segments, False, tokens, public, best.rail)
        text = self.fallback(move, history, statements or user_text, settings.seed)
        return self._planned(text, move, user_text, True, tokens, public)

    def _planned(self, text, move, user_text, fallback, tokens, public) -> PlannedReply:
        parts = self.coder.code_all(text, user_text)
        return PlannedReply(text, move, parts, fallback, tokens, public, self._rail(text))

    # -- candidates ------------------------------------------------------------------------
    def _sample(self, messages: list[Message], settings: GenerationSettings) -> Generator[tuple]:
        """(index, settings, pieces) of each candidate, in order.

        A model that decodes several replies together (`slots` > 1) gets every candidate at once:
        they share the prompt's cache and one batch, so three cost little more than one. Judged in
        order with the same early stop, the chosen reply is the one sequential sampling gives.
        """
        plans = [(i, self._candidate_settings(settings, i)) for i in range(self.candidate_count())]
        # the trained model's first reply mostly passes: the others only when it does not
        if getattr(self.model, "slots", 1) < 2 or len(plans) < 2 or self.trained:
            for i, cand_settings in plans:
                yield i, cand_settings, list(self.model.stream(messages, cand_settings))
            return
        done = threading.Event()  # the caller has what it needs: the others stop at their next piece
        results: list[list[str] | BaseException] = [[] for _ in plans]

        def collect(slot: int, cand_settings: GenerationSettings) -> None:
            stream = self.model.stream(messages, cand_settings)
            out = results[slot]
            try:
                for piece in stream:
                    if done.is_set():
                        break
                    out.append(piece)  # type: ignore[union-attr]
            except BaseException as exc:  # re-raised in the caller's thread, in order
                results[slot] = exc
            finally:
                stream.close()  # type: ignore[attr-defined]

        # each thread runs in a copy of this context, so the person's Stop reaches its stream
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(collect, i, cs), daemon=True)
            for i, cs in plans
        ]
        for thread in threads:
            thread.start()
        try:
            for (i, cand_settings), thread in zip(plans, threads):
                thread.join()
                result = results[i]
                if isinstance(result, BaseException):
                    raise result
                yield i, cand_settings, result
        finally:
            done.set()

    def in_flight(self) -> int | None:
        """Model requests running or waiting, or None for a backend that reports no load."""
        load = getattr(self.model, "load", None)
        if not callable(load):
            return None
        active, waiting = load()
        return active + waiting

    def busy(self) -> bool:
        """At least `busy_summaries_at` model requests in flight (backends that report no load: never)."""
        in_flight = self.in_flight()
        return in_flight is not None and in_flight >= self.busy_summaries_at

    def candidate_count(self) -> int:
        """`candidates` when the model has room for them; one when other people's replies would wait.

        Extra candidates only raise the odds that the model, not the echo, writes this reply; under
        load they would make everyone else wait, so each reply then gets one try and the echo as
        its net. Backends that report no load always get every candidate.
        """
        in_flight = self.in_flight() if self.candidates >= 2 else None
        if in_flight is None:
            return self.candidates
        slots = getattr(self.model, "slots", 1)
        needed = self.candidates if slots > 1 else 1  # one slot: candidates run one after another
        return self.candidates if in_flight + needed <= slots else 1

    def _candidate_settings(self, settings: GenerationSettings, i: int) -> GenerationSettings:
        seed = None if settings.seed is None else settings.seed * 1009 + i
        changes: dict[str, object] = dict(
            seed=seed,
            max_new_tokens=min(settings.max_new_tokens, self.max_new_tokens),
            stop=tuple(dict.fromkeys(("\n", *settings.stop))),
        )
        if self.trained:
            changes.update(repetition_penalty=TRAINED_FIRST["repetition_penalty"])
            if i == 0:
                changes.update(do_sample=TRAINED_FIRST["do_sample"])
        if i > 0:  # later candidates must differ from the first: sample them
            changes.update(do_sample=True, temperature=max(settings.temperature, 0.7))
        return settings.with_(**changes)

    def trim(self, raw: str) -> tuple[str, bool]:
        """Keep the sentences before the first that breaks a rule; stop after one question."""
        text = tidy(raw)
        sentences = coder_rules.split_sentences(text)
        if len(sentences) > 1 and not re.search(r"[.!?\u2026][\"')]*$", sentences[-1]):
            sentences = sentences[:-1]  # cut off mid-sentence by the token limit
        kept: list[str] = []
        if len(sentences) > 1 and self._sentence_breaks_rules(sentences[0]):
            sentences = sentences[1:]  # a bad opener ("Don't worry.") may hide a good reflection
        for sentence in sentences[:MAX_SENTENCES]:
            if self._sentence_breaks_rules(sentence) or restates(sentence, " ".join(kept)):
                break
            kept.append(sentence)
            if sentence.rstrip().endswith("?"):
                break
        out = " ".join(kept)
        return out, out != text

    def _sentence_breaks_rules(self, sentence: str) -> bool:
        r = coder_rules.load_rules()
        return bool(
            coder_rules.advice_hit(sentence, r)
            or self.rules.any("self_claims", sentence)
            or self.rules.any("dismissive", sentence)
            or self.rules.any("not_a_reply", sentence)
        )

    def _judge(self, index, seed, raw, move, user_text, earlier, said=None) -> _Candidate:
        text, trimmed = self.trim(raw)
        sentences = coder_rules.split_sentences(text)
        parts = self.coder.code_all(text, user_text) if text else []
        primary = primary_code(parts) if parts else None
        questions = [p for p in parts if p.code == "question"]
        rail = self._rail(text) if text else None
        checks = {
            "not_empty": bool(text.strip()),
            "complete": bool(re.search(r"[.!?\u2026][\"')]*$", text)),
            "sentences_1_3": 1 <= len(sentences) <= MAX_SENTENCES,
            "one_question_max": len(questions) <= 1,
            "no_advice": not any(p.code == "advice" for p in parts) and not coder_rules.is_diagnosis(text),
            "no_self_claims": not self.rules.any("self_claims", text),
            "not_dismissive": not self.rules.any("dismissive", text),
            "not_repeat": bool(text) and not is_repeat(text, earlier) and not repeats_itself(text),
            "fits_move": primary is not None
            and primary.code in (TRAINED_MOVE_FITS if self.trained else MOVE_FITS)[move]
            and (move != "question" or len(questions) == 1),
            "safe": bool(text) and (rail is None or rail.ok),
        }
        if move != RESPOND:  # "hi" -> "Hello, what's on your mind?" shares no word and says no "you"
            checks["on_topic"] = bool(text) and self._on_topic(text, user_text, said)
        if not self.trained:
            # Reflections, questions and affirmations are about the person: they say "you".
            # (A trained reflection may not: "Running on empty after a day that long.")
            checks["addresses_person"] = bool(SECOND_PERSON.search(text))
            # The untrained model invents people and events; a trained reflection rightly uses
            # new words (78% of the corpus's hand-written reflections are above MAX_NOVELTY).
            checks["grounded"] = novelty(text, said or user_text, self.rules) <= MAX_NOVELTY
        score, ideal = self._score(move, primary, parts, text, user_text)
        return _Candidate(index, seed, text, trimmed, primary, checks, score, ideal, parts, rail)

    def _score(self, move, primary, parts, text, user_text) -> tuple[float, bool]:
        if primary is None:
            return 0.0, False
        codes = {(p.code, p.subtype) for p in parts}
        complex_r = ("reflection", "complex") in codes or ("summary", None) in codes
        open_q = ("question", "open") in codes
        has_r = any(c == "reflection" for c, _ in codes)
        ideal = {
            "reflect": primary.code == "reflection" and complex_r,
            "question": open_q and has_r,
            "affirm": primary.code == "affirmation",
            "summarize": primary.code == "summary",
            RESPOND: primary.code != "advice",
        }[move]
        overlap = len(content_words(text) & content_words(user_text))
        score = 2.0 * ideal + 1.0 * complex_r + 0.5 * open_q + 0.2 * primary.confidence
        return score + 0.1 * min(overlap, 3), ideal

    def _on_topic(self, text: str, user_text: str, said: str | None = None) -> bool:
        # "yeah, exactly" mid-conversation: the reply may rightly take up what was said before
        if content_words(text) & content_words(f"{user_text} {said or ''}"):
            return True
        import numpy as np

        a, b = self._embedder()([text, user_text])
        return float(np.dot(a, b)) >= (TRAINED_ON_TOPIC_COSINE if self.trained else ON_TOPIC_COSINE)

    def _embedder(self) -> Callable:
        if self._embed_fn is not None:
            return self._embed_fn
        from safety import embeddings

        return embeddings.embed

    def _rail(self, text: str) -> ReplyCheck | None:
        """The output rail's verdict, run once per text; None without a rail."""
        if self.reply_check is None:
            return None
        try:
            return self.reply_check(text)
        except Exception as exc:  # a failing rail must not let a candidate through
            return ReplyCheck(ok=False, reason="error", evidence=(f"error:{type(exc).__name__}",))

    # -- fallback --------------------------------------------------------------------------
    def fallback(self, move: str, history: Sequence[Message], user_text: str, seed: int | None) -> str:
        """A reflection from the person's own words (plus an open question or a summary by move)."""
        earlier = [m["content"] for m in history if m.get("role") == "assistant"]
        key = f"{seed}|{user_text}"
        if move == "summarize":
            users = [m["content"] for m in history if m.get("role") == "user"] + [user_text]
            said = [s for s in (read_message(u, self.rules)[1] for u in users) if s][-3:]
            items = [echo(u, self.rules, max_words=12)[0] for u in said]
            items = list(dict.fromkeys(i for i in items if i))
            joined = items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", and " + items[-1]
            text = self.prompts["summarize"].messages["fallback"].format(items=joined)
            if not is_repeat(text, earlier):
                return text
        reflection = self._fallback_reflection(user_text, key, earlier)
        if move != "question":
            return reflection
        asked = " ".join(earlier).lower()
        pool = list(self.prompts["question"].messages.values())
        questions = [q for q in pool if q.lower() not in asked] or pool
        return f"{reflection} {questions[_stable_index(key, len(questions))]}"

    def respond(
        self,
        kind: DirectKind,
        history: Sequence[Message],
        statements: str,
        seed: int | None,
        said: str = "",
    ) -> str:
        """The fixed answer for this kind (prompts/respond.yaml), not one said just before.
        The variant depends on the seed and the person's words, like the fallback's."""
        earlier = [m["content"] for m in history if m.get("role") == "assistant"]
        key = f"{seed}|{kind.kind}|{said or statements}"
        with_reflection = kind.reflect_statements and bool(statements)
        reflection = self._fallback_reflection(statements, key, earlier) if with_reflection else ""
        pool = self._respond_texts(kind, with_reflection)
        start = _stable_index(key, len(pool))
        for step in range(len(pool)):
            text = pool[(start + step) % len(pool)].format(reflection=reflection).strip()
            if not is_repeat(text, earlier):
                return text
        return text

    def _respond_texts(self, kind: DirectKind, with_reflection: bool) -> list[str]:
        name = f"{kind.kind}_with" if with_reflection else kind.kind
        return [v for k, v in self.prompts[RESPOND].messages.items() if re.fullmatch(rf"{name}_\d+", k)]

    def _fallback_reflection(self, user_text: str, key: str, earlier: Sequence[str]) -> str:
        meaning = meaning_for(user_text, self.rules)
        clause, _ = echo(user_text, self.rules, SHORT_ECHO_WORDS if meaning else ECHO_MAX_WORDS)
        templates = [
            v for k, v in self.prompts["reflect"].messages.items() if k.startswith("meaning" if meaning else "plain")
        ]
        start = _stable_index(key, len(templates))
        for step in range(len(templates)):
            text = templates[(start + step) % len(templates)].format(echo=clause, meaning=meaning)
            text = text[:1].upper() + text[1:]
            if not is_repeat(text, earlier):
                return text
        return text
