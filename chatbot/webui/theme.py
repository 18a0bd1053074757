"""Look of the page: system fonts only (no web-font downloads), high-contrast help panel.

Colours live in COLORS, and CONTRAST_PAIRS names which text sits on which background, so a test
can hold every pair to WCAG AA (4.5:1).
"""

from __future__ import annotations

from string import Template

SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

COLORS = {
    "disclosure_fg": "#0f172a",
    "disclosure_bg": "#eff6ff",
    "disclosure_rule": "#1d4ed8",
    "help_button_fg": "#ffffff",
    "help_button_bg": "#b91c1c",
    "help_button_border": "#7f1d1d",
    "focus": "#f59e0b",
    "panel_fg": "#1f2937",
    "panel_bg": "#fef2f2",
    "panel_border": "#b91c1c",
    "panel_heading": "#7f1d1d",
    "panel_extra": "#374151",
    "table_border": "#cbd5e1",
    "page_bg": "#ffffff",
    "good": "#166534",
    "fair": "#92400e",
    "below_fair": "#991b1b",
}
CONTRAST_PAIRS = [
    ("disclosure_fg", "disclosure_bg"),
    ("help_button_fg", "help_button_bg"),
    ("panel_fg", "panel_bg"),
    ("panel_heading", "panel_bg"),
    ("panel_extra", "panel_bg"),
    ("good", "page_bg"),
    ("fair", "page_bg"),
    ("below_fair", "page_bg"),
]

_CSS = Template("""
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
#disclosure { font-size: 0.95rem; border-left: 4px solid $disclosure_rule;
  padding: 0.25rem 0.75rem; background: $disclosure_bg; color: $disclosure_fg; }
#disclosure * { color: $disclosure_fg; }
#get-help { background: $help_button_bg; color: $help_button_fg; font-weight: 700;
  border: 2px solid $help_button_border; }
#get-help:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible {
  outline: 3px solid $focus; outline-offset: 2px; }
/* Gradio's own textbox style removes the outline; where you type must show it has focus. */
#message textarea:focus { outline: 3px solid $focus !important; outline-offset: 1px; }
.help-panel { border: 3px solid $panel_border; border-radius: 8px; background: $panel_bg;
  color: $panel_fg; padding: 0.75rem 1rem; }
.help-panel h2 { color: $panel_heading; margin: 0 0 0.5rem 0; font-size: 1.25rem; }
.help-emergency { font-size: 1.15rem; color: $panel_heading; }
.help-extra { color: $panel_extra; }
/* The status line says what is happening; its progress overlay would cover Send and Stop. */
#reply-status [data-testid="status-tracker"] { display: none !important; }
#reply-status { padding: 0 0.25rem !important; min-height: 0; }
#reply-status .html-container { padding: 0 0.5rem; }
.reply-status { margin: 0; min-height: 1.4em; color: $panel_fg; font-size: 0.95rem; }
.reply-status.typing::after { content: ""; display: inline-block; width: 1.5em; text-align: left;
  animation: typing-dots 1.2s steps(4, end) infinite; }
@keyframes typing-dots { 0% { content: ""; } 25% { content: "."; } 50% { content: ".."; } 75% { content: "..."; } }
@media (prefers-reduced-motion: reduce) { .reply-status.typing::after { animation: none; content: "..."; } }
/* The chat log takes the window's height less what must stay in view (title, disclosure, the
   message box and the action row), so the box is never pushed off the screen. */
#chat-log { --chat-log-height: max(240px, calc(100dvh - 370px)); }
/* Gradio's own bin icon would clear the log at once, without asking, early in the tab order. */
#chat-log button[aria-label="Clear"] { display: none; }
#title h1 { margin: 0; white-space: nowrap; overflow-wrap: normal; word-break: keep-all; }
#header { flex-wrap: nowrap; align-items: center; row-gap: 0.5rem; }
#get-help { flex: 0 0 auto !important; min-width: max-content !important; white-space: nowrap; }
#actions, #compose, #delete-confirm { flex-wrap: nowrap; gap: 0.5rem; }
#delete-confirm { align-items: center; border: 2px solid $panel_border; border-radius: 6px; padding: 0.5rem; }
@media (max-width: 640px) {
  #chat-log { --chat-log-height: max(200px, calc(100dvh - 540px)); }
  /* The title keeps a line of its own, the button goes below it (beside it, one of them is cut). */
  #header { flex-wrap: wrap; }
  #title { flex: 1 0 100% !important; }
  #title h1 { font-size: 1.25rem; }
  /* The MITI table fits the screen instead of running off its edge. */
  .miti-panel table { table-layout: fixed; }
  .miti-panel th, .miti-panel td { padding: 0.25rem 0.3rem; font-size: 0.8rem; overflow-wrap: break-word; }
  #get-help { padding: 0.5rem 0.6rem; font-size: 0.95rem; }
  #disclosure, #disclosure p { font-size: 0.85rem; }
  #compose { flex-wrap: wrap; }
  #compose > .form { flex: 1 1 100% !important; min-width: 100% !important; }
  #settings, #delete-confirm { flex-direction: column; align-items: stretch; }
}
""")
CSS = _CSS.substitute(COLORS)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours."""

    def luminance(color: str) -> float:
        channels = [int(color.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def make_theme():
    import gradio as gr

    theme = gr.themes.Default(
        primary_hue="blue",
        neutral_hue="slate",
        font=list(SYSTEM_FONTS),
        font_mono=list(MONO_FONTS),
    )
    # the default primary (blue-500 under white text) is 3.7:1; blue-700 is 6.7:1
    return theme.set(
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_text_color="white",
    )
