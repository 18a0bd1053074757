"""What each control does. Plain methods over a Session, so tests can call them without a browser.

Each method returns values in the order its event in app.py lists its outputs.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.factory import offline_environment
from chatbot.stopping import Stopped
from chatbot.webui import render
from chatbot.webui.session import (
    Session,
    delete_exports,
    delete_session,
    new_session,
    remind_if_due,
)

offline_environment()  # before gradio is imported anywhere
import gradio as gr  # noqa: E402

if TYPE_CHECKING:
    from chatbot.engine import Listener


def _miti_summary(session: Session) -> dict | None:
    from chatbot.coder.miti import miti_summary, utterance_codes

    return miti_summary(utterance_codes(t.technique for t in session.conversation.turns))


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class ChatHandlers:
    def __init__(
        self,
        listener: Listener,
        *,
        clock: Callable[[], float] = time.time,
        texts: dict | None = None,
        directory: Any = None,
        export_root: str | None = None,
    ) -> None:
        self.listener = listener
        self.clock = clock
        self.texts = texts or render.load_texts()
        if directory is None:
            from safety import load_resources

            directory = load_resources()
        self.directory = directory
        self.export_root = export_root

    # -- session -----------------------------------------------------------------------------
    def new_session(self, country: str | None = None) -> Session:
        conversation = self.listener.new_conversation(country)
        return new_session(conversation, self.clock(), self.texts["first_message"])

    def country_code(self, code: str | None) -> str:
        return self.directory.country(code or "")[0]

    # -- views -------------------------------------------------------------------------------
    def messages(self, session: Session) -> list[dict]:
        return render.chat_messages(session.conversation.turns, session.notices, session.demo, self.texts)

    def help_update(self, session: Session):
        html = render.help_panel_html(self.directory, session.conversation.country, self.texts)
        return gr.update(value=html, visible=session.show_help)

    def miti_html(self, session: Session) -> str:
        return render.miti_panel_html(_miti_summary(session))

    def view(self, session: Session, status: str = "") -> tuple:
        """(chat messages, help panel, MITI panel, status region)."""
        status_line = render.status_html(status, visible=status != self.texts["reply_done"])
        return (self.messages(session), self.help_update(session), self.miti_html(session), status_line)

    def busy_view(self, session: Session) -> tuple:
        """The view with the busy note shown below the log, not kept in it or in a transcript."""
        note = self.listener.fixed["busy"]
        messages, *rest = self.view(session, note)
        return (messages + [{"role": "assistant", "content": render.as_plain_text(note)}], *rest)

    # -- chat --------------------------------------------------------------------------------
    def _stream(self, session: Session, text: str, attempt: int = 0) -> Iterator[tuple]:
        """Yield the growing reply; closing this generator (Stop) closes the model stream."""
        # A lone surrogate (half an emoji pair) cannot be serialised back to the page.
        text = _LONE_SURROGATE.sub("\ufffd", text or "")
        remind_if_due(session, self.clock(), self.texts["reminder"])
        if session.stop is not None:
            session.stop.set()  # an earlier reply of this session still running is abandoned
        stop = session.stop = threading.Event()
        session.pending = text
        before = self.messages(session)
        user = {"role": "user", "content": render.as_plain_text(text or "")}
        writing = render.status_html(self.texts["reply_writing"], typing=True)
        quiet = (gr.skip(), gr.skip(), writing)  # panels change only at the end
        yield (before + [user], *quiet)
        reply = self.listener.respond(session.conversation, text, stop=stop, attempt=attempt)
        pieces = iter(reply)
        shown = ""
        try:
            for piece in pieces:
                shown += piece
                bubble = {"role": "assistant", "content": render.as_plain_text(shown)}
                yield (before + [user, bubble], *quiet)
        except Stopped:
            # Gradio shows a finished stream's last output again: make that the log without
            # this reply (`stopped` has put the message back in the box).
            yield self.view(session, self.texts["reply_stopped"])
            return
        finally:
            pieces.close()
        if reply.turn is not None and reply.turn.kind == "busy":
            session.pending, session.kept = None, text
            yield self.view(session, reply.turn.reply)
            return
        if reply.turn is not None and reply.turn.kind == "crisis":
            session.help_hidden = False  # a new crisis opens the help panel again
        if stop.is_set():
            # Stop came as the reply finished: Stop means it is not kept (a crisis reply always is).
            if reply.turn is not None and reply.turn.kind != "crisis":
                session.conversation.undo()
            yield self.view(session, self.texts["reply_stopped"])
            return
        session.pending = None
        yield self.view(session, self.texts["reply_done"])

    def send(self, text: str, session: Session) -> Iterator[tuple]:
        """Outputs: textbox, chatbot, help panel, MITI panel, status, session. The box is emptied
        once, when the message is taken; later outputs leave it alone, so nothing typed or put
        back there meanwhile (Stop) is overwritten."""
        session.retries = 0
        box: Any = ""
        for view in self._stream(session, text):
            yield (box, *view, session)
            box = gr.skip()
        if session.kept is not None:  # too busy to start: the message goes back in the box
            kept, session.kept = session.kept, None
            yield (gr.update(value=kept), *self.busy_view(session), session)

    def retry(self, session: Session) -> Iterator[tuple]:
        """Send the last message again in place of its reply. Outputs as `undo`."""
        last = session.conversation.undo()
        if last is None:
            yield (*self.view(session), session)
            return
        session.retries += 1  # a new sample each time, not the same reply again
        for view in self._stream(session, last.user_text, attempt=session.retries):
            yield (*view, session)
        if session.kept is not None:  # too busy for a new reply: the old one stays
            session.kept = None
            session.conversation.turns.append(last)
            yield (*self.busy_view(session), session)

    def stopped(self, typed: str | None, session: Session) -> tuple:
        """After Stop: the unfinished reply is not kept; the message goes back in the box, before
        anything typed there since. Outputs: textbox, chatbot, help panel, MITI panel, status, session."""
        if session.stop is not None:
            session.stop.set()  # reaches the model even inside a blocking call
        text, session.pending = session.pending, None
        typed = (typed or "").strip()
        if text is not None and typed and typed != text.strip():
            text = f"{text}\n\n{typed}"
        box = gr.update(value=text) if text is not None else gr.update()
        status = self.texts["reply_stopped"] if text is not None else ""
        return (box, *self.view(session, status), session)

    def undo(self, session: Session) -> tuple:
        """Outputs: chatbot, help panel, MITI panel, status, session."""
        session.conversation.undo()
        return (*self.view(session), session)

    def delete(self, session: Session, served_files: list[str] | None = None) -> tuple:
        """Outputs: chatbot, help panel, MITI panel, status, export files, session."""
        delete_session(session, self.clock(), self.texts["first_message"])
        _remove_served_copies(served_files)
        return (*self.view(session, self.texts["delete_done"]), gr.update(value=None, visible=False), session)

    # -- help --------------------------------------------------------------------------------
    def open_help(self, session: Session) -> tuple:
        """Outputs: help panel, session."""
        session.help_open, session.help_hidden = True, False
        return self.help_update(session), session

    def hide_help(self, session: Session) -> tuple:
        """The panel's own "Hide" button. Outputs: help panel, session."""
        session.help_hidden = True
        return self.help_update(session), session

    def browser_country(self, guess: str | None, session: Session) -> tuple:
        """The country the browser suggests (language region, time zone), used until the person
        picks one; kept in this session only. Outputs: country selector, help panel, session."""
        if not (guess or "").strip():
            return gr.update(), self.help_update(session), session
        session.conversation.country = self.country_code(guess)
        return gr.update(value=session.conversation.country), self.help_update(session), session

    def set_country(self, code: str, session: Session) -> tuple:
        """Outputs: help panel, session. Later crisis replies use the new country too."""
        session.conversation.country = self.country_code(code)
        return self.help_update(session), session

    # -- demo mode ---------------------------------------------------------------------------
    def set_demo(self, on: bool, session: Session) -> tuple:
        """Outputs: chatbot, demo column, MITI panel, session."""
        session.demo = bool(on)
        return (self.messages(session), gr.update(visible=session.demo), self.miti_html(session), session)

    def practice(self, text: str, session: Session, person_line: str | None = None) -> str:
        """The code of a practice reply, from what is on screen only (the reply and the person's
        line typed beside it), so the same inputs get the same code in any session."""
        coder = self.listener.coder
        if coder is None:
            return f"<p>{render._e(self.texts['practice_no_coder'])}</p>"
        if not (text or "").strip():
            return "<p>Type a reply to see how it is coded.</p>"
        person_line = (person_line or "").strip() or None
        code = coder.code(text, prompt=person_line)
        key = f"{code.code}:{code.subtype}" if code.subtype else code.code
        rewrite = None
        if code.code == "advice" and person_line and not self.listener.screen.assess_message(person_line).route:
            from chatbot.listening import echo

            rewrite = f"It sounds like {echo(person_line)[0]}."
        explanations: Any = self.texts.get("practice_explain") or {}
        return render.practice_html(code, str(explanations.get(key, "")), rewrite, self.texts)

    # -- export ------------------------------------------------------------------------------
    def transcript(self, session: Session) -> dict:
        from chatbot.transcript import transcript_data

        model = self.listener.model
        identity = model.identity.as_dict() if model is not None else None
        extra = {"pipeline": self.listener.pipeline is not None, "history_tokens": self.listener.history_tokens}
        return transcript_data(
            session.conversation,
            model=identity,
            settings=asdict(self.listener.settings),
            exported_at=self.clock(),
            started_at=session.started_at,
            disclosures=[n.as_dict() for n in session.notices],
            extra_settings=extra,
        )

    def export(self, session: Session) -> tuple:
        """Outputs: export files, session. Writes only now, into this session's own folder."""
        from chatbot.transcript import export_session

        if session.export_dir is None:
            session.export_dir = tempfile.mkdtemp(prefix="listener-export-", dir=self.export_root)
        md, js = export_session(self.transcript(session), session.export_dir)
        return gr.update(value=[str(md), str(js)], visible=True), session


def _remove_served_copies(paths: list[str] | None) -> None:
    """Gradio serves downloads from copies in its own temp folder; remove ours there too."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    for raw in paths or []:
        path = Path(raw).resolve()
        if root in path.parents and path.suffix in {".md", ".json"}:
            path.unlink(missing_ok=True)


def cleanup_session(session: Session | None) -> None:
    """gr.State delete callback: when Gradio drops a closed session, drop its exports too."""
    delete_exports(session)
