"""Figures readable from the back of a room: no text under 16 px on a 1280x720 slide.

A lecture's slides show each figure as the PNG the notebook made (at ``figure.dpi``, cropped to
its contents): at its own size up to ``SLIDE_IMAGE_PX`` slide pixels wide, shrunk to that width
when wider, and reveal.js draws the whole slide at ``SLIDE_SCALE`` screen pixels per slide
pixel. ``text_px`` turns a font size into screen pixels on that slide.

``fit_for_slides(fig)`` makes the smallest text of a figure at least ``MIN_TEXT_PX`` there:
text a little too small is raised; a narrow figure with much too small text is first drawn at
a higher resolution, which enlarges it whole and keeps its layout, and what is still missing
is made up by raising every text that is too small. ``slide_figures()``, called once in a lecture's set-up cell, does this
to every figure the notebook shows.
"""

from __future__ import annotations

import contextlib

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.text import Text

# Measured in Chromium on an exported deck (tests/test_slide_style.py measures them again).
SLIDE_IMAGE_PX = 895  # the widest an output image is shown, in slide pixels
SLIDE_SCALE = 0.987  # screen pixels per slide pixel: the 960x700 slide on a 1280x720 screen
MIN_TEXT_PX = 16
MAX_DPI_SCALE = 2.0  # never draw a figure at more than twice its resolution
MAX_GROWN_HEIGHT_PX = 400  # a figure enlarged whole stays at most this tall (slide pixels)
# Text up to this factor too small is only made larger; a figure is enlarged whole (more pixels
# to draw, a taller slide) only for text much smaller than that.
TEXT_ONLY_FACTOR = 1.35
ROUNDS = 3
MARGIN = 1.02  # aim 2 % above the minimum: rounding and a crop that grows with the text


def text_px(fontsize: float, width_px: float, dpi: float) -> float:
    """Screen pixels, on a 1280x720 slide, of ``fontsize``-point text in a ``width_px`` image."""
    if width_px <= 0 or dpi <= 0:
        raise ValueError(f"width_px and dpi must be positive, got {width_px!r} and {dpi!r}")
    shrink = min(1.0, SLIDE_IMAGE_PX / width_px)
    return fontsize * dpi / 72 * shrink * SLIDE_SCALE


def _check_figure(fig: object) -> None:
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")


def _hidden_tick_labels(fig: Figure) -> set[int]:
    """The tick labels of axes drawn without axis lines (``set_axis_off``): never shown."""
    return {
        id(label)
        for ax in fig.axes
        if not ax.axison
        for axis in (ax.xaxis, ax.yaxis)
        for label in axis.get_ticklabels(which="both")
    }


def _texts(fig: Figure) -> list[Text]:
    """The figure's texts a reader sees: visible, not empty, not the labels of a hidden axis."""
    hidden = _hidden_tick_labels(fig)
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden
    ]


def smallest_fontsize(fig: Figure) -> float | None:
    """The smallest font size (points) of the figure's visible text, or None without text."""
    _check_figure(fig)
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return min(sizes) if sizes else None


def saved_width_px(fig: Figure) -> float:
    """The width in pixels of the PNG the notebook shows: cropped to the contents, padded."""
    _check_figure(fig)
    box = fig.get_tightbbox()  # any canvas: a widget's Figure() has no renderer of its own
    pad = mpl.rcParams["savefig.pad_inches"]
    return (box.width + 2 * pad) * fig.dpi


def slide_text_px(fig: Figure) -> float | None:
    """The smallest text of ``fig`` in screen pixels on a slide, or None without text."""
    smallest = smallest_fontsize(fig)
    if smallest is None:
        return None
    return text_px(smallest, saved_width_px(fig), fig.dpi)


def _raise_text(fig: Figure, fontsize: float) -> None:
    """Every text under ``fontsize`` points, tick labels to come included, to ``fontsize``."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = axis.get_ticklabels(which="both")
            if labels and min(label.get_fontsize() for label in labels) < fontsize:
                ax.tick_params(axis="x" if axis is ax.xaxis else "y", labelsize=fontsize)
    for text in _texts(fig):
        if text.get_fontsize() < fontsize:
            text.set_fontsize(fontsize)


def estimated_width_px(fig: Figure) -> float:
    """The PNG's width if the contents fill the figure: its width plus the crop's padding.

    No drawing is needed; the crop usually makes the PNG narrower (then the text comes out a
    little larger than estimated), wider only when text sticks out of the figure.
    """
    _check_figure(fig)
    return (fig.get_figwidth() + 2 * mpl.rcParams["savefig.pad_inches"]) * fig.dpi


def fit_for_slides(fig: Figure, minimum_px: float = MIN_TEXT_PX, measure: bool = False) -> Figure:
    """Make the smallest text of ``fig`` at least ``minimum_px`` on a 1280x720 slide; return it.

    Text at most ``TEXT_ONLY_FACTOR`` times too small is simply raised. For smaller text the
    resolution goes up first (at most ``MAX_DPI_SCALE`` times, and only while the image still
    fits the slide's width unshrunk and stays under ``MAX_GROWN_HEIGHT_PX`` tall, so that the
    slide keeps room for its heading and text), which enlarges the figure whole and keeps its
    layout; then any text still too small is raised to the size that reaches ``minimum_px`` at
    the figure's width.
    The width
    is ``estimated_width_px`` (no drawing), or with ``measure`` the cropped PNG's, drawn and
    checked again up to ``ROUNDS`` times.
    """
    _check_figure(fig)
    if not minimum_px > 0:
        raise ValueError(f"minimum_px must be positive, got {minimum_px!r}")
    width_of = saved_width_px if measure else estimated_width_px
    for _ in range(ROUNDS if measure else 1):
        smallest = smallest_fontsize(fig)
        if smallest is None:
            return fig
        width = width_of(fig)
        px = text_px(smallest, width, fig.dpi)
        if px >= minimum_px:
            return fig
        factor = minimum_px * MARGIN / px
        room = SLIDE_IMAGE_PX / width  # how much larger the image may get without shrinking
        height = (fig.get_figheight() + 2 * mpl.rcParams["savefig.pad_inches"]) * fig.dpi
        tall = MAX_GROWN_HEIGHT_PX / height  # nor grow taller than a slide has room for
        dpi_factor = min(factor, max(min(room, tall), 1.0), MAX_DPI_SCALE)
        if factor <= TEXT_ONLY_FACTOR:  # a little larger text is enough, and costs no pixels
            dpi_factor = 1.0
        if dpi_factor > 1.0 + 1e-3:
            fig.set_dpi(fig.dpi * dpi_factor)
            factor /= dpi_factor
        if factor > 1.0 + 1e-3:
            _raise_text(fig, smallest * factor * MARGIN)  # the crop may grow with the text
    return fig


_INSTALLED_KEY = "_course_slide_figures"


def slide_figures() -> bool:
    """Show every figure of this IPython session fitted for slides (``fit_for_slides``).

    Wraps the PNG printer IPython uses for matplotlib figures, and wraps it again before each
    cell and before the figures of a cell are shown if something (the inline backend starting,
    a backend switch) replaced it. Returns False outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing shows figures as PNG outputs
        return False
    shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["image/png"]

    def wrap(*_: object) -> None:
        try:
            printer = formatter.lookup_by_type(Figure)
        except KeyError:
            return
        if getattr(printer, _INSTALLED_KEY, False):
            return

        def fitted(fig: Figure, _printer=printer):
            # Never lose a figure: one that cannot be fitted is shown as drawn (and the size
            # probe of the lecture tests reports it).
            with contextlib.suppress(Exception):
                fit_for_slides(fig)
            return _printer(fig)

        setattr(fitted, _INSTALLED_KEY, True)
        formatter.for_type(Figure, fitted)

    wrap()
    if not getattr(shell, _INSTALLED_KEY, False):
        # The inline backend registers its printer when the first figure is made, and shows
        # the figures after the cell ("post_execute"): wrapping again there, first, catches it.
        shell.events.register("pre_run_cell", wrap)
        shell.events.register("post_execute", wrap)
        setattr(shell, _INSTALLED_KEY, True)
    return True
