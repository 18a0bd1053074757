"""Speed and memory of the embedded model on this machine: `python -m evals bench`.

Every figure is a median of --runs repetitions, and every speed-up is a ratio against the
baseline (plain `model.generate` in float32 with default settings) measured in the same run.
llama.cpp (`pip install llama-cpp-python`, not part of CI) is the reference when installed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.scorers import percentile

if TYPE_CHECKING:  # the listener's model stack loads only when its benchmark runs
    from chatbot.engine import Listener

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# Six exchanges before the message being answered: the conversation length the issue asks about.
CONVERSATION = [
    (
        "I've been feeling really overwhelmed at work and I can't sleep.",
        "It sounds like work has been taking more than you have, and it follows you into the night.",
    ),
    (
        "My manager keeps adding projects and I never say no.",
        "Saying yes keeps the peace, and it also leaves you carrying far too much.",
    ),
    ("I guess I'm scared they'll think I can't handle it.", "Being seen as capable matters a lot to you."),
    ("Yeah. My dad always said you never complain at work.", "Some of that pressure goes back a long way."),
    ("I lie awake going over my to-do list.", "Your mind keeps working long after the day is over."),
    ("Last night I got maybe four hours.", "Four hours, on top of everything else; no wonder you're worn down."),
]
LAST_MESSAGE = "I don't know how much longer I can keep this pace."


def conversation_messages(system: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}]
    for user, bot in CONVERSATION:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": bot}]
    messages.append({"role": "user", "content": LAST_MESSAGE})
    return messages


@dataclass
class Variant:
    name: str
    ttft_s: float
    decode_tok_s: float
    tokens: int
    same_text_as_baseline: bool | None = None
    vs_baseline: float | None = None
    note: str = ""
    # share of next-token predictions (argmax) that differ from float32's, teacher-forced
    top1_disagreement: float | None = None


@dataclass
class BenchResult:
    machine: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)
    safety: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    app_memory: dict = field(default_factory=dict)
    concurrency: list[dict] = field(default_factory=list)
    batching: list[dict] = field(default_factory=list)
    adapter: list[dict] = field(default_factory=list)
    http_hop: dict = field(default_factory=dict)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def median(values: list[float]) -> float:
    return float(statistics.median(values))


class TimingStreamer:
    """A transformers streamer that notes when each generated token arrives."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[int] = []
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first puts the prompt
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())
        self.ids.extend(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


def fidelity_texts(tokenizer, scenarios: int = 20) -> list:
    """Token ids of the first scenario conversations, each user turn answered by one fixed line."""
    from evals.datasets import load_scenario_sets

    answer = "It sounds like that has been weighing on you, and part of you wants it to change."
    out = []
    for scenario in load_scenario_sets(["listening"])[:scenarios]:
        messages = []
        for turn in scenario.turns:
            messages += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer}]
        out.append(tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)["input_ids"])
    return out


def top1_predictions(model, texts: list) -> list:
    import torch

    with torch.inference_mode():
        return [model(input_ids=ids).logits.argmax(-1) for ids in texts]


def time_generate(
    model, inputs: Mapping[str, Any], tokens: int, runs: int, warm_up: bool = True, **extra
) -> tuple[float, float, list[int]]:
    """Median TTFT and decode tokens/s for greedy generation of exactly `tokens` tokens."""
    import torch

    ttfts, rates, ids = [], [], []
    prefix_factory: Callable | None = extra.pop("prefix_factory", None)
    with torch.inference_mode():
        if warm_up:
            model.generate(**inputs, max_new_tokens=4, do_sample=False)
        for _ in range(runs):
            streamer = TimingStreamer()
            kwargs = dict(extra)
            if prefix_factory is not None:
                kwargs["cache"] = prefix_factory()
            start = time.perf_counter()
            model.generate(
                **inputs,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                streamer=streamer,
                **kwargs,
            )
            ttfts.append(streamer.times[0] - start)
            rates.append((len(streamer.times) - 1) / (streamer.times[-1] - streamer.times[0]))
            ids = streamer.ids
    return median(ttfts), median(rates), ids


def bench_variants(folder: Path, system: str, tokens: int, runs: int, with_compile: bool) -> list[Variant]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

    from chatbot.backends.transformers_backend import chat_encoding, cpu_supports_bf16

    tokenizer = AutoTokenizer.from_pretrained(folder)
    messages = conversation_messages(system)
    inputs = chat_encoding(tokenizer, messages)
    default_threads = torch.get_num_threads()
    results: list[Variant] = []
    baseline_ids: list[int] = []

    texts = fidelity_texts(tokenizer)
    reference: list = []
    disagreement: dict[int, float] = {}  # per model object: cache settings don't change it

    def add(name: str, model, note: str = "", **extra) -> None:
        nonlocal baseline_ids, reference
        ttft, rate, ids = time_generate(model, inputs, tokens, runs, **extra)
        variant = Variant(name, round(ttft, 4), round(rate, 2), tokens, note=note)
        if id(model) not in disagreement:
            predicted = top1_predictions(model, texts)
            reference = reference or predicted
            differ = sum(int((p != r).sum()) for p, r in zip(predicted, reference))
            disagreement[id(model)] = round(differ / sum(r.numel() for r in reference), 4)
        variant.top1_disagreement = disagreement[id(model)]
        if not baseline_ids:
            baseline_ids = ids
        variant.same_text_as_baseline = ids == baseline_ids
        variant.vs_baseline = round(rate / results[0].decode_tok_s, 2) if results else 1.0
        results.append(variant)
        print(f"  {name:<34} ttft {ttft:6.3f} s   decode {rate:6.1f} tok/s", file=sys.stderr)

    fp32 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    add("baseline: fp32 generate", fp32, f"torch default threads ({default_threads})")
    torch.set_num_threads(1)
    add("fp32, 1 thread", fp32)
    torch.set_num_threads(2)
    add("fp32, 2 threads", fp32)

    if cpu_supports_bf16():
        fast = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
        add("bf16, 2 threads", fast)
    else:
        fast = fp32
        print("  (no avx512_bf16 on this CPU: bf16 variants skipped)", file=sys.stderr)

    prefix = chat_encoding(tokenizer, messages[:1], add_generation_prompt=False)["input_ids"]
    with torch.inference_mode():
        system_cache = fast(input_ids=prefix, cache=DynamicCache(), use_cache=True).past_key_values
    add(
        "+ cached system prompt",
        fast,
        prefix_factory=lambda: copy.deepcopy(system_cache),
        note=f"{prefix.shape[-1]} of {inputs['input_ids'].shape[-1]} prompt tokens cached",
    )
    add("+ static KV cache", fast, cache_implementation="static")
    if with_compile:
        compiled = AutoModelForCausalLM.from_pretrained(folder, dtype=fast.dtype).eval()
        compiled.forward = torch.compile(compiled.forward, mode="reduce-overhead")
        started = time.perf_counter()
        time_generate(compiled, inputs, 8, 1, cache_implementation="static")
        add(
            "+ static cache + torch.compile",
            compiled,
            cache_implementation="static",
            note=f"compile took {time.perf_counter() - started:.0f} s",
        )
    if fast.dtype == torch.bfloat16:
        from chatbot.backends.packing import pack_4bit_linears, pack_int8_head

        packed = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        report = pack_4bit_linears(packed, torch.bfloat16)
        packed.to(torch.bfloat16)
        add("bf16 + exact 4-bit linears", packed, note=report.description)
        with torch.inference_mode():
            packed_system = packed(input_ids=prefix, cache=DynamicCache(), use_cache=True).past_key_values
        add("  + cached system prompt", packed, prefix_factory=lambda: copy.deepcopy(packed_system))
        add("  + static KV cache", packed, cache_implementation="static")
        pack_int8_head(packed, torch.bfloat16)
        del disagreement[id(packed)]  # same object, different head: measure it again
        add(
            "  + static KV cache + int8 output head (app default)",
            packed,
            cache_implementation="static",
            note="the head is not exact: see the fidelity column",
        )
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {torch.nn.Linear}, dtype=torch.qint8)
    add("dynamic int8 linear layers", int8)
    return results


def bench_llamacpp(gguf: Path, system: str, tokens: int, runs: int) -> Variant | None:
    try:
        from llama_cpp import Llama
    except ImportError:
        print("  llama.cpp: not installed (pip install llama-cpp-python) - skipped", file=sys.stderr)
        return None
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False, seed=0)
    messages: Any = conversation_messages(system)  # llama_cpp's own message TypedDicts
    ttfts, rates = [], []
    llm.create_chat_completion(messages, max_tokens=4, temperature=0)
    for _ in range(runs):
        llm.reset()  # no prompt reuse between runs: the same cold-prompt work as the others
        times = []
        start = time.perf_counter()
        for chunk in llm.create_chat_completion(messages, max_tokens=tokens, temperature=0, stream=True):
            delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
            if delta.get("content"):
                times.append(time.perf_counter())
        ttfts.append(times[0] - start)
        rates.append((len(times) - 1) / (times[-1] - times[0]))
    variant = Variant(
        "llama.cpp (reference)",
        round(median(ttfts), 4),
        round(median(rates), 2),
        tokens,
        note=f"GGUF {gguf.name}, 2 threads",
    )
    print(
        f"  {variant.name:<34} ttft {variant.ttft_s:6.3f} s   decode {variant.decode_tok_s:6.1f} tok/s", file=sys.stderr
    )
    return variant


class _NeverEnds:
    """An engine that never emits the end token, so every timed reply has exactly --tokens tokens."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.slots, self.max_batch_tokens = engine.slots, engine.max_batch_tokens

    def decode(self, pieces):
        return self.engine.decode(pieces)

    def forget(self, slot: int, keep: int) -> None:
        self.engine.forget(slot, keep)

    def copy(self, source: int, slot: int, keep: int) -> None:
        self.engine.copy(source, slot, keep)

    def detokenize(self, tokens) -> str:
        return self.engine.detokenize(tokens)

    def is_end(self, token: int) -> bool:
        return False


def _timed_replies(scheduler, prompts: list[list[int]], tokens: int) -> tuple[list[float], list[float], float]:
    """Every prompt sent at once: (time to first token per reply, decode tok/s per reply, wall time)."""
    from chatbot.config import default_settings

    settings = default_settings().with_(do_sample=False, max_new_tokens=tokens)
    scheduler.forget_prompts()  # every prompt fed from scratch, like the others' cold prompts
    firsts: list[float] = [0.0] * len(prompts)
    rates: list[float] = [0.0] * len(prompts)

    def one(i: int) -> None:
        start = time.perf_counter()
        stamps = [time.perf_counter() for _ in scheduler.pieces(scheduler.submit(prompts[i], settings), 120)]
        firsts[i] = stamps[0] - start
        rates[i] = (len(stamps) - 1) / (stamps[-1] - stamps[0])

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return firsts, rates, time.perf_counter() - start


def bench_llamacpp_engine(
    gguf: Path, folder: Path, system: str, tokens: int, runs: int, sessions: tuple[int, ...]
) -> tuple[Variant, list[dict]]:
    """The app's llama.cpp engine: one person (with its fidelity against float32), then several at once.

    Replies of n people sent together are decoded in one batch; "serial" is the same engine with one
    slot, which answers them one after another as the torch path does.
    """
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from chatbot.backends.batching import Scheduler
    from chatbot.backends.llamacpp import ChatTemplate, LlamaCppEngine

    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = ChatTemplate(tokenizer.chat_template, tokenizer.bos_token or "", tokenizer.eos_token or "")
    messages = conversation_messages(system)
    slots = max(sessions)
    engine = LlamaCppEngine(gguf, slots=slots, context_per_slot=2048, threads=2, max_batch_tokens=512)
    texts = fidelity_texts(tokenizer)
    fp32 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    reference = top1_predictions(fp32, texts)
    del fp32
    differ = total = 0
    for ids, ref in zip(texts, reference):
        predicted = engine.logits_at_every_position(ids[0].tolist()).argmax(-1)
        differ += int((predicted != ref[0].numpy()).sum())
        total += ref.numel()

    def prompt(i: int) -> list[int]:
        varied = [dict(m) for m in messages]
        varied[-1]["content"] += f" ({i})" if i else ""
        return engine.tokenize(template(varied))

    scheduler = Scheduler(_NeverEnds(engine))
    _timed_replies(scheduler, [prompt(0)], 4)  # warm-up
    singles = [_timed_replies(scheduler, [prompt(0)], tokens) for _ in range(runs)]
    variant = Variant(
        "llama.cpp engine, one person (app default)",
        round(median([s[0][0] for s in singles]), 4),
        round(median([s[1][0] for s in singles]), 2),
        tokens,
        note=f"continuous batching, {slots} slots, numpy sampling",
    )
    variant.top1_disagreement = round(differ / total, 4)
    print(
        f"  {variant.name:<34} ttft {variant.ttft_s:6.3f} s   decode {variant.decode_tok_s:6.1f} tok/s", file=sys.stderr
    )
    rows = []
    serial_engine = LlamaCppEngine(gguf, slots=1, context_per_slot=2048, threads=2, max_batch_tokens=512)
    serial = Scheduler(_NeverEnds(serial_engine))
    for n in sessions:
        for label, sched in (("batched", scheduler), ("serial", serial)):
            firsts, rates, wall = _timed_replies(sched, [prompt(i) for i in range(n)], tokens)
            rows.append(
                {
                    "people": n,
                    "engine": label,
                    "wall_s": round(wall, 2),
                    "total_tok_s": round(n * tokens / wall, 1),
                    "ttft_p50_s": round(float(np.percentile(firsts, 50)), 3),
                    "ttft_p95_s": round(float(np.percentile(firsts, 95)), 3),
                    "decode_tok_s_per_person_p50": round(float(np.percentile(rates, 50)), 1),
                }
            )
            print(f"  {n} people, {label}: {rows[-1]}", file=sys.stderr)
    scheduler.close()
    serial.close()
    return variant, rows


def bench_adapter(system: str, tokens: int, runs: int, adapter: str = "listening") -> list[dict]:
    """A LoRA adapter's cost and fidelity: llama.cpp without and with it, the torch path with it.

    The torch path is built as the app's config builds it (`model.engine=torch`). The three arms
    take turns, one timed reply each per round, so a change in the machine's load falls on all of
    them. Fidelity: the share of next-token predictions (teacher-forced, 20 conversations) that
    differ from the torch path with the adapter, which applies peft's weights in float32 on top of
    the dequantized GGUF.
    """
    from chatbot.backends import embedded, lora_gguf
    from chatbot.backends.batching import Scheduler
    from chatbot.backends.llamacpp import ChatTemplate, LlamaCppEngine
    from chatbot.backends.transformers_backend import chat_encoding
    from chatbot.config import load_config

    folder = embedded.resolve_adapter(adapter)
    if folder is None:
        raise SystemExit("--adapter none: nothing to compare")
    m = load_config(environ={}).model
    torch_model = embedded.load_embedded_model(
        dtype=m.dtype,
        threads=m.threads,
        kv_cache=m.kv_cache,
        pack_4bit=m.pack_4bit,
        int8_head=m.int8_head,
        adapter=folder,
    )
    tokenizer = torch_model.tokenizer
    texts = fidelity_texts(tokenizer)
    reference = top1_predictions(torch_model.model, texts)
    positions = sum(r.numel() for r in reference)
    messages = conversation_messages(system)
    template = ChatTemplate(tokenizer.chat_template, tokenizer.bos_token or "", tokenizer.eos_token or "")
    static: dict[str, Any] = {"cache_implementation": "static"} if m.kv_cache == "static" else {}
    inputs = chat_encoding(tokenizer, messages)
    time_generate(torch_model.model, inputs, 4, 1, **static)  # warm-up
    arms: dict[str, Callable[[], tuple[float, float]]] = {}
    differs: dict[str, float] = {}
    closing = []
    for with_adapter in (False, True):
        name = (
            f"llama.cpp engine + {adapter} adapter (GGUF LoRA, f32)" if with_adapter else "llama.cpp engine, no adapter"
        )
        engine = LlamaCppEngine(embedded.gguf_path(), slots=1, context_per_slot=2048, threads=2, max_batch_tokens=512)
        if with_adapter:
            engine.use_lora(lora_gguf.converted_for(Path(folder), engine.metadata, embedded.default_cache_dir()))
        differ = sum(
            int((engine.logits_at_every_position(ids[0].tolist()).argmax(-1) != ref[0].numpy()).sum())
            for ids, ref in zip(texts, reference)
        )
        differs[name] = round(differ / positions, 4)
        scheduler = Scheduler(_NeverEnds(engine))
        prompt = engine.tokenize(template(messages))
        _timed_replies(scheduler, [prompt], 4)  # warm-up

        def timed(scheduler=scheduler, prompt=prompt) -> tuple[float, float]:
            firsts, rates, _ = _timed_replies(scheduler, [prompt], tokens)
            return firsts[0], rates[0]

        arms[name] = timed
        closing.append((scheduler, engine))
    name = f"torch path + {adapter} adapter ({torch_model.identity.dtype}, {m.kv_cache} KV cache)"
    arms[name] = lambda: time_generate(torch_model.model, inputs, tokens, 1, warm_up=False, **static)[:2]
    differs[name] = 0.0
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    for _ in range(runs):
        for name, measure in arms.items():
            timings[name].append(measure())
    for scheduler, engine in closing:
        if scheduler.close():
            engine.close()
    rows = []
    for name, times in timings.items():
        rate = median([t[1] for t in times])
        rows.append(
            {
                "arm": name,
                "ttft_s": round(median([t[0] for t in times]), 4),
                "decode_tok_s": round(rate, 2),
                "vs_llama_cpp_no_adapter": round(rate / median([t[1] for t in next(iter(timings.values()))]), 3),
                "top1_differs_from_torch_adapter": differs[name],
                "positions": positions,
            }
        )
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def bench_pipeline(runs: int, sessions: tuple[int, ...]) -> tuple[dict, list[dict], Listener]:
    """End-to-end replies through the app's listener: safety, planning, candidates, output rail."""
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    listener = build_listener(load_config(environ={}))

    def one_reply(listener, text=LAST_MESSAGE) -> tuple[float, float]:
        conv = listener.new_conversation()
        for user, bot in CONVERSATION:  # a 6-turn history without spending model time on it
            from chatbot.conversation import Turn

            conv.turns.append(Turn(user, bot, "listening"))
        start = time.perf_counter()
        first = None
        for _ in listener.respond(conv, text):
            if first is None:
                first = time.perf_counter() - start
        return first or 0.0, time.perf_counter() - start

    one_reply(listener)  # warm-up
    firsts, totals = zip(*(one_reply(listener) for _ in range(runs)))
    pipeline = {
        "pipeline_enabled": listener.pipeline is not None,
        "first_text_s_median": round(median(list(firsts)), 3),
        "reply_s_median": round(median(list(totals)), 3),
        "runs": runs,
    }
    concurrency = []
    for n in sessions:
        latencies: list[float] = []
        lock = threading.Lock()

        def session(i: int, lock: threading.Lock = lock, latencies: list[float] = latencies) -> None:
            _, total = one_reply(listener, f"{LAST_MESSAGE} ({i})")
            with lock:
                latencies.append(total)

        start = time.perf_counter()
        threads = [threading.Thread(target=session, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        concurrency.append(
            {
                "sessions": n,
                "wall_s": round(wall, 2),
                "replies_per_min": round(60 * n / wall, 1),
                "latency_p50_s": round(percentile(latencies, 50), 2),
                "latency_p95_s": round(percentile(latencies, 95), 2),
            }
        )
        print(f"  {n} concurrent sessions: {concurrency[-1]}", file=sys.stderr)
    return pipeline, concurrency, listener


def bench_safety(screen, runs: int) -> dict:
    from evals.safety_eval import load_messages

    texts = [m.text for m in load_messages()]
    for text in texts[:20]:
        screen.assess_message(text)
    times = []
    for _ in range(max(1, runs // 2)):
        for text in texts:
            start = time.perf_counter()
            screen.assess_message(text)
            times.append(time.perf_counter() - start)
    return {
        "messages": len(times),
        "p50_ms": round(1000 * percentile(times, 50), 2),
        "p95_ms": round(1000 * percentile(times, 95), 2),
        "max_ms": round(1000 * max(times), 2),
    }


PEAK_RSS_SCRIPT = """
import sys
from chatbot.config import load_config
from chatbot.factory import build_listener
from evals.bench import CONVERSATION
listener = build_listener(load_config(environ={}))
conv = listener.new_conversation()
for user, _ in CONVERSATION[:3]:
    listener.respond(conv, user).consume()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) benchmark process.
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


def bench_app_memory(timeout_s: float = 180.0) -> dict:
    """Peak resident memory of `python app.py` itself after 3 replies sent through gradio_client."""
    import socket
    import urllib.request

    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = Path(__file__).resolve().parents[1] / "app.py"
    proc = subprocess.Popen(
        [sys.executable, str(app), "--set", f"app.port={port}", "--set", "app.host=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("app.py did not start") from None
                time.sleep(1)
        client = Client(url, verbose=False)
        for user, _ in CONVERSATION[:3]:
            client.predict(user, api_name="/send")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kib = int(status.split("VmHWM:")[1].split()[0])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"peak_rss_mb": round(kib / 1024, 1), "what": "python app.py + 3 replies via gradio_client"}


def bench_memory() -> dict:
    """Peak resident memory of a process that does what the app does: load everything, reply."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT], capture_output=True, text=True, check=True)
    kib = int(out.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": round(kib / 1024, 1), "what": "build_listener + 3 replies, one process"}


def bench_load(runs: int) -> dict:
    from chatbot.backends import embedded

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        embedded.ensure_converted(Path(tmp), progress=lambda m: None)
        cold = time.perf_counter() - start
    warm = []
    for _ in range(runs):
        start = time.perf_counter()
        embedded.load_embedded_model()
        warm.append(time.perf_counter() - start)
    return {"cold_conversion_s": round(cold, 2), "warm_load_s_median": round(median(warm), 2)}


def bench_http_hop(base_url: str, name: str, system: str, tokens: int, runs: int) -> dict:
    """The same greedy request in-process and over an OpenAI-compatible server, alternating."""
    from chatbot.backends.embedded import load_embedded_model
    from chatbot.backends.openai_compat import OpenAICompatibleChatModel
    from chatbot.config import default_settings

    settings = default_settings(do_sample=False, max_new_tokens=tokens, repetition_penalty=1.0)
    messages = conversation_messages(system)
    backends = {"in_process": load_embedded_model(), "http": OpenAICompatibleChatModel(base_url, name)}
    timings: dict[str, dict[str, list[float]]] = {k: {"ttft": [], "total": []} for k in backends}
    texts: dict[str, str] = {}
    for label, model in backends.items():  # warm-up, and the text each gives
        texts[label] = "".join(model.stream(messages, settings))
    for _ in range(runs):
        for label, model in backends.items():
            start = time.perf_counter()
            first = None
            for _piece in model.stream(messages, settings):
                first = first or time.perf_counter() - start
            timings[label]["ttft"].append(first or 0.0)
            timings[label]["total"].append(time.perf_counter() - start)
    medians = {label: {k: round(median(v), 3) for k, v in t.items()} for label, t in timings.items()}
    out: dict[str, object] = {
        **medians,
        "http_overhead_ttft_s": round(medians["http"]["ttft"] - medians["in_process"]["ttft"], 3),
        "http_total_ratio": round(medians["http"]["total"] / medians["in_process"]["total"], 2),
        "same_greedy_text": texts["http"].split() == texts["in_process"].split(),
    }
    print(f"  http hop: {out}", file=sys.stderr)
    return out


def print_table(result: BenchResult) -> None:
    print("\n| variant | TTFT (s) | decode tok/s | × baseline | same greedy text | top-1 differs from fp32 | note |")
    print("|---|---:|---:|---:|:---:|---:|---|")
    for v in result.variants:
        same = "" if v.same_text_as_baseline is None else ("yes" if v.same_text_as_baseline else "no")
        ratio = "" if v.vs_baseline is None else f"{v.vs_baseline:.2f}"
        differ = "" if v.top1_disagreement is None else f"{100 * v.top1_disagreement:.2f}%"
        print(f"| {v.name} | {v.ttft_s:.3f} | {v.decode_tok_s:.1f} | {ratio} | {same} | {differ} | {v.note} |")
    for title, section in (
        ("load", result.load),
        ("pipeline", result.pipeline),
        ("http hop", result.http_hop),
        ("safety screen", result.safety),
        ("memory", result.memory),
        ("app memory", result.app_memory),
    ):
        if section:
            print(f"\n{title}: " + ", ".join(f"{k}={v}" for k, v in section.items()))
    if result.batching:
        print("\n| people at once | engine | wall (s) | total tok/s | TTFT p50 (s) | TTFT p95 (s) | tok/s per person |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for b in result.batching:
            print(
                f"| {b['people']} | {b['engine']} | {b['wall_s']} | {b['total_tok_s']} | {b['ttft_p50_s']} | "
                f"{b['ttft_p95_s']} | {b['decode_tok_s_per_person_p50']} |"
            )
    if result.adapter:
        print(
            "\n| engine | TTFT (s) | decode tok/s | × llama.cpp without adapter | top-1 differs from torch + adapter |"
        )
        print("|---|---:|---:|---:|---:|")
        for a in result.adapter:
            print(
                f"| {a['arm']} | {a['ttft_s']:.3f} | {a['decode_tok_s']:.1f} | {a['vs_llama_cpp_no_adapter']:.2f} | "
                f"{100 * a['top1_differs_from_torch_adapter']:.2f}% |"
            )
    if result.concurrency:
        print("\n| sessions | wall (s) | replies/min | latency p50 (s) | p95 (s) |")
        print("|---:|---:|---:|---:|---:|")
        for c in result.concurrency:
            print(
                f"| {c['sessions']} | {c['wall_s']} | {c['replies_per_min']} | "
                f"{c['latency_p50_s']} | {c['latency_p95_s']} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="repetitions per figure (median)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per decode run")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (~1 min)")
    parser.add_argument(
        "--only",
        choices=["decode", "adapter", "pipeline", "safety", "memory", "app-memory", "load", "none"],
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--sessions", default="1,4,8", help="concurrent sessions to try")
    parser.add_argument("--adapter", default="listening", help="the LoRA adapter the adapter part measures")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON result")
    parser.add_argument(
        "--http-url",
        help="also time an OpenAI-compatible server serving the "
        "same model against the in-process backend (e.g. transformers serve)",
    )
    parser.add_argument("--http-model", help="the model name that server expects")
    args = parser.parse_args(argv)
    parts = set(args.only or ["decode", "adapter", "pipeline", "safety", "memory", "app-memory", "load"])

    import torch

    from chatbot.backends import embedded
    from chatbot.backends.embedded import use_llamacpp
    from chatbot.backends.transformers_backend import cpu_supports_bf16
    from chatbot.prompts import load_prompt

    result = BenchResult(
        machine={
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": cpu_model(),
            "avx512_bf16": cpu_supports_bf16(),
            "app_engine": "llama.cpp" if use_llamacpp("auto", None) else "torch",
        }
    )
    folder = embedded.ensure_converted()
    system = load_prompt("system").render()
    if "load" in parts:
        print("model load...", file=sys.stderr)
        result.load = bench_load(max(1, args.runs // 2))
    if "decode" in parts:
        print("decode variants...", file=sys.stderr)
        result.variants = bench_variants(folder, system, args.tokens, args.runs, args.compile)
        sessions = tuple(int(s) for s in args.sessions.split(",") if s)
        from chatbot.backends import llamacpp

        if llamacpp.available():
            engine_variant, result.batching = bench_llamacpp_engine(
                embedded.gguf_path(), folder, system, args.tokens, args.runs, sessions
            )
            engine_variant.vs_baseline = round(engine_variant.decode_tok_s / result.variants[0].decode_tok_s, 2)
            result.variants.append(engine_variant)
        reference = bench_llamacpp(embedded.gguf_path(), system, args.tokens, args.runs)
        if reference:
            reference.vs_baseline = round(reference.decode_tok_s / result.variants[0].decode_tok_s, 2)
            result.variants.append(reference)
    if "adapter" in parts:
        print("LoRA adapter on each engine...", file=sys.stderr)
        result.adapter = bench_adapter(system, args.tokens, args.runs, args.adapter)
    listener = None
    if "pipeline" in parts:
        print("pipeline and concurrency...", file=sys.stderr)
        sessions = tuple(int(s) for s in args.sessions.split(",") if s)
        result.pipeline, result.concurrency, listener = bench_pipeline(args.runs, sessions)
    if "safety" in parts:
        from safety import SafetyScreen

        screen = listener.screen if listener else SafetyScreen()
        screen.warm_up()
        result.safety = bench_safety(screen, args.runs)
    if "memory" in parts:
        result.memory = bench_memory()
    if "app-memory" in parts:
        print("app memory...", file=sys.stderr)
        result.app_memory = bench_app_memory()
    if args.http_url:
        result.http_hop = bench_http_hop(args.http_url, args.http_model, system, args.tokens, args.runs)
    print_table(result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(asdict(result), indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
