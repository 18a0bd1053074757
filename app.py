"""The web app: `python app.py` serves a private reflective-listening chat on 127.0.0.1.

Thin on purpose: the engine, safety screen and technique coder live in their packages; what each
control does is in chatbot/webui/handlers.py. The model is built only under __main__.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatbot.factory import offline_environment

if TYPE_CHECKING:
    from chatbot.config import Config
    from chatbot.engine import Listener

offline_environment()  # no analytics, no hub: before gradio is imported
import gradio as gr  # noqa: E402

from chatbot.webui.handlers import ChatHandlers, cleanup_session  # noqa: E402
from chatbot.webui.render import load_texts, status_html  # noqa: E402
from chatbot.webui.theme import CSS, make_theme  # noqa: E402

# The chat log is Gradio's role="log" aria-live region; marking it busy while a reply streams
# lets screen readers announce the reply once, when it is complete.
_BUSY = "() => {{ document.querySelector('#chat-log [role=log]')?.setAttribute('aria-busy', '{}'); }}"
BUSY_ON, BUSY_OFF = _BUSY.format("true"), _BUSY.format("false")
# On Send: the person's own message goes into the log at once, in the browser, so it is on screen
# while they wait in the queue; the server's first update replaces it with the same text. Escaped
# as render.as_plain_text does (HTML, then Markdown punctuation). The last reply's status goes.
SHOW_OWN = r"""(text, log) => {
  document.querySelector('#chat-log [role=log]')?.setAttribute('aria-busy', 'true');
  const status = STATUS;
  if (!(text || '').trim()) return [log, status];
  const shown = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/([\\`*_{}\[\]()#+\-.!|~$])/g, '\\$1');
  return [[...(log || []), {role: 'user', metadata: null, options: null, content: [{type: 'text', text: shown}]}], status];
}""".replace("STATUS", json.dumps(status_html("")))
# Bring the panel into view and move focus to its heading, once the update has rendered.
SHOW_HELP = """() => {
  let tries = 0;
  const show = () => {
    const heading = document.querySelector('#help-panel #help-heading');
    if (!heading) { if (tries++ < 40) setTimeout(show, 50); return; }
    document.getElementById('help-panel').scrollIntoView({block: 'start'});
    heading.focus();
  };
  show();
}"""


def focus_js(selector: str) -> str:
    """Move focus to `selector` once the update that shows it has rendered."""
    return _FOCUS.replace("SELECTOR", json.dumps(selector))


_FOCUS = """() => {
  let tries = 0;
  const go = () => {
    const el = document.querySelector(SELECTOR);
    if (el && el.offsetParent !== null) { el.focus(); return; }
    if (tries++ < 40) setTimeout(go, 50);
  };
  go();
}"""
# Only the panel's own Hide button sends a click to the server (not its phone links).
HELP_PANEL_JS = "element.addEventListener('click', (e) => { if (e.target.closest('.help-hide')) trigger('click'); });"
# The country for help lines, from the browser: its time zone (where the person is), else the
# region of its language ("en-GB"). Nothing is stored; the person can change it.
GUESS_COUNTRY = r"""(current, session) => {
  const guess = (() => {
  const zones = {'Europe/London': 'GB', 'Europe/Belfast': 'GB', 'Europe/Dublin': 'IE',
    'Europe/Berlin': 'DE', 'Europe/Busingen': 'DE', 'Europe/Paris': 'FR', 'Asia/Kolkata': 'IN',
    'Asia/Calcutta': 'IN', 'Pacific/Auckland': 'NZ', 'Pacific/Chatham': 'NZ'};
  const canada = ['Toronto', 'Vancouver', 'Edmonton', 'Winnipeg', 'Halifax', 'St_Johns', 'Regina',
    'Moncton', 'Whitehorse', 'Yellowknife', 'Iqaluit', 'Glace_Bay', 'Goose_Bay', 'Montreal'];
  const usa = ['New_York', 'Chicago', 'Denver', 'Los_Angeles', 'Phoenix', 'Anchorage', 'Detroit',
    'Boise', 'Juneau', 'Adak', 'Sitka', 'Nome', 'Menominee'];
  let tz = '';
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) {}
  const city = tz.startsWith('America/') ? tz.slice(8) : '';
  if (zones[tz]) return zones[tz];
  if (tz.startsWith('Australia/')) return 'AU';
  if (canada.includes(city)) return 'CA';
  if (usa.includes(city) || /^(Indiana|Kentucky|North_Dakota)\//.test(city) || tz === 'Pacific/Honolulu') return 'US';
  for (const lang of navigator.languages || [navigator.language]) {
    const m = /^[a-z]{2,3}[-_]([a-z]{2})\b/i.exec(lang || '');
    if (m) return m[1].toUpperCase();
  }
  return '';
  })();
  return [guess, session];
}"""


def launch_options() -> dict[str, Any]:
    """Theme and CSS (Gradio 6 takes them in launch()), and no browser-side run history: Gradio
    would otherwise keep every message in the browser's storage, outside Delete's reach."""
    return {"theme": make_theme(), "css": CSS, "run_history": False, "footer_links": []}


def build_app(
    listener: Listener,
    config: Config | None = None,
    *,
    clock: Callable[[], float] = time.time,
    export_root: str | None = None,
) -> gr.Blocks:
    from safety import list_countries

    if config is None:
        from chatbot.config import default_config

        config = default_config()
    texts = load_texts()
    h = ChatHandlers(listener, clock=clock, texts=texts, export_root=export_root)
    country = h.country_code(config.locale.country)

    def fresh_session():  # a plain function: gr.State calls it once per browser session
        return h.new_session(country)

    with gr.Blocks(title=texts["title"], analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        session = gr.State(fresh_session, delete_callback=cleanup_session)
        with gr.Row(equal_height=True, elem_id="header"):
            gr.Markdown(f"# {texts['title']}", elem_id="title")
            help_btn = gr.Button(texts["help_button"], elem_id="get-help", scale=0, min_width=0)
        gr.Markdown(texts["disclosure"], elem_id="disclosure")
        help_panel = gr.HTML(visible=False, elem_id="help-panel", js_on_load=HELP_PANEL_JS)
        chatbot = gr.Chatbot(
            value=[{"role": "assistant", "content": texts["first_message"]}],
            elem_id="chat-log",
            label="Conversation",
            height="var(--chat-log-height)",  # theme.py: the window's height less the rest of the view
            feedback_options=None,
            allow_tags=False,
            sanitize_html=True,
            latex_delimiters=[],
            buttons=["copy"],
        )
        status = gr.HTML(status_html(""), elem_id="reply-status")
        with gr.Row(elem_id="compose"):
            msg = gr.Textbox(
                label="Your message",
                placeholder="Type here; Enter sends, Shift+Enter starts a new line",
                lines=1,
                max_lines=8,
                scale=5,
                min_width=0,
                elem_id="message",
            )
            send_btn = gr.Button("Send", variant="primary", scale=1, min_width=0, elem_id="send")
            stop_btn = gr.Button("Stop", scale=1, min_width=0, elem_id="stop")
        # Secondary actions in one row; Delete, the one that destroys, comes last.
        with gr.Row(elem_id="actions"):
            retry_btn = gr.Button("Retry", size="sm", min_width=0, elem_id="retry")
            undo_btn = gr.Button("Undo", size="sm", min_width=0, elem_id="undo")
            export_btn = gr.Button(texts["export_button"], size="sm", min_width=0, elem_id="export")
            delete_btn = gr.Button(texts["delete_button"], size="sm", min_width=0, elem_id="delete")
        with gr.Row(visible=False, elem_id="delete-confirm") as confirm_row:
            gr.Markdown(texts["delete_question"], elem_id="delete-question")
            confirm_btn = gr.Button(
                texts["delete_confirm"], variant="stop", size="sm", min_width=0, elem_id="delete-yes"
            )
            cancel_btn = gr.Button(texts["delete_cancel"], size="sm", min_width=0, elem_id="delete-no")
        files = gr.File(
            label="Transcript", file_count="multiple", visible=False, interactive=False, elem_id="export-files"
        )
        with gr.Row(elem_id="settings"):
            countries = [(f"{name} ({code})", code) for code, name in list_countries()]
            country_dd = gr.Dropdown(countries, value=country, label=texts["country_label"], elem_id="country")
            demo_toggle = gr.Checkbox(label=texts["demo_label"], value=False, elem_id="demo-toggle")
        with gr.Column(visible=False, elem_id="demo-panel") as demo_col:
            gr.Markdown(texts["demo_intro"])
            miti = gr.HTML(elem_id="miti-panel")
            practice_person = gr.Textbox(label=texts["practice_person_label"], lines=1, elem_id="practice-person")
            practice = gr.Textbox(label=texts["practice_label"], lines=2, elem_id="practice")
            practice_btn = gr.Button(texts["practice_button"], size="sm", elem_id="practice-code")
            practice_out = gr.HTML(elem_id="practice-result")
        gr.Markdown(" ".join([texts["export_note"], texts["delete_note"], texts["queue_note"]]), elem_id="notes")

        # Replies: one generation at a time per config; the next person sees a queue position.
        # Progress (the queue place) shows once, on the log, never over the message box.
        generation = {
            "concurrency_limit": config.app.concurrency_limit,
            "concurrency_id": "generation",
            "show_progress_on": [chatbot],
        }
        chat_out = [msg, chatbot, help_panel, miti, status, session]
        view_out = [chatbot, help_panel, miti, status, session]
        # Mark the log busy first, then stream; Stop cancels whichever stream is running.
        streams = [
            msg.submit(None, [msg, chatbot], [chatbot, status], js=SHOW_OWN).then(
                h.send, [msg, session], chat_out, **generation
            ),
            send_btn.click(None, [msg, chatbot], [chatbot, status], js=SHOW_OWN).then(
                h.send, [msg, session], chat_out, **generation
            ),
            retry_btn.click(None, js=BUSY_ON).then(h.retry, [session], view_out, **generation),
        ]
        for event in streams:
            event.then(None, js=BUSY_OFF)
        stop_btn.click(None, js=BUSY_OFF)
        stop_btn.click(h.stopped, [msg, session], chat_out, cancels=streams)
        undo_btn.click(h.undo, [session], view_out)
        # Delete asks first (focus on "Keep it", so a second Enter deletes nothing), then says it is done.
        delete_out = [*view_out[:-1], files, session]
        delete_btn.click(lambda: gr.update(visible=True), None, confirm_row, show_progress="hidden").then(
            None, js=focus_js("#delete-no")
        )
        cancel_btn.click(lambda: gr.update(visible=False), None, confirm_row, show_progress="hidden").then(
            None, js=focus_js("#delete")
        )
        confirm_btn.click(lambda: gr.update(visible=False), None, confirm_row, show_progress="hidden").then(
            h.delete, [session, files], delete_out
        ).then(None, js=focus_js("#message textarea"))
        export_btn.click(h.export, [session], [files, session])
        help_btn.click(h.open_help, [session], [help_panel, session]).then(None, js=SHOW_HELP)
        help_panel.click(h.hide_help, [session], [help_panel, session])
        country_dd.change(h.set_country, [country_dd, session], [help_panel, session])
        demo.load(
            h.browser_country,
            [country_dd, session],
            [country_dd, help_panel, session],
            js=GUESS_COUNTRY,
            show_progress="hidden",
        )
        demo_toggle.change(h.set_demo, [demo_toggle, session], [chatbot, demo_col, miti, session])
        practice_btn.click(h.practice, [practice, session, practice_person], practice_out)
    return demo


def main(argv: list[str] | None = None) -> int:
    from chatbot.cli import load_listener

    loaded = load_listener("python app.py", __doc__, argv)
    if loaded is None:
        return 2
    config, listener = loaded
    demo = build_app(listener, config)
    demo.queue(default_concurrency_limit=config.app.concurrency_limit)
    demo.launch(
        server_name=config.app.host,
        server_port=config.app.port,
        ssr_mode=False,
        show_error=False,
        pwa=False,
        mcp_server=False,
        **launch_options(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
