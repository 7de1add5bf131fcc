"""Exported decks and pages refer only to local reveal.js and MathJax; widgets become static."""

from __future__ import annotations

import re

import nbformat

from course_utils.publish import notebooks, offline

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//|@import\s+url\(\s*["']?https?:""")


def _notebook_with_a_widget() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nInline $x^2$ and display $$\\sum_i x_i$$"),
        nbformat.v4.new_code_cell("explorer"),
    ]
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    notebook.cells[1].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": view, "text/plain": "VBox()"},
        )
    ]
    figure = nbformat.v4.new_output("stream", name="stdout", text="size 5\n")
    notebook.metadata["widgets"] = {
        notebooks.WIDGET_STATE: {
            "version_major": 2,
            "version_minor": 0,
            "state": {
                "box": {
                    "model_name": "VBoxModel",
                    "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_out"]},
                },
                "slider": {
                    "model_name": "IntSliderModel",
                    "state": {"description": "kernel k", "value": 3, "min": 1, "max": 7},
                },
                "out": {"model_name": "OutputModel", "state": {"outputs": [figure]}},
            },
        }
    }
    return notebook


def test_static_widgets_show_controls_outputs_and_a_note():
    static = notebooks.static_widgets(_notebook_with_a_widget())
    assert "widgets" not in static.metadata
    outputs = static.cells[1].outputs
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert 'kernel k <input type="range" disabled min="1" max="7"' in html
    assert "running notebook" in html
    assert any(o.get("text") == "size 5\n" for o in outputs)
    assert not any(notebooks.WIDGET_VIEW in o.get("data", {}) for o in outputs)


def test_exported_slides_and_page_use_local_copies(tmp_path):
    notebook = _notebook_with_a_widget()
    static = tmp_path / "_static"
    deck = notebooks.export_slides(notebook, tmp_path / "lectures" / "x.slides.html", static)
    page = notebooks.export_html(notebook, tmp_path / "lectures" / "x.html", static)
    for path in (deck, page):
        text = path.read_text(encoding="utf-8")
        assert not REMOTE.search(text), REMOTE.search(text).group(0)
        assert 'src="../_static/mathjax/tex-svg-full.js"' in text
        assert "application/vnd.jupyter.widget-state+json" not in text
    deck_text = deck.read_text(encoding="utf-8")
    assert 'src="../_static/revealjs/dist/reveal.js"' in deck_text
    assert (static / "revealjs" / "dist" / "reveal.js").is_file()
    assert (static / "mathjax" / "tex-svg-full.js").is_file()


def test_copied_reveal_has_only_local_styles_and_fonts(tmp_path):
    assets = offline.copy_assets(tmp_path)
    css = list(assets.reveal.rglob("*.css"))
    assert any(p.name == f"{offline.REVEAL_THEME}.css" for p in css)
    for path in css:
        assert not REMOTE.search(path.read_text(encoding="utf-8")), path
    # a second copy is a no-op
    stamp = assets.reveal / ".copied-from"
    before = stamp.stat().st_mtime_ns
    offline.copy_assets(tmp_path)
    assert stamp.stat().st_mtime_ns == before
