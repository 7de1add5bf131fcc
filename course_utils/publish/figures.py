"""How large a lecture's figure text is on a slide: record it while the lecture runs, in pixels.

``execute_notebook(..., record_figures=True)`` installs ``PROBE`` in the kernel before the first
cell. It wraps matplotlib's ``FigureCanvasBase.print_figure``, which the inline backend calls
for every figure a cell shows, and notes for each PNG it writes the smallest font size of the
figure's visible text (points), the resolution (dpi) and the image's size in pixels. After each
cell the notes go into the cell's metadata under ``FIGURES_KEY``.

On a slide an image is shown at its own size unless it is wider than the room an output has
(``SLIDE_IMAGE_PX``, measured in Chromium), where it is shrunk to fit; reveal.js then scales
the whole 960x700 slide to the 1280x720 screen (``SLIDE_SCALE``). ``text_px`` turns a note
into the size of that text on the screen, in CSS pixels: a 10-inch figure at 100 dpi needs
13.2 pt text for 16 px, one up to 9 inches 12 pt (``course_utils.viz.slides``).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

import nbformat

from course_utils.viz import slides

FIGURES_KEY = "course_figures"
# Where a slide shows an image and how large: measured in Chromium, kept with the function
# that fits a figure to them (the teaching library's course_utils.viz.slides).
SLIDE_IMAGE_PX = slides.SLIDE_IMAGE_PX
SLIDE_SCALE = slides.SLIDE_SCALE
MIN_TEXT_PX = slides.MIN_TEXT_PX

# Runs in the kernel; names start with "_course_" so they stay out of a reader's way.
PROBE = r"""
def _course_install_figure_probe():
    import io
    import json
    import struct

    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.text import Text

    original = FigureCanvasBase.print_figure
    notes = []

    def print_figure(self, filename, *args, **kwargs):
        result = original(self, filename, *args, **kwargs)
        try:
            data = filename.getvalue() if isinstance(filename, io.BytesIO) else b""
            if kwargs.get("format") == "png" and data[:8] == b"\x89PNG\r\n\x1a\n":
                width, height = struct.unpack(">II", data[16:24])
                hidden = {  # tick labels of axes drawn without axis lines
                    id(label)
                    for ax in self.figure.axes
                    if not ax.axison
                    for axis in (ax.xaxis, ax.yaxis)
                    for label in axis.get_ticklabels(which="both")
                }
                sizes = [
                    float(text.get_fontsize())
                    for text in self.figure.findobj(Text)
                    if text.get_visible() and text.get_text().strip() and id(text) not in hidden
                ]
                notes.append(
                    {
                        "min_font_pt": min(sizes) if sizes else None,
                        "dpi": float(kwargs.get("dpi") or self.figure.dpi),
                        "width_px": width,
                        "height_px": height,
                    }
                )
        except Exception as error:  # a note that fails must not break the lecture
            notes.append({"error": repr(error)})
        return result

    FigureCanvasBase.print_figure = print_figure

    def take():
        taken = list(notes)
        notes.clear()
        return json.dumps(taken)

    return take


_course_take_figure_notes = _course_install_figure_probe()
del _course_install_figure_probe
"""
TAKE = "_course_take_figure_notes()"


def parse_notes(text_plain: str) -> list[dict]:
    """Return the notes from the ``text/plain`` repr of ``TAKE``'s result (a quoted JSON string)."""
    return json.loads(ast.literal_eval(text_plain))


@dataclass
class FigureText:
    """One figure shown by a cell: its smallest text, in points and on the 1280x720 screen."""

    cell: int
    min_font_pt: float
    px: float
    width_px: int

    def describe(self) -> str:
        return (
            f"cell {self.cell}: a {self.width_px}px-wide figure's smallest text is "
            f"{self.min_font_pt:.1f} pt = {self.px:.1f} px at 1280x720"
        )


def text_px(note: dict) -> float | None:
    """The height in screen pixels, at 1280x720, of the smallest text of a recorded figure."""
    if note.get("min_font_pt") is None or not note.get("width_px"):
        return None
    return slides.text_px(note["min_font_pt"], note["width_px"], note["dpi"])


def shown_on_slides(cell: nbformat.NotebookNode) -> bool:
    """A cell whose outputs the slides show (not skipped, removed or with its output removed)."""
    kind = cell.metadata.get("slideshow", {}).get("slide_type")
    tags = set(cell.metadata.get("tags", []))
    return kind not in ("skip", "notes") and not tags & {"remove-cell", "remove-output"}


def figure_texts(notebook: nbformat.NotebookNode) -> list[FigureText]:
    """Every recorded figure of an executed ``notebook`` that its slides show, with text.

    Raises ``ValueError`` when the notebook was executed without ``record_figures=True`` (no
    cell carries notes) or a note says the probe failed.
    """
    if not any(FIGURES_KEY in cell.metadata for cell in notebook.cells):
        raise ValueError(
            "the notebook carries no figure notes: execute it with record_figures=True"
        )
    found = []
    for index, cell in enumerate(notebook.cells):
        for note in cell.metadata.get(FIGURES_KEY, []):
            if "error" in note:
                raise ValueError(f"cell {index}: the figure probe failed: {note['error']}")
            px = text_px(note)
            if px is not None and shown_on_slides(cell):
                found.append(FigureText(index, note["min_font_pt"], px, note["width_px"]))
    return found


def small_figure_text(
    notebook: nbformat.NotebookNode, minimum_px: float = MIN_TEXT_PX
) -> list[FigureText]:
    """The figures on the slides whose smallest text is under ``minimum_px`` at 1280x720."""
    return [found for found in figure_texts(notebook) if found.px < minimum_px - 1e-9]


# A float printed with its binary noise: 0.09999999999999998, 0.30000000000000004, 2.9999999999.
FLOAT_NOISE = re.compile(r"(?<![\w.])-?\d+\.\d*?(?:0{6,}\d|9{6,}\d)\d*(?![\w.])")


def float_noise(text: str) -> list[str]:
    """The numbers in ``text`` printed with float noise (six or more 0s or 9s then more digits)."""
    return FLOAT_NOISE.findall(text)


# A number nobody rounded: seven or more digits after the point (2.2978100776672363).
UNROUNDED = re.compile(r"(?<![\w.])-?\d+\.\d{7,}(?![\w.])")


def unrounded(text: str) -> list[str]:
    """The numbers in ``text`` printed with seven or more decimals, as no person reads them."""
    return UNROUNDED.findall(text)
