"""Slides that show results, not code (issue 25): one presentation style for all five lectures.

Fast checks read the committed notebooks: no assert on any slide, every slide and sub-slide
opens with a heading, no note about how a lecture was made or run, few visible code lines per
slide, figures fitted for slides, clean lecture titles. The publishing machinery is checked on
small notebooks: hidden inputs leave the slides, the reading site folds them, lists clean titles
and lands links on headings, ``course site`` rebuilds it. The slow checks execute each lecture
and measure every figure it shows (no text under 16 px at 1280x720) and every number it prints
(no float noise); the browser check measures the slide geometry those numbers rest on.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import lecture_structure as structure
import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils import viz  # noqa: E402
from course_utils.publish import build, figures, notebooks, site  # noqa: E402
from course_utils.viz import slides as viz_slides  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted(REPO.glob("lectures/*.ipynb"))
LECTURE_TIMEOUT_S = 600


@pytest.fixture(scope="module", params=LECTURES, ids=lambda p: p.stem[:2])
def lecture(request):
    return notebooks.read_notebook(request.param)


# ------------------------------------------------------------------ the lectures, as committed


def test_five_lectures():
    assert len(LECTURES) == 5


def test_no_assert_on_any_slide(lecture):
    structure.check_no_visible_assert(lecture)


def test_every_slide_and_sub_slide_opens_with_a_heading(lecture):
    structure.check_every_slide_has_heading(lecture)


def test_no_notes_about_how_the_lecture_was_made_or_run(lecture):
    structure.check_no_making_of_notes(lecture)


def test_few_visible_code_lines_per_slide(lecture):
    structure.check_visible_code_per_slide(lecture)


def test_figures_are_fitted_for_slides(lecture):
    """The set-up cell makes every figure the lecture shows readable at 1280x720."""
    first_code = next(cell for cell in lecture.cells if cell.cell_type == "code")
    assert "cu.viz.slide_figures()" in first_code.source


def test_lecture_title_is_clean(lecture):
    """'# Lecture N — Title' first; the site lists it without its deck page."""
    title = site.lecture_title(lecture)
    assert re.fullmatch(r"Lecture [1-5] — [A-Z][^()]+", title), title
    assert "deck" not in title


def test_lecture_numbers_match_file_names():
    for path in LECTURES:
        title = site.lecture_title(notebooks.read_notebook(path))
        assert title.startswith(f"Lecture {int(path.name[:2])} — "), (path.name, title)


def test_the_student_guide_uses_the_lecture_names():
    """The same lecture names everywhere: the guide's course table names each by its title."""
    guide = (REPO / "docs" / "student-guide.md").read_text(encoding="utf-8")
    for path in LECTURES:
        name = site.lecture_title(notebooks.read_notebook(path)).split(" — ", 1)[1]
        assert f"| {name} (`{path.stem}`) |" in guide, name


def test_no_progress_bars(lecture):
    """Every training run keeps its progress bar off (``cu.training.train`` shows one by default)."""
    for index, cell in enumerate(lecture.cells):
        for call in re.findall(r"cu\.training\.train\((?:[^()]|\([^()]*\))*\)", cell.source):
            assert "progress=False" in call, f"cell {index}: {call[:60]}"


# ------------------------------------------------------------------ the checks can fail


def _notebook(*cells: tuple[str, str, str, list[str]]) -> nbformat.NotebookNode:
    """A notebook of (kind, source, slide_type, tags) cells."""
    notebook = nbformat.v4.new_notebook()
    for kind, source, slide_type, tags in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = make(source)
        cell.metadata["slideshow"] = {"slide_type": slide_type}
        if tags:
            cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    return notebook


def test_style_checks_fail_on_what_they_forbid():
    bad = _notebook(
        ("markdown", "## A slide", "slide", []),
        ("code", "x = 1\nassert x == 1", "-", []),
        ("code", "print(x)", "subslide", []),
        ("markdown", "The slide shows a cat; runtime 3 s.", "-", []),
        ("code", "\n".join(f"y{i} = {i}" for i in range(20)), "-", []),
    )
    for check in (
        structure.check_no_visible_assert,
        structure.check_every_slide_has_heading,
        structure.check_no_making_of_notes,
        structure.check_visible_code_per_slide,
    ):
        with pytest.raises(AssertionError):
            check(bad)
    good = _notebook(
        ("markdown", "## A slide", "slide", []),
        ("code", "x = 1", "-", []),
        ("code", "assert x == 1", "-", ["hide-input"]),
        ("code", "assert x", "skip", []),
        ("markdown", "### Next\n\nThe loop runs in 3 steps.", "subslide", []),
    )
    structure.check_no_visible_assert(good)
    structure.check_every_slide_has_heading(good)
    structure.check_no_making_of_notes(good)
    structure.check_visible_code_per_slide(good)


# ------------------------------------------------------------------ slides: hidden inputs


def _executed_like(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every code cell that prints a stream output, as if it had run."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("print"):
            text = cell.source.split("'")[1] + "\n"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return notebook


def test_slides_view_hides_inputs_drops_empty_cells_and_keeps_slide_starts():
    notebook = _executed_like(
        _notebook(
            ("markdown", "# Title", "slide", []),
            ("code", "print('SHOWN_OUTPUT')", "-", ["hide-input"]),
            ("code", "assert HIDDEN_ASSERT", "subslide", ["hide-input"]),
            ("markdown", "next text", "-", []),
            ("code", "REMOVED_CELL = 1", "-", ["remove-cell"]),
            ("code", "print('VISIBLE_CODE')", "-", []),
        )
    )
    view = notebooks.slides_view(notebook)
    sources = [cell.source for cell in view.cells]
    assert "assert HIDDEN_ASSERT" not in sources and "REMOVED_CELL = 1" not in sources
    kinds = [cell.metadata["slideshow"]["slide_type"] for cell in view.cells]
    assert kinds == ["slide", "-", "subslide", "-"]  # the dropped cell's sub-slide passed on
    assert notebooks.input_hidden(notebook.cells[1]) and not notebooks.input_hidden(
        notebook.cells[5]
    )


def test_exported_slides_show_outputs_not_hidden_code(tmp_path):
    notebook = _executed_like(
        _notebook(
            ("markdown", "# Title", "slide", []),
            ("code", "print('SHOWN_OUTPUT')", "-", ["hide-input"]),
            ("code", "assert HIDDEN_ASSERT", "-", ["hide-input"]),
            ("markdown", "## Second", "subslide", []),
            ("code", "print('VISIBLE_CODE')", "-", []),
        )
    )
    html = notebooks.export_slides(notebook, tmp_path / "deck.slides.html").read_text()
    assert "SHOWN_OUTPUT" in html and "VISIBLE_CODE" in html
    assert "print(&#39;SHOWN_OUTPUT" not in html and "print('SHOWN_OUTPUT" not in html
    assert "HIDDEN_ASSERT" not in html
    page = notebooks.export_html(notebook, tmp_path / "page.html").read_text()
    assert "HIDDEN_ASSERT" in page  # the page keeps the whole notebook


def test_static_widgets_tick_boxes_and_name_no_shell_command():
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {
        notebooks.WIDGET_STATE: {
            "state": {
                "box": {
                    "model_name": "CheckboxModel",
                    "state": {"value": True, "description": "1x1 bottleneck"},
                },
                "off": {
                    "model_name": "CheckboxModel",
                    "state": {"value": False, "description": "other"},
                },
            }
        }
    }
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={notebooks.WIDGET_VIEW: {"model_id": m}, "text/plain": "w"},
        )
        for m in ("box", "off")
    ]
    notebook.cells.append(cell)
    html = json.dumps(notebooks.static_widgets(notebook).cells[0].outputs)
    assert 'type=\\"checkbox\\" disabled checked> 1x1 bottleneck' in html
    assert 'type=\\"checkbox\\" disabled> other' in html
    assert "True" not in html and "False" not in html
    assert "jupyter lab" not in notebooks.WIDGET_NOTE and ".venv" not in notebooks.WIDGET_NOTE


# ------------------------------------------------------------------ the reading site


def test_site_titles_are_clean_and_the_same_in_page_and_contents(tmp_path):
    notebook = _notebook(("markdown", "# Lecture 7 — Things (deck p. 1)\n\nText.", "slide", []))
    assert site.lecture_title(notebook) == "Lecture 7 — Things"
    cleaned = site.clean_title(notebook)
    assert cleaned.cells[0].source == "# Lecture 7 — Things\n\nText."
    toc = json.loads(site._toc(["lectures/07"], [], None, {"lectures/07": "Lecture 7 — Things"}))
    assert toc["parts"][0]["chapters"] == [{"file": "lectures/07", "title": "Lecture 7 — Things"}]
    with pytest.raises(ValueError):
        site.lecture_title(_notebook(("markdown", "no title", "slide", [])))


def test_site_anchors_move_above_their_heading():
    notebook = _notebook(
        ("markdown", '## Stride (deck p. 5)\n\nText.\n\n<a id="stride"></a>', "slide", []),
        ("markdown", 'No heading here.\n<a id="x"></a>', "-", []),
    )
    moved = site.anchors_at_headings(notebook)
    assert moved.cells[0].source == '<a id="stride"></a>\n\n## Stride (deck p. 5)\n\nText.'
    assert moved.cells[1].source == notebook.cells[1].source
    assert notebook.cells[0].source.startswith("## Stride")  # the input is not changed


def test_site_css_keeps_links_below_the_header_and_tables_whole():
    config = json.loads(site._config())
    assert site.CSS_FILE in config["sphinx"]["config"]["html_css_files"]
    assert "scroll-margin-top" in site.SITE_CSS and "overflow-x: auto" in site.SITE_CSS


def test_course_site_reuses_executed_lectures_and_reports_failures(tmp_path, monkeypatch):
    lectures = tmp_path / "lectures"
    lectures.mkdir()
    for name in ("01_a", "02_b"):
        nbformat.write(
            _notebook(("markdown", "# Lecture 1 — A", "slide", [])), lectures / f"{name}.ipynb"
        )
    calls, built = [], []

    def executed_lecture(root, path, reuse=True):
        calls.append((path.stem, reuse))
        if path.stem == "02_b":
            raise RuntimeError("cell 3 failed")
        return notebooks.read_notebook(path), "reused"

    def build_site(root, executed, build_dir):
        built.append([p.name for p in executed])
        return build_dir / "site" / "index.html"

    monkeypatch.setattr(build, "executed_lecture", executed_lecture)
    monkeypatch.setattr(site, "build_site", build_site)
    lines: list[str] = []
    assert build.build_site_only(tmp_path, progress=lines.append) is None  # one lecture failed
    assert calls == [("01_a", True), ("02_b", True)] and built == [["01_a.ipynb"]]
    assert any("02_b: FAILED" in line and "cell 3 failed" in line for line in lines)
    calls.clear()
    monkeypatch.setattr(build, "lecture_paths", lambda root: [lectures / "01_a.ipynb"])
    assert build.build_site_only(tmp_path, fresh=True, progress=lines.append) is not None
    assert calls == [("01_a", False)]


def test_course_site_command_is_wired():
    from course_utils import cli

    args = cli.make_parser().parse_args(["site", "--fresh"])
    assert args.func is cli._cmd_site and args.fresh


# ------------------------------------------------------------------ figure text and numbers


def test_text_px_follows_the_slide_geometry():
    assert viz_slides.text_px(12, 500, 100) == pytest.approx(12 * 100 / 72 * 0.987)
    shrunk = viz_slides.text_px(12, 2 * viz_slides.SLIDE_IMAGE_PX, 100)
    assert shrunk == pytest.approx(viz_slides.text_px(12, 500, 100) / 2)
    with pytest.raises(ValueError):
        viz_slides.text_px(12, 0, 100)


@pytest.mark.parametrize("figsize", [(4, 3), (10, 3.5), (14, 4)])
def test_fit_for_slides_reaches_16_px(figsize):
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_title("a title", fontsize=8)
    ax.legend(fontsize=6)
    ax.set_xlabel("x", fontsize=7)
    assert viz_slides.slide_text_px(fig) < 16
    assert viz.fit_for_slides(fig, measure=True) is fig
    assert viz_slides.slide_text_px(fig) >= 16
    plt.close(fig)


@pytest.mark.parametrize("figsize", [(4, 3), (10, 3.5)])
def test_fit_for_slides_without_drawing_reaches_16_px(figsize):
    """The quick estimate (the figure's width, no drawing) is enough for a figure whose
    contents stay inside it."""
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.set_title("a title", fontsize=8)
    ax.set_xlabel("x", fontsize=7)
    viz.fit_for_slides(fig)
    assert viz_slides.slide_text_px(fig) >= 16
    plt.close(fig)


def test_fit_for_slides_works_without_pyplot():
    """A widget draws on a bare Figure(): no pyplot canvas, no renderer of its own."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    fig.subplots().set_title("small", fontsize=7)
    viz.fit_for_slides(fig)
    assert viz_slides.slide_text_px(fig) >= 16


def test_fit_for_slides_keeps_large_text_and_refuses_non_figures():
    fig, ax = plt.subplots(figsize=(5, 3))
    big = ax.set_title("big", fontsize=30)
    viz.fit_for_slides(fig)
    assert big.get_fontsize() == 30
    with pytest.raises(TypeError):
        viz.fit_for_slides(ax)
    with pytest.raises(ValueError):
        viz.fit_for_slides(fig, minimum_px=0)
    plt.close(fig)
    assert viz.slide_figures() is False  # outside IPython nothing shows figures


def test_float_noise_is_found():
    assert figures.float_noise("loss 0.09999999999999998 and 0.30000000000000004") == [
        "0.09999999999999998",
        "0.30000000000000004",
    ]
    assert figures.float_noise("0.1 1.25 12,832 3.1416 1e-05 2.000 v1.0000") == []
    assert figures.unrounded("losses=[2.2978100776672363, 0.25]") == ["2.2978100776672363"]
    assert figures.unrounded("0.123456 3.14 1.5e-07") == []


def test_small_figure_text_reads_recorded_notes():
    notebook = _notebook(
        ("code", "fig", "-", []),
        ("code", "fig", "skip", []),
        ("code", "fig", "-", []),
    )
    notebook.cells[0].metadata[figures.FIGURES_KEY] = [
        {"min_font_pt": 9.0, "dpi": 100.0, "width_px": 600, "height_px": 300}
    ]
    notebook.cells[1].metadata[figures.FIGURES_KEY] = [
        {"min_font_pt": 6.0, "dpi": 100.0, "width_px": 600, "height_px": 300}
    ]
    notebook.cells[2].metadata[figures.FIGURES_KEY] = [
        {"min_font_pt": 13.5, "dpi": 100.0, "width_px": 1000, "height_px": 300}
    ]
    small = figures.small_figure_text(notebook)
    assert [found.cell for found in small] == [0]  # the skipped cell is not on a slide
    assert small[0].px == pytest.approx(9 * 100 / 72 * 0.987)
    with pytest.raises(ValueError):
        figures.figure_texts(_notebook(("code", "x", "-", [])))


@pytest.mark.slow
def test_execute_notebook_records_figures_fitted_for_slides(tmp_path):
    """In a kernel, slide_figures() fits every figure shown, pyplot's and a widget's bare
    Figure(); execute_notebook(record_figures=True) notes their text size per cell."""
    notebook = _notebook(
        ("code", "import course_utils as cu\ncu.viz.slide_figures()", "-", []),
        ("code", PYPLOT_FIGURE, "-", []),
        ("code", BARE_FIGURE, "-", []),
        ("code", "print(1)", "-", []),
    )
    path = tmp_path / "figs.ipynb"
    nbformat.write(notebook, path)
    executed, _ = notebooks.execute_notebook(path, timeout=120, record_figures=True)
    assert not [o for c in executed.cells for o in c.outputs if o.output_type == "error"]
    texts = figures.figure_texts(executed)
    assert [found.cell for found in texts] == [1, 2]
    assert all(found.px >= 16 for found in texts), [found.describe() for found in texts]
    assert figures.FIGURES_KEY not in executed.cells[3].metadata


PYPLOT_FIGURE = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.set_title('small', fontsize=8);"""
BARE_FIGURE = """from IPython.display import display
from matplotlib.figure import Figure
bare = Figure(figsize=(10, 3))
bare.subplots().set_title('small too', fontsize=7)
display(bare)"""


def _shown_text(cell: nbformat.NotebookNode) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            texts.append(output.get("text", ""))
        data = output.get("data", {})
        for kind in ("text/plain", "text/markdown", "text/html"):
            if kind in data and not any(k.startswith("image/") for k in data):
                texts.append(data[kind])
    return "\n".join(texts)


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem[:2])
def test_lecture_figures_readable_and_numbers_clean(path):
    """Executed: no figure on a slide has text under 16 px at 1280x720; no number shown on a
    slide carries float noise (0.09999999999999998) or goes unrounded (2.2978100776672363).
    The lecture is executed once per run, with its figures recorded (tests/executed_lectures.py)."""
    from executed_lectures import execute_once

    run = execute_once(path)
    assert not run.error, f"{path.name} did not execute: {run.error}"
    executed = run.notebook()
    small = figures.small_figure_text(executed)
    assert not small, "\n".join(found.describe() for found in small)
    noisy = [
        (index, (figures.float_noise(text) + figures.unrounded(text))[:3])
        for index, cell in enumerate(executed.cells)
        if cell.cell_type == "code" and figures.shown_on_slides(cell)
        for text in [_shown_text(cell)]
    ]
    noisy = [(index, found) for index, found in noisy if found]
    assert not noisy, f"numbers with float noise or not rounded (cell, numbers): {noisy}"


# ------------------------------------------------------------------ the geometry, in Chromium


_IMAGES_JS = """() => {
  Reveal.configure({transition: 'none'});
  const found = [];
  for (const slide of Reveal.getSlides()) {
    const at = Reveal.getIndices(slide);
    Reveal.slide(at.h, at.v || 0);
    for (const img of slide.querySelectorAll('img')) {
      found.push({natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
                  scale: Reveal.getScale()});
    }
  }
  return found;
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_slide_geometry_matches_the_constants(tmp_path, chromium):
    """A narrow image shows at its size, a wide one at SLIDE_IMAGE_PX; the slide's scale."""
    from course_utils.publish import browser

    notebook = _notebook(
        ("markdown", "# Narrow", "slide", []),
        ("code", "narrow", "-", ["hide-input"]),
        ("markdown", "# Wide", "slide", []),
        ("code", "wide", "-", ["hide-input"]),
        ("markdown", "# Printed", "slide", []),
        ("code", "print('NUMBERS')", "-", []),
    )
    numbers = ", ".join(f"{0.1 * i:.3f}" for i in range(200))
    notebook.cells[5].outputs = [nbformat.v4.new_output("stream", name="stdout", text=numbers)]
    for cell, size in ((notebook.cells[1], (4, 3)), (notebook.cells[3], (20, 3))):
        fig, ax = plt.subplots(figsize=size)
        ax.plot([0, 1])
        png = tmp_path / "f.png"
        fig.savefig(png, dpi=100, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(png.read_bytes()).decode()
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": data})]
    deck = notebooks.export_slides(notebook, tmp_path / "deck.slides.html")
    context = chromium.new_context(viewport=browser.VIEWPORT)
    page = context.new_page()
    page.goto(deck.resolve().as_uri())
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    narrow, wide = page.evaluate(_IMAGES_JS)
    breaks = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output pre')]"
        ".map(p => getComputedStyle(p).wordBreak)"
    )
    context.close()
    assert breaks == ["normal"]  # printed numbers wrap between words, never inside one
    assert narrow["scale"] == pytest.approx(viz_slides.SLIDE_SCALE, rel=0.01)
    assert narrow["shown"] / narrow["scale"] == pytest.approx(narrow["natural"], rel=0.01)
    assert wide["natural"] > viz_slides.SLIDE_IMAGE_PX
    assert wide["shown"] / wide["scale"] == pytest.approx(viz_slides.SLIDE_IMAGE_PX, rel=0.01)
