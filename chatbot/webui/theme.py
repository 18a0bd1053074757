"""Look of the page: system fonts only (no web-font downloads), high-contrast help panel."""

from __future__ import annotations

SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
                "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

CSS = """
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
#disclosure { font-size: 0.95rem; border-left: 4px solid #1d4ed8; padding: 0.25rem 0.75rem;
  background: #eff6ff; color: #0f172a; }
#get-help { background: #b91c1c; color: #ffffff; font-weight: 700; border: 2px solid #7f1d1d; }
#get-help:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible {
  outline: 3px solid #f59e0b; outline-offset: 2px; }
.help-panel { border: 3px solid #b91c1c; border-radius: 8px; background: #fef2f2;
  color: #1f2937; padding: 0.75rem 1rem; }
.help-panel h2 { color: #7f1d1d; margin: 0 0 0.5rem 0; font-size: 1.25rem; }
.help-emergency { font-size: 1.15rem; color: #7f1d1d; }
.help-extra { color: #374151; }
.miti-panel table { border-collapse: collapse; width: 100%; }
.miti-panel th, .miti-panel td { border: 1px solid #cbd5e1; padding: 0.3rem 0.5rem; text-align: left; }
.miti-panel caption { font-weight: 700; text-align: left; padding-bottom: 0.3rem; }
.rating-good { color: #166534; font-weight: 700; }
.rating-fair { color: #92400e; font-weight: 700; }
.rating-below-fair { color: #991b1b; font-weight: 700; }
"""


def make_theme():
    import gradio as gr

    return gr.themes.Default(
        primary_hue="blue", neutral_hue="slate", font=list(SYSTEM_FONTS), font_mono=list(MONO_FONTS),
    )
