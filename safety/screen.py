"""SafetyScreen: rules first, then conversation-level risk, then a learned layer. Fails closed.

The learned layers: the fine-tuned crisis classifier (safety/classifier.py, when its model ships in
safety/models/crisis) routes on its own when sure; the nearest curated examples (safety/semantic.py)
route only where the classifier is not sure the message is calm (all of them without a classifier).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import TYPE_CHECKING

from .normalize import normalize
from .output_rail import check_reply as _check_reply
from .risk import ConversationRisk, accumulated_score
from .rules import Hit, RuleSet, load_rules, match
from .types import Assessment, ReplyCheck, failed_closed

if TYPE_CHECKING:  # the learned layers import the embedder stack; load them only when used
    from .classifier import CrisisClassifier
    from .semantic import SemanticLayer

log = logging.getLogger("safety")

# Tie-break between categories of equal severity: the most time-critical first.
CATEGORY_PRIORITY = ("medical_emergency", "suicide", "self_harm", "harm_to_others", "abuse", "eating_disorder")
LEARNED_SEVERITY = 2  # the classifier gives no severity; a moderate one, as a nearest example would
ROUTE_SCORE = 4.0  # accumulated signal score that routes a signal-bearing message
# The time budget covers this many characters; longer text gets proportionally more, because
# screening is linear in length and a long message must still be screened in full, not failed closed.
BUDGET_CHARS = 4000
CONTEXT_FAMILIES = ("stressor", "distress", "hopeless", "ending", "burden", "goodbye", "giving_away")
# Eating-disorder build-up: a restriction figure plus a body warning sign (this turn or earlier ones).
ED_FAMILIES = ("ed_restrict", "ed_body")
# A markup tag after normalisation ("<|end|>" reads "<lendl>": "|" is leetspeak for "l").
_MARKUP = re.compile(r"</?[a-z_|]+>")


class SafetyScreen:
    """Loads YAML rules now and the semantic layer lazily; stateless per call, safe to share."""

    def __init__(self, semantic: bool = True, timeout_s: float = 2.0, classifier: bool | None = None) -> None:
        """semantic=False: rules only. classifier=None: the classifier if its model ships, else nearest examples."""
        from .classifier import model_available

        self.timeout_s = timeout_s
        self.rules: RuleSet = load_rules()
        self.use_semantic = semantic
        self.use_classifier = semantic and (model_available() if classifier is None else classifier)
        self._semantic: SemanticLayer | None = None  # built on first use
        self._classifier: CrisisClassifier | None = None
        # calibration only: every learned layer runs and says in the evidence what it would do, none routes
        self.observing = False
        self._pool: ThreadPoolExecutor | None = None

    # ---- layers (separate methods so tests can make one fail) ----
    def _rule_hits(self, normalized: str) -> list[Hit]:
        return match(normalized, self.rules)

    def classifier(self) -> CrisisClassifier:
        if self._classifier is None:
            from .classifier import default_classifier

            self._classifier = default_classifier()
        return self._classifier

    def _load_learned_layer(self) -> None:
        if self.use_classifier:
            self.classifier()
        self.semantic_layer()

    def semantic_layer(self) -> SemanticLayer:
        if self._semantic is None:
            from .semantic import SemanticLayer

            self._semantic = SemanticLayer.load()
        return self._semantic

    def warm_up(self) -> None:
        """Load the embedder and example index now instead of on the first message."""
        if self.use_classifier:
            self.classifier().scores(["warm up"])
        if self.use_semantic:
            self.semantic_layer().classify("warm up", careful=False, suppressed=False)

    def _semantic_verdict(
        self,
        normalized: str,
        careful: bool,
        suppressed: bool,
        deadline: float,
        strong_only: bool = False,
        no_classifier: bool = False,
    ):
        layer = self.semantic_layer()
        return self._within(deadline, layer.classify, normalized, careful, suppressed, strong_only, no_classifier)

    def _within(self, deadline: float, fn, *args):
        """Run a learned layer in the screen's pool and give up (fail closed) at the deadline."""
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError("no time left for the learned layer")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="safety-learned")
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=remaining)
        except FutureTimeout as exc:
            raise TimeoutError("learned layer timed out") from exc

    def _classifier_verdict(
        self, plain: str, risk: ConversationRisk | None, raised_bar: bool, deadline: float
    ) -> Assessment:
        classifier = self.classifier()
        scores = self._within(deadline, classifier.scores, [plain])[0]
        category, probability = scores.top()
        earlier = risk.learned_scores[-2:] if risk is not None else []
        routes = classifier.routes(probability, earlier, careful=bool(risk and risk.careful_mode), raised=raised_bar)
        # kept when not routed too: calibration and explanations read them (numbers and ids, no text)
        evidence = (f"classifier:{category}:{probability:.2f}", *(("bar:raised",) if raised_bar else ()))
        if routes == "window":
            evidence += (f"context:classifier_window:{probability + sum(earlier):.2f}",)
        return Assessment(
            route=routes is not None,
            category=category if routes else None,
            severity=LEARNED_SEVERITY if routes else 0,
            subject=("other" if scores.subject_other >= 0.5 else "self") if routes else "self",
            evidence=evidence,
            learned_score=round(probability, 4),
        )

    # ---- public API ----
    def assess_message(
        self, text: str, history: Sequence[str] = (), risk: ConversationRisk | None = None
    ) -> Assessment:
        try:
            if risk is None and history:
                risk = self._replay(history)
            assessment = self._assess(text, risk)
        except Exception as exc:  # fail closed: never pass an unscreened message on
            log.warning("safety screen failed closed: %s", type(exc).__name__)
            assessment = failed_closed(exc)
        if risk is not None:
            try:
                risk.update(assessment)
            except Exception as exc:
                log.warning("risk update failed: %s", type(exc).__name__)
                risk.careful_mode = True
        return assessment

    def check_reply(self, reply: str, user_text: str = "") -> ReplyCheck:
        """The output rail with this screen's rules; `user_text` is part of the engine's protocol,
        the rail reads the reply alone."""
        try:
            return _check_reply(reply, self.rules)
        except Exception as exc:
            log.warning("output rail failed closed: %s", type(exc).__name__)
            return ReplyCheck(ok=False, reason="error", evidence=(f"error:{type(exc).__name__}",))

    # ---- internals ----
    def _replay(self, history: Sequence[str]) -> ConversationRisk:
        """Rebuild conversation risk from earlier messages (rules only: cheap, deterministic)."""
        risk = ConversationRisk()
        for earlier in history:
            risk.update(self._assess(earlier, risk, semantic=False))
        return risk

    def _assess(self, text: str, risk: ConversationRisk | None, semantic: bool | None = None) -> Assessment:
        if not isinstance(text, str):
            raise TypeError("message text must be a string")
        use_semantic = self.use_semantic if semantic is None else semantic
        if use_semantic:
            self._load_learned_layer()  # one-time load, outside the per-message time budget
        normalized = normalize(text)
        budget = self.timeout_s * max(1.0, len(normalized) / BUDGET_CHARS)
        # The rules are judged by the CPU time they used, not the wall clock, so a busy machine
        # never turns an ordinary message into a crisis reply; a runaway pattern still fails closed.
        cpu_start = time.thread_time()
        hits = self._rule_hits(normalized)
        if time.thread_time() - cpu_start > budget:
            raise TimeoutError("rule layer exceeded the time budget")
        deadline = time.perf_counter() + budget  # the learned layers' wall-clock budget starts now
        counted = [h for h in hits if h.suppressed_by is None]
        crisis = [h.rule for h in counted if h.rule.kind == "crisis"]
        signals = tuple(h.rule.id for h in counted if h.rule.kind == "signal")
        suppressed = tuple(f"{h.rule.id}~{h.suppressed_by}" for h in hits if h.suppressed_by)

        if crisis:
            return _from_rules(crisis, signals, suppressed)

        # "yeah" right after a crisis reply answers its safety question: route again, same category.
        answered = risk.last_routed if risk is not None and risk.just_routed() else None
        if answered is not None and self.rules.affirmative_answer.search(_answer_words(normalized)):
            return Assessment(
                route=True,
                category=answered.category or "suicide",
                severity=max(answered.severity, 1),
                subject=answered.subject,
                evidence=("context:yes_to_safety_question", *suppressed),
                signals=signals,
            )

        careful = bool(risk and risk.careful_mode)
        families = {s.split(".", 1)[0] for s in signals}
        earlier = dict(risk.signal_counts) if risk else {}
        earlier_families = {s.split(".", 1)[0] for s in earlier}

        # Method-seeking phrased as a plain question routes after a stressor or distress.
        if "method_ambiguous" in families and (
            families & set(CONTEXT_FAMILIES) or earlier_families & set(CONTEXT_FAMILIES) or careful
        ):
            return _routed("suicide", 3, ("context:method_after_stressor", *signals), signals, suppressed)

        # Eating disorder across turns: a body warning sign (fainting, periods stopping) with a
        # restriction figure said now or earlier, or the reverse.
        if families & set(ED_FAMILIES) and {"ed_restrict", "ed_body"} <= (families | earlier_families):
            return _routed("eating_disorder", 4, ("context:restriction_with_body_sign", *signals), signals, suppressed)

        # Build-up across turns: hopelessness, giving things away, "I want it to be over".
        risky_now = families - {"retraction", "stressor", *ED_FAMILIES}
        if risky_now:
            combined = dict(earlier)
            for s in signals:
                combined[s] = combined.get(s, 0) + 1
            score = accumulated_score(combined)
            ends_or_farewell = risky_now & {"ending", "goodbye", "giving_away", "burden"}
            farewell_before = bool({"goodbye", "giving_away"} & (families | earlier_families))
            # A farewell act (giving away, handing over) after burden or ending talk, in either order.
            ending_before = bool({"ending", "burden"} & earlier_families)
            if (
                score >= ROUTE_SCORE
                or (careful and ends_or_farewell)
                or (farewell_before and risky_now & {"ending", "burden"})
                or (ending_before and risky_now & {"goodbye", "giving_away"})
            ):
                return _routed("suicide", 1, (f"context:accumulated:{score:.1f}", *signals), signals, suppressed)

        if use_semantic:
            # Explicit negation/fiction/past evidence in the message raises the semantic bar.
            resolved = self.rules.past.search(normalized) and not self.rules.current.search(normalized)
            framed = self.rules.fiction.search(normalized) and not self.rules.roleplay.search(normalized)
            accident = self.rules.accident.search(normalized)
            # An idiom ("mum is going to kill me when she sees") or a plain dose question also raises the bar.
            idiom = self.rules.idioms.search(normalized) or self.rules.dose_question.search(normalized)
            negated = any(s.endswith("~negated") for s in suppressed)
            # A negation anywhere ("I don't want to die, I just...") also keeps the classifier out.
            has_negation = self.rules.negation.search(normalized) is not None
            # Idioms are removed before embedding too, so "kill the weeds" is not compared as "kill";
            # so are markup tags ("<|system|>", "</b>"), which the encoders read as noise, not words.
            plain = _MARKUP.sub(" ", self.rules.idioms.sub(" ", normalized)).strip() or normalized
            raised_bar = bool(suppressed or resolved or framed or accident or idiom)
            learned: Assessment | None = None
            if self.use_classifier:
                learned = self._classifier_verdict(plain, risk, raised_bar or negated, deadline)
                if learned.route and not self.observing:
                    return replace(learned, evidence=(*learned.evidence, *suppressed), signals=signals)
            # With the classifier, the nearest examples speak only where it is not sure the message is calm.
            consult_examples = (
                learned is None
                or self.observing
                or (learned.learned_score or 0.0) >= self.classifier().route.examples_floor
            )
            verdict = None
            if consult_examples:
                verdict = self._semantic_verdict(
                    plain, careful, raised_bar, deadline, strong_only=negated, no_classifier=has_negation
                )
            if verdict is not None and not self.observing:
                return Assessment(
                    route=True,
                    category=verdict.category,
                    severity=verdict.severity,
                    subject=verdict.subject,
                    evidence=(
                        f"example:{verdict.example_id}",
                        f"sim:{verdict.similarity:.2f}",
                        *((f"classifier:{verdict.probability:.2f}",) if verdict.via == "classifier" else ()),
                        *(learned.evidence if learned is not None else ()),
                        *suppressed,
                    ),
                    signals=signals,
                    learned_score=learned.learned_score if learned is not None else None,
                )
            if learned is not None:
                observed = ("examples:would_route",) if verdict is not None else ()
                return replace(
                    learned,
                    route=False,
                    category=None,
                    severity=0,
                    subject="self",
                    evidence=(*learned.evidence, *observed, *suppressed),
                    signals=signals,
                )
        return Assessment(route=False, category=None, severity=0, subject="self", evidence=suppressed, signals=signals)


def _answer_words(normalized: str) -> str:
    """'yeah...' / 'kinda 😔' / 'yes.' -> 'yeah' / 'kinda' / 'yes'."""
    return re.sub(r"[^\w' ]+", " ", normalized).strip()


def _routed(category: str, severity: int, evidence: tuple[str, ...], signals, suppressed) -> Assessment:
    return Assessment(
        route=True,
        category=category,
        severity=severity,
        subject="self",
        evidence=(*evidence, *suppressed),
        signals=tuple(signals),
    )


def _from_rules(crisis, signals: tuple[str, ...], suppressed: tuple[str, ...]) -> Assessment:
    """The person's own crisis outranks a third party's; then severity; then time-criticality."""

    def rank(rule):
        return (
            rule.subject == "self",
            rule.severity,
            -CATEGORY_PRIORITY.index(rule.category),
        )

    best = max(crisis, key=rank)
    immediate = any(r.immediate for r in crisis if r.subject == best.subject)
    return Assessment(
        route=True,
        category=best.category,
        severity=max(r.severity for r in crisis if r.category == best.category and r.subject == best.subject),
        subject=best.subject,
        evidence=tuple(dict.fromkeys(r.id for r in sorted(crisis, key=rank, reverse=True))) + suppressed,
        immediate_danger=immediate,
        signals=signals,
    )
