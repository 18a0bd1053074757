"""Bounded load test: simulated people chat with the web app over gradio_client, on 127.0.0.1.

    python -m evals.loadtest [--users 16] [--duration 60] [--messages 3] [--model embedded|scripted]

The app (app.build_app over a Listener) is served in this process on a free loopback port. Each
simulated person has their own gradio_client session and sends a few messages, each carrying a
made-up marker word of their own, until the duration is up; replies still in flight then get at
most --drain seconds, and the run ends by itself. It reports errors (must be zero), queue waits
and reply-latency percentiles, and whether any session ever saw another session's marker. No
traffic goes anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from evals.scorers import percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HOST = "127.0.0.1"  # the only address this script ever talks to
POLL_S = 0.05  # how often each simulated person checks their reply (sets timing resolution)
# Everyday messages; {m} is the person's marker word. Never crisis language: crisis replies are
# fixed text and would not exercise the model.
MESSAGES = (
    "I've been thinking about {m} all week and it keeps me up at night.",
    "Things with {m} got harder today, and I don't know what to do.",
    "Talking about {m} helps a bit. I still feel tense though.",
    "I keep wondering whether {m} will ever change.",
    "My sister says I should let {m} go, but it's not that simple.",
)
# One uncommon first name per simulated person: none contains another, and real names (unlike
# made-up words, which the semantic screen often took for crisis language) keep the model busy.
NAMES = (
    "Aurelio",
    "Benedetta",
    "Cosimo",
    "Dagny",
    "Evander",
    "Fenella",
    "Gideon",
    "Honoria",
    "Ignatius",
    "Jocasta",
    "Leopold",
    "Marisol",
    "Norberto",
    "Ottilie",
    "Peregrine",
    "Rosalind",
    "Solveig",
    "Thaddeus",
    "Ulrika",
    "Wilhelmina",
)
MARKER = re.compile(r"\b(?:" + "|".join(NAMES) + r")\b")
PERCENTILES = (50, 90, 95, 99)
_STARTED = {"PROCESSING", "ITERATING", "PROGRESS", "FINISHED"}  # gradio_client Status names


# -- a fast stand-in model -----------------------------------------------------------------------
class EchoModel:
    """Scripted backend for quick runs: names every marker in the context it was given, so a
    history mixed up between sessions shows in the reply. Sleeps per word like a slow model."""

    def __init__(self, word_delay_s: float = 0.03) -> None:
        from chatbot.models import ModelIdentity

        self.identity = ModelIdentity(backend="scripted", name="echo", context_window=4096)
        self.word_delay_s = word_delay_s

    def stream(self, messages, settings) -> Iterator[str]:
        seen = sorted({m for msg in messages if msg["role"] == "user" for m in MARKER.findall(msg["content"])})
        text = (
            f"It sounds like {' and '.join(seen) or 'this'} has been weighing on you. "
            "What feels hardest about it right now?"
        )
        for i, word in enumerate(text.split(" ")):
            time.sleep(self.word_delay_s)
            yield word if i == 0 else " " + word

    def count_tokens(self, messages) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)


# -- pure helpers --------------------------------------------------------------------------------
def make_markers(count: int, seed: int = 0) -> list[str]:
    """`count` distinct names from NAMES in a seeded order."""
    if count > len(NAMES):
        raise ValueError(f"at most {len(NAMES)} simulated users (one name each)")
    names = list(NAMES)
    random.Random(seed).shuffle(names)
    return names[:count]


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {"n": len(values)}
    for q in PERCENTILES:
        out[f"p{q}"] = round(percentile(values, q), 3) if values else None
    out["max"] = round(max(values), 3) if values else None
    return out


def foreign_markers(texts: Sequence[str], own: str, markers: Sequence[str]) -> list[str]:
    """Markers of other sessions that appear in this session's texts."""
    joined = "\n".join(texts)
    return sorted({m for m in markers if m != own and m in joined})


@dataclass
class MessageResult:
    user: int
    index: int
    sent_at_s: float  # since the run started
    queue_wait_s: float | None = None  # submitted -> the server started it (out of the queue)
    first_reply_s: float | None = None  # submitted -> the first piece of the reply on screen
    reply_s: float | None = None  # submitted -> reply complete
    max_queue_rank: int | None = None
    kind: str = "unknown"  # the server's turn kind: listening | crisis | replaced | model_error ...
    error: str | None = None
    foreign: list[str] = field(default_factory=list)


def summarize(results: Sequence[MessageResult], meta: dict) -> dict:
    """The report: counts, percentiles and the isolation check. Pure."""
    done = [r for r in results if r.reply_s is not None and r.error is None]
    failed = [r for r in results if r.error is not None]
    calm_failures = [r for r in done if r.kind in ("model_error", "model_missing", "unknown")]
    answered = [r for r in done if r.kind != "busy"]
    leaks = sorted({m for r in results for m in r.foreign})
    elapsed = meta.get("elapsed_s") or 0
    return {
        **meta,
        "sent": len(results),
        "completed": len(done),
        "errors": len(failed) + len(calm_failures),
        "error_details": sorted({r.error for r in failed if r.error} | {f"reply kind {r.kind}" for r in calm_failures}),
        "kinds": {k: sum(r.kind == k for r in results) for k in sorted({r.kind for r in results})},
        "cross_session_leaks": leaks,
        "busy": len(done) - len(answered),
        "replies_per_min": round(len(answered) / elapsed * 60, 2) if elapsed else None,
        "queue_wait_s": distribution([r.queue_wait_s for r in answered if r.queue_wait_s is not None]),
        "first_reply_s": distribution([r.first_reply_s for r in answered if r.first_reply_s is not None]),
        "reply_s": distribution([r.reply_s for r in answered if r.reply_s is not None]),
        "max_queue_rank": max((r.max_queue_rank for r in results if r.max_queue_rank is not None), default=None),
    }


def format_table(report: dict) -> str:
    rows = [f"{'measure':<26}{'n':>5}" + "".join(f"{f'p{q}':>9}" for q in PERCENTILES) + f"{'max':>9}"]
    measures = (
        ("queue_wait_s", "queue wait (s)"),
        ("first_reply_s", "first reply text (s)"),
        ("reply_s", "reply complete (s)"),
    )
    for key, label in measures:
        d = report[key]
        cells = "".join(f"{d[f'p{q}']:>9.2f}" if d[f"p{q}"] is not None else f"{'-':>9}" for q in PERCENTILES)
        top = f"{d['max']:>9.2f}" if d["max"] is not None else f"{'-':>9}"
        rows.append(f"{label:<26}{d['n']:>5}{cells}{top}")
    rows += [
        "",
        f"model {report['model']} ({report['backend']}, engine {report.get('engine')}), {report['users']} users, "
        f"{report['duration_s']} s of sending, run took {report['elapsed_s']:.1f} s",
        f"messages sent {report['sent']}, completed {report['completed']}, "
        f"errors {report['errors']}, busy notes {report.get('busy', 0)}, replies/min {report['replies_per_min']}, "
        f"max queue rank {report['max_queue_rank']}, peak memory {report.get('peak_memory_mib')} MiB",
        f"reply kinds: {report['kinds']}",
        f"cross-session leaks: {report['cross_session_leaks'] or 'none'}",
    ]
    probe = report.get("crisis_probe")
    if probe:
        rows.append(f"crisis message sent under load: fixed reply in {probe['reply_s']} s, error {probe['error']}")
    if report["error_details"]:
        rows.append(f"error details: {report['error_details']}")
    return "\n".join(rows)


# -- the app -------------------------------------------------------------------------------------
def build_listener(model: str, word_delay_s: float = 0.03, overrides: Sequence[str] = ()):
    from chatbot.config import load_config
    from chatbot.factory import build_listener as build

    if model == "embedded":
        config = load_config(overrides=list(overrides))
        return build(config), config
    config = load_config(overrides=["listening.pipeline=false", *overrides])
    from chatbot.backends.guarded import GuardedModel

    echo = GuardedModel(EchoModel(word_delay_s), config.model.timeout_s)
    return build(config, model=echo), config


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_app(listener, config, export_root: str):
    """Serve the app as `python app.py` does, but on a free loopback port, in this process:
    (demo, url); call demo.close() when done. The tests that drive the served app use it too."""
    import app

    demo = app.build_app(listener, config, export_root=export_root)
    demo.queue(default_concurrency_limit=config.app.concurrency_limit)
    port = free_port()
    demo.launch(
        server_name=HOST,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        pwa=False,
        show_error=False,
        mcp_server=False,
        **app.launch_options(),
    )
    return demo, f"http://{HOST}:{port}/"


def _texts(chat: list[dict]) -> list[tuple[str, str]]:
    """(role, text) for each chat message as gradio_client returns them."""
    out = []
    for message in chat or []:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        out.append((message.get("role", ""), str(content or "")))
    return out


class RecordingListener:
    """The listener, unchanged, but keeping each conversation it answers so the run can read the
    server's own turn kinds (crisis, replaced, model_error...) afterwards."""

    def __init__(self, listener) -> None:
        self.listener = listener
        self.conversations: list = []

    def __getattr__(self, name):
        return getattr(self.listener, name)

    def respond(self, conversation, raw_text, **options):
        # Recorded here, not in new_conversation: Gradio's State copies the session it is given.
        if not any(c is conversation for c in self.conversations):
            self.conversations.append(conversation)
        return self.listener.respond(conversation, raw_text, **options)  # stop, attempt


def label_kinds(results: Sequence[MessageResult], conversations, markers: Sequence[str]) -> None:
    """Give each result the kind of the server turn it produced (matched by marker and order).

    A busy note records no turn, so those messages are left out of the matching."""
    recorded: dict[int, list[MessageResult]] = {}
    for r in sorted(results, key=lambda r: (r.user, r.index)):
        if r.kind != "busy":
            recorded.setdefault(r.user, []).append(r)
    for conversation in conversations:
        names = {m for t in conversation.turns for m in MARKER.findall(t.user_text)}
        if len(names) != 1 or names & set(markers) != names:
            continue
        user = list(markers).index(names.pop())
        for result, turn in zip(recorded.get(user, []), conversation.turns):
            result.kind = turn.kind


# -- one simulated person ------------------------------------------------------------------------
@dataclass
class Plan:
    url: str
    users: int
    messages: int
    started: float  # time.monotonic() at the start of the run
    stop_sending: float  # no new message after this (monotonic)
    hard_stop: float  # nothing waits past this (monotonic)
    think_s: tuple[float, float]  # each pause is drawn uniformly from this range
    markers: list[str]
    fixed: dict[str, str]
    seed: int


def simulate_user(user: int, plan: Plan, results: list[MessageResult], lock: threading.Lock) -> None:
    from gradio_client import Client

    rng = random.Random(plan.seed * 1000 + user)
    marker = plan.markers[user]
    time.sleep(user * min(5.0, (plan.stop_sending - plan.started) / 4) / max(plan.users, 1))
    try:
        client = Client(plan.url, verbose=False)
    except Exception as exc:  # counted, never raised: the run must finish and report
        with lock:
            results.append(
                MessageResult(user, 0, time.monotonic() - plan.started, error=f"connect: {type(exc).__name__}")
            )
        return
    sent: list[str] = []
    templates = rng.sample(MESSAGES, k=min(plan.messages, len(MESSAGES)))
    for index, template in enumerate(templates):
        if time.monotonic() >= plan.stop_sending:
            break
        text = template.format(m=marker)
        sent.append(text)
        result, seen = send_one(client, text, user, index, plan)
        result.foreign = foreign_markers(seen, marker, plan.markers)
        with lock:
            results.append(result)
        if result.error is not None:
            break
        time.sleep(rng.uniform(*plan.think_s))
    with contextlib.suppress(Exception):
        client.close()


def send_one(client, text: str, user: int, index: int, plan: Plan) -> tuple[MessageResult, list[str]]:
    """Send one message and follow its stream; also returns every chat text this session saw."""
    from chatbot.webui.render import as_plain_text

    t0 = time.monotonic()
    result = MessageResult(user, index, round(t0 - plan.started, 3))
    job = client.submit(text, api_name="/send")
    seen_outputs = 0
    texts_seen: list[str] = []
    while not job.done():
        if time.monotonic() > plan.hard_stop:
            job.cancel()
            result.error = "unfinished at the hard stop"
            return result, texts_seen
        status = job.status()
        if status.rank is not None:
            result.max_queue_rank = max(result.max_queue_rank or 0, status.rank + 1)
        if result.queue_wait_s is None and status.code.name in _STARTED:
            result.queue_wait_s = round(time.monotonic() - t0, 4)
        outputs = job.outputs()
        for out in outputs[seen_outputs:]:
            now = time.monotonic() - t0
            if result.queue_wait_s is None:  # started and yielded between two polls
                result.queue_wait_s = round(now, 4)
            chat = _texts(out[1]) if isinstance(out, list | tuple) and len(out) > 1 else []
            texts_seen += [t for _, t in chat]
            if (
                result.first_reply_s is None
                and len(chat) >= 2
                and chat[-1][0] == "assistant"
                and chat[-2] == ("user", as_plain_text(text))
            ):
                result.first_reply_s = round(now, 4)
        seen_outputs = len(outputs)
        time.sleep(POLL_S)
    try:
        final = job.result(timeout=max(1.0, plan.hard_stop - time.monotonic()))
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {str(exc)[:120]}"
        return result, texts_seen
    result.reply_s = round(time.monotonic() - t0, 4)
    chat = _texts(final[1])
    texts_seen += [t for _, t in chat]
    if result.queue_wait_s is None:  # the whole reply came back between two polls
        result.queue_wait_s = result.first_reply_s = result.reply_s
    result.first_reply_s = result.first_reply_s or result.reply_s
    own = [t for role, t in chat if role == "user"]
    if chat and chat[-1] == ("assistant", as_plain_text(plan.fixed["busy"])):
        result.kind = "busy"  # the calm note past app.max_waiting: counted apart, not an error
    elif not own or own[-1] != as_plain_text(text):
        result.error = "the chat does not end with this message"
    elif chat[-1][0] != "assistant" or not chat[-1][1].strip():
        result.error = "no reply after this message"
    return result, texts_seen


CRISIS_PROBE = "I want to kill myself tonight."


def crisis_probe(plan: Plan) -> dict:
    """A crisis message sent by one more person while the others are being answered: how long its
    fixed reply takes to reach the page, and how many people were mid-reply at that moment."""
    from gradio_client import Client

    client = Client(plan.url, verbose=False)
    try:
        result, _ = send_one(client, CRISIS_PROBE, plan.users, 0, plan)
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return {"reply_s": result.reply_s, "first_reply_s": result.first_reply_s, "error": result.error}


# -- the run -------------------------------------------------------------------------------------
def run_loadtest(
    users: int = 16,
    duration_s: float = 60.0,
    messages: int = 3,
    model: str = "embedded",
    think_s: tuple[float, float] = (1.5, 4.5),
    drain_s: float = 180.0,
    word_delay_s: float = 0.03,
    seed: int = 0,
    crisis_probe_at_s: float | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    listener, config = build_listener(model, word_delay_s, overrides)
    if listener.model is None:
        raise SystemExit(f"the model did not load: {listener.model_problem}")
    listener = RecordingListener(listener)
    markers = make_markers(users, seed)
    with tempfile.TemporaryDirectory(prefix="loadtest-exports-") as exports:
        demo, url = start_app(listener, config, exports)
        try:
            assert url.startswith(f"http://{HOST}:"), url
            started = time.monotonic()
            plan = Plan(
                url=url,
                users=users,
                messages=messages,
                started=started,
                stop_sending=started + duration_s,
                hard_stop=started + duration_s + drain_s,
                think_s=think_s,
                markers=markers,
                fixed=listener.fixed,
                seed=seed,
            )
            results: list[MessageResult] = []
            lock = threading.Lock()
            threads = [
                threading.Thread(target=simulate_user, args=(u, plan, results, lock), name=f"user-{u}", daemon=True)
                for u in range(users)
            ]
            for t in threads:
                t.start()
            probe = None
            if crisis_probe_at_s is not None:
                time.sleep(max(0.0, started + crisis_probe_at_s - time.monotonic()))
                probe = crisis_probe(plan)
            for t in threads:
                t.join(max(0.0, plan.hard_stop + 10 - time.monotonic()))
            elapsed = time.monotonic() - started
        finally:
            demo.close()
    meta = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "backend": listener.model.identity.as_dict()["backend"],
        "model_name": listener.model.identity.name,
        "users": users,
        "duration_s": duration_s,
        "messages_per_user": messages,
        "think_s": list(think_s),
        "drain_s": drain_s,
        "concurrency_limit": config.app.concurrency_limit,
        "overrides": list(overrides),
        "engine": listener.model.identity.extra.get("engine", "torch"),
        "semantic_screen": config.safety.semantic,
        "elapsed_s": round(elapsed, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        # the app is served in this process: its peak resident memory is this process's
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "crisis_probe": probe,
    }
    label_kinds(results, listener.conversations, markers)
    report = summarize(results, meta)
    report["messages"] = [asdict(r) for r in sorted(results, key=lambda r: (r.user, r.index))]
    return report


def think_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or MIN-MAX range: {text!r}") from None
    if bounds[0] < 0 or bounds[0] > bounds[1]:
        raise argparse.ArgumentTypeError(f"need 0 <= MIN <= MAX: {text!r}")
    return bounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--messages", type=int, default=3, help="at most this many per user")
    parser.add_argument("--model", choices=["embedded", "scripted"], default="embedded")
    parser.add_argument(
        "--think",
        type=think_range,
        default=(1.5, 4.5),
        help="pause between a person's messages, s: MIN-MAX or one value",
    )
    parser.add_argument("--crisis-probe", type=float, default=None, help="send a crisis message this many s in")
    parser.add_argument(
        "--drain", type=float, default=180.0, help="longest wait for replies in flight after --duration"
    )
    parser.add_argument("--word-delay", type=float, default=0.03, help="scripted model only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--out", default="runs/loadtest", help="folder for the JSON report")
    args = parser.parse_args(argv)
    if args.users < 1 or args.messages < 1 or args.duration <= 0:
        parser.error("--users, --messages and --duration must be positive")
    if args.users > len(NAMES):
        parser.error(f"--users: at most {len(NAMES)} (one marker name each)")
    report = run_loadtest(
        args.users,
        args.duration,
        args.messages,
        args.model,
        args.think,
        args.drain,
        args.word_delay,
        args.seed,
        args.crisis_probe,
        args.set,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"loadtest-{args.model}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_table(report))
    print(f"\nreport: {path}")
    return 0 if report["errors"] == 0 and not report["cross_session_leaks"] else 1


if __name__ == "__main__":
    sys.exit(main())
