"""Privacy: nothing leaves the machine, logs hold no message text, files are written only on
request and atomically, and delete removes the session's data.

Network and file access are watched with a CPython audit hook (sys.addaudithook), which sees
every socket connect, DNS lookup and file open in every thread, C code included. An audit hook
cannot be removed, so one is installed per process and only records while a test asks it to;
while recording, a connection or lookup to anything but loopback is refused (never sent) and
noted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import ipaddress
import json
import logging
import os
import socket
import sys
import threading
from pathlib import Path

import pytest
from conftest import ScriptedModel

from chatbot.backends.guarded import GuardedModel

CRISIS = "I want to kill myself tonight"
# Made-up words, so a hit can only be the person's (or the model's) text leaking.
MARKERS = ("Quillfeather", "Marrowlight", "Thistlecrown", "Emberwick", "Pellucidor", "Saltmarrow")


# -- the audit hook ------------------------------------------------------------------------------
class Audit:
    """What happened while recording: loopback connects, refused outside attempts, file writes."""

    def __init__(self) -> None:
        self.loopback: list = []
        self.refused: list = []
        self.writes: list[str] = []
        self.lock = threading.Lock()


_ACTIVE: list[Audit] = []
_LOCAL_NAMES = {None, "", "localhost", "127.0.0.1", "::1", b"localhost", b"127.0.0.1"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _loopback(host) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _is_write(mode, flags) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple) -> None:
    if not _ACTIVE:
        return
    audit = _ACTIVE[-1]
    if event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[-1]
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # unix sockets, netlink: never leave the machine
        with audit.lock:
            if _loopback(address[0]):
                audit.loopback.append(address)
                return
            audit.refused.append((event, address))
        raise PermissionError(f"privacy audit: refused {event} to {address}")
    if event in ("socket.getaddrinfo", "socket.gethostbyname"):
        if not _loopback(args[0]):
            with audit.lock:
                audit.refused.append((event, args[0]))
            raise PermissionError(f"privacy audit: refused lookup of {args[0]!r}")
    elif (event == "open" and isinstance(args[0], str | bytes) and _is_write(args[1], args[2])) or (
        event in ("os.mkdir", "os.rename", "os.remove", "shutil.rmtree") and isinstance(args[0], str | bytes)
    ):
        with audit.lock:
            audit.writes.append(os.fsdecode(args[0]))


_INSTALLED: list[bool] = []


@contextlib.contextmanager
def audited():
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED.append(True)
    audit = Audit()
    _ACTIVE.append(audit)
    try:
        yield audit
    finally:
        _ACTIVE.remove(audit)


# -- fixtures ------------------------------------------------------------------------------------
class SwitchableModel(ScriptedModel):
    """Scripted replies; raises part-way while `broken` is set."""

    broken = False

    def stream(self, messages, settings):
        if self.broken:
            yield "It sounds like a lot. "
            raise ConnectionResetError("backend died")
        yield from super().stream(messages, settings)


@pytest.fixture(scope="module")
def listener():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    config = load_config(overrides=["listening.pipeline=false"])
    model = GuardedModel(SwitchableModel(default="It sounds like a lot is going on."), 5)
    return build_listener(config, model=model)


@pytest.fixture
def model(listener):
    inner = listener.model.inner
    inner.queue.clear()
    inner.broken = False
    return inner


@pytest.fixture
def handlers(listener, tmp_path):
    from chatbot.webui.handlers import ChatHandlers

    return ChatHandlers(listener, export_root=str(tmp_path))


def _whole_session(handlers, model) -> object:
    """Normal, crisis, replaced, error and too-long turns, plus the other controls."""
    session = handlers.new_session("US")
    list(handlers.send(f"Work with {MARKERS[0]} has been a lot this week.", session))
    list(handlers.send(f"{CRISIS}, {MARKERS[1]} would not even notice.", session))
    model.enqueue(f"You have clinical depression, {MARKERS[2]}.")
    list(handlers.send(f"I feel flat all the time, {MARKERS[3]}.", session))
    model.broken = True
    list(handlers.send(f"My manager {MARKERS[4]} keeps shouting.", session))
    model.broken = False
    list(handlers.send(f"{MARKERS[5]} " * 1500, session))  # too long
    list(handlers.retry(session))
    handlers.undo(session)
    handlers.open_help(session)
    handlers.set_demo(True, session)
    handlers.practice("It sounds like work is heavy.", session)
    return session


# -- network -------------------------------------------------------------------------------------
def test_the_audit_refuses_and_records_outside_connections():
    """The check below can fail: an outside connect or lookup is caught (and never sent)."""
    with audited() as audit:
        with socket.socket() as sock, pytest.raises(PermissionError):
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: documentation only
        with pytest.raises(PermissionError):
            socket.create_connection(("192.0.2.1", 80), timeout=0.1)
        with pytest.raises(PermissionError):
            socket.getaddrinfo("huggingface.co", 443)
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            socket.create_connection(server.getsockname(), timeout=1).close()
    assert audit.refused == [
        ("socket.connect", ("192.0.2.1", 80)),
        ("socket.getaddrinfo", "192.0.2.1"),
        ("socket.getaddrinfo", "huggingface.co"),
    ]
    assert audit.loopback


def test_a_whole_session_only_ever_talks_to_loopback(tiny_model_dir, tmp_path):
    """Build the listener (tiny real model, screen with its embedder, coder), chat through the
    handlers including a crisis, export, then serve the app and use it with gradio_client."""
    from urllib.parse import urlparse

    from chatbot.config import load_config
    from chatbot.factory import build_listener
    from chatbot.webui.handlers import ChatHandlers
    from evals.loadtest import start_app
    from safety.embeddings import load_embedder
    from safety.semantic import SemanticLayer

    load_embedder.cache_clear()  # load the embedder again, inside the audit
    SemanticLayer.load.cache_clear()
    config = load_config(
        overrides=[
            "model.backend=transformers",
            f"model.name={tiny_model_dir}",
            "model.dtype=float32",
            "generation.max_new_tokens=8",
            "listening.pipeline=false",
        ]
    )
    with audited() as audit:
        listener = build_listener(config)
        assert listener.model is not None and listener.model.identity.backend == "transformers"
        handlers = ChatHandlers(listener, export_root=str(tmp_path))
        session = handlers.new_session("US")
        for text in ("i feel tired and sad about work", CRISIS, "thanks, i feel a lot calmer"):
            list(handlers.send(text, session))
        assert [t.kind for t in session.conversation.turns][1] == "crisis"
        handlers.export(session)

        from gradio_client import Client

        demo, url = start_app(listener, config, str(tmp_path))
        port = urlparse(url).port
        try:
            client = Client(url, verbose=False)
            out = client.predict("i feel tired about work", api_name="/send")
            assert out[1][-2]["content"][0]["text"] == "i feel tired about work"
            files = client.predict(api_name="/export")
            assert [Path(p).suffix for p in files["value"]] == [".md", ".json"]
        finally:
            demo.close()
    assert audit.refused == []
    assert any(addr[1] == port for addr in audit.loopback)  # the audit saw the client's traffic


# -- logs ----------------------------------------------------------------------------------------
def test_logs_never_hold_message_or_reply_text(handlers, model, caplog):
    for name in ["", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name or None)
    session = _whole_session(handlers, model)
    handlers.export(session)
    handlers.delete(session)

    kinds = " ".join(r.getMessage() for r in caplog.records if r.name == "chatbot.engine")
    for kind in ("listening", "crisis", "replaced", "model_error", "input_error"):
        assert f"kind={kind}" in kinds  # every kind of turn was logged...
    for record in caplog.records:  # ...and no record holds a word anyone typed or the model wrote
        rendered = " ".join([record.getMessage(), str(record.exc_text or ""), json.dumps(record.__dict__, default=str)])
        assert not [m for m in MARKERS if m in rendered], rendered
        assert "clinical depression" not in rendered and "kill myself" not in rendered


# -- files ---------------------------------------------------------------------------------------
def test_nothing_is_written_to_disk_until_export_and_then_only_the_export(handlers, model):
    with audited() as audit:
        session = _whole_session(handlers, model)
    assert audit.writes == []
    with audited() as audit:
        files, _ = handlers.export(session)
    root = Path(handlers.export_root).resolve()
    assert audit.writes and all(Path(p).resolve().is_relative_to(root) for p in audit.writes)
    assert sorted(Path(p).parent for p in files["value"]) == [Path(session.export_dir)] * 2


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_an_export_that_fails_leaves_no_partial_file_and_keeps_the_last_good_one(handlers, model, monkeypatch, failing):
    import chatbot.transcript as transcript

    session = handlers.new_session()
    list(handlers.send(f"Work with {MARKERS[0]} has been a lot.", session))
    files, _ = handlers.export(session)
    md, js = (Path(p) for p in files["value"])
    before = {md: md.read_bytes(), js: js.read_bytes()}
    list(handlers.send("And my sister is moving away.", session))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        def half_writing_fdopen(fd, *args, **kwargs):
            handle = real_fdopen(fd, *args, **kwargs)
            real_write = handle.write

            def write(text):
                real_write(text[: len(text) // 2])
                handle.flush()
                disk_full()

            handle.write = write
            return handle

        monkeypatch.setattr(transcript.os, "fdopen", half_writing_fdopen)
    else:
        monkeypatch.setattr(transcript.os, failing, disk_full)
    with pytest.raises(OSError):
        handlers.export(session)
    monkeypatch.undo()

    folder = Path(session.export_dir)
    assert sorted(folder.iterdir()) == sorted(before)  # no temporary or half-written files
    assert {p: p.read_bytes() for p in before} == before  # the last good export is intact
    assert json.loads(js.read_text(encoding="utf-8"))["turns"][0]["user"].startswith("Work")
    files, _ = handlers.export(session)  # and the next export works
    assert len(json.loads(Path(files["value"][1]).read_text(encoding="utf-8"))["turns"]) == 2


# -- delete --------------------------------------------------------------------------------------
def _strings_in(obj, seen=None):
    """Every string reachable from obj through attributes, fields and containers."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bytes):
        yield obj.decode("utf-8", "replace")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings_in(k, seen)
            yield from _strings_in(v, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            yield from _strings_in(v, seen)
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        for v in vars(obj).values():
            yield from _strings_in(v, seen)


def test_delete_removes_the_sessions_text_and_files(handlers, model, tmp_path):
    from gradio.utils import get_upload_folder

    session = _whole_session(handlers, model)
    files, _ = handlers.export(session)
    folder = Path(session.export_dir)
    # Gradio serves downloads from its own copies; delete removes those too.
    served = Path(get_upload_folder()) / "privacy-test"
    served.mkdir(parents=True, exist_ok=True)
    copies = [served / Path(p).name for p in files["value"]]
    for src, dst in zip(files["value"], copies, strict=True):
        dst.write_bytes(Path(src).read_bytes())
    assert any(m in s for s in _strings_in(session) for m in MARKERS)  # the walk finds text

    out = handlers.delete(session, [str(c) for c in copies])
    assert not folder.exists() and not any(c.exists() for c in copies)
    assert session.conversation.turns == [] and session.export_dir is None
    assert not [s for s in _strings_in(session) if any(m in s for m in MARKERS)]
    assert not [s for s in _strings_in(out) if any(m in s for m in MARKERS)]
    # Careful mode stays (the risk did not go away), but holds no text.
    assert session.conversation.careful_mode
    files, _ = handlers.export(session)
    assert json.loads(Path(files["value"][1]).read_text(encoding="utf-8"))["turns"] == []


def test_closing_the_browser_session_removes_its_exports(handlers, model):
    from chatbot.webui.handlers import cleanup_session

    session = handlers.new_session()
    list(handlers.send(f"Work with {MARKERS[0]} has been a lot.", session))
    handlers.export(session)
    folder = Path(session.export_dir)
    cleanup_session(session)  # what gr.State's delete_callback runs
    assert not folder.exists()


def test_sessions_share_no_text(handlers, model):
    first, second = handlers.new_session(), handlers.new_session()
    list(handlers.send(f"My sister {MARKERS[0]} is moving away.", first))
    list(handlers.send(f"My dog {MARKERS[1]} is unwell.", second))
    assert not [s for s in _strings_in(second) if MARKERS[0] in s]
    assert not [s for s in _strings_in(first) if MARKERS[1] in s]
    assert MARKERS[0] not in " ".join(m["content"] for m in model.calls[-1])


def test_the_shared_embedding_cache_holds_no_message_text():
    from safety import SafetyScreen, semantic

    screen = SafetyScreen(classifier=False)  # the layer that caches embeddings
    screen.warm_up()
    secret = "my neighbour Ottoline keeps parking across my drive"
    screen.assess_message(secret)
    assert semantic._QUERY_CACHE  # the message was cached...
    assert all(secret not in str(key) for key in semantic._QUERY_CACHE)  # ...under a digest only
