"""Notebook files: read, clean (no outputs, no volatile metadata), execute headless, export slides."""

from __future__ import annotations

import copy
import html
import math
import os
import subprocess
import time
from pathlib import Path

import nbformat

from course_utils.publish import offline

NOTEBOOK_METADATA_KEPT = ("kernelspec", "language_info", "nbgrader", "celltoolbar")
CELL_METADATA_KEPT = ("nbgrader", "slideshow", "tags", "deletable", "editable")
LANGUAGE_INFO_KEPT = ("name",)


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read an ``.ipynb`` file as nbformat 4; raise ``ValueError`` naming the file if it is not valid."""
    path = Path(path)
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises several types for broken JSON or schema
        raise ValueError(f"{path} is not a valid notebook: {type(exc).__name__}: {exc}") from exc
    return notebook


def volatile_parts(notebook: nbformat.NotebookNode) -> list[str]:
    """Return a description of every output, execution count or volatile metadata key in ``notebook``."""
    found = []
    for key in notebook.metadata:
        if key not in NOTEBOOK_METADATA_KEPT:
            found.append(f"notebook metadata {key!r}")
    for key in notebook.metadata.get("language_info", {}):
        if key not in LANGUAGE_INFO_KEPT:
            found.append(f"language_info {key!r}")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            if cell.get("outputs"):
                found.append(f"cell {index}: outputs")
            if cell.get("execution_count") is not None:
                found.append(f"cell {index}: execution_count")
        for key in cell.metadata:
            if key not in CELL_METADATA_KEPT:
                found.append(f"cell {index}: metadata {key!r}")
    return found


def clean_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``notebook`` without outputs, execution counts or volatile metadata."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata = nbformat.from_dict(
        {k: v for k, v in notebook.metadata.items() if k in NOTEBOOK_METADATA_KEPT}
    )
    if "language_info" in notebook.metadata:
        info = notebook.metadata.language_info
        notebook.metadata.language_info = {k: v for k, v in info.items() if k in LANGUAGE_INFO_KEPT}
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in CELL_METADATA_KEPT}
        )
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


REPLY_POLL_S = 1.0


def _short_poll_client_class():
    """Return a NotebookClient that waits for each cell's reply in short slices.

    nbclient waits for a cell's reply with one long ``get_msg``; after a cell that opens widget
    comms that wait sometimes misses the reply and sits out the whole cell timeout
    (jupyter/nbclient#312, open). Waiting in one-second slices sees the reply on the next slice.
    """
    import asyncio
    from queue import Empty
    from time import monotonic

    from jupyter_core.utils import ensure_async
    from nbclient import NotebookClient

    class ShortPollNotebookClient(NotebookClient):
        record_figures = False  # set on the instance: note every figure's text size per cell
        _probe_installed = False

        async def _silent(self, code: str, user_expressions: dict | None = None) -> dict:
            """Run ``code`` without a trace in the notebook; return the reply's content."""
            msg_id = await ensure_async(
                self.kc.execute(
                    code, silent=True, store_history=False, user_expressions=user_expressions or {}
                )
            )
            deadline = monotonic() + (self.timeout or 60)
            while True:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=REPLY_POLL_S))
                except Empty:
                    if monotonic() > deadline:
                        raise TimeoutError("the kernel did not answer the figure probe") from None
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    content = msg["content"]
                    if content.get("status") != "ok":
                        raise RuntimeError(f"figure probe failed: {content.get('evalue', content)}")
                    return content

        async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
            from course_utils.publish import figures

            if self.record_figures and not self._probe_installed:
                await self._silent(figures.PROBE)
                self._probe_installed = True
            result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            if self.record_figures and cell.cell_type == "code":
                content = await self._silent("", {"notes": figures.TAKE})
                found = content["user_expressions"]["notes"]
                if found.get("status") != "ok":
                    raise RuntimeError(f"figure probe failed: {found.get('evalue', found)}")
                notes = figures.parse_notes(found["data"]["text/plain"])
                if notes:
                    cell.metadata[figures.FIGURES_KEY] = notes
            return result

        async def _async_poll_for_reply(
            self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
        ):
            deadline = None if timeout is None else monotonic() + timeout
            while True:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=REPLY_POLL_S))
                except Empty:
                    if deadline is not None and monotonic() > deadline:
                        task_poll_kernel_alive.cancel()
                        await self._async_check_alive()
                        await self._async_handle_timeout(timeout, cell)
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                try:
                    await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
                except (TimeoutError, Empty):
                    self.log.warning("Timeout waiting for IOPub output")
                task_poll_kernel_alive.cancel()
                return msg

    return ShortPollNotebookClient


def execute_notebook(
    path: str | Path,
    output_path: str | Path | None = None,
    timeout: int = 600,
    kernel_name: str = "python3",
    record_figures: bool = False,
) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` headless in its own folder; return the executed notebook and seconds.

    With ``record_figures`` every code cell that shows matplotlib figures gets, in its metadata,
    the smallest text size and the pixel size of each (``course_utils.publish.figures``).
    Raises ``nbclient.exceptions.CellExecutionError`` naming the failing cell when a cell fails.
    """
    path = Path(path)
    notebook = read_notebook(path)
    client = _short_poll_client_class()(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.record_figures = record_figures
    # A kernel must draw with the inline backend, which shows and closes each figure; a
    # MPLBACKEND=Agg inherited from a headless parent would keep every figure open.
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    start = time.perf_counter()
    # The kernel process's own log lines (not the notebook's stderr) would only clutter a build.
    client.execute(env=env, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if output_path is not None:
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_path)
    return notebook, seconds


def stderr_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Return the text of every stderr stream output of an executed notebook."""
    return [
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# Said once under each widget: what a reader sees and where it moves (no set-up commands: a
# slide is not the place for them; the student guide has them).
WIDGET_NOTE = "Interactive in a running notebook; shown here in its first state."
TEMPLATES_DIR = Path(__file__).parent / "templates"
SLIDES_TEMPLATE = "course_reveal"
PAGE_TEMPLATE = "course_lab"


def _slider_html(state: dict) -> str:
    value = state.get("value")
    low, high = state.get("min", value), state.get("max", value)
    if isinstance(value, list | tuple):  # a range slider: show both ends
        return f"{html.escape(str(value[0]))} to {html.escape(str(value[1]))}"
    return (
        f'<input type="range" disabled min="{low}" max="{high}" step="{state.get("step", 1)}" '
        f'value="{value}"> {html.escape(str(value))}'
    )


def _control_html(model_name: str, state: dict) -> str:
    """Return the static HTML of one ipywidgets control, or "" for a model with nothing to show."""
    description = html.escape(str(state.get("description", "")))
    label = f"{description} " if description else ""
    if "Slider" in model_name:
        body = _slider_html(state)
    elif "_options_labels" in state:
        labels = state.get("_options_labels", [])
        index = state.get("index")
        if isinstance(index, list | tuple):
            chosen = ", ".join(str(labels[i]) for i in index if i is not None and i < len(labels))
        else:
            chosen = labels[index] if isinstance(index, int) and index < len(labels) else ""
        body = f"<b>{html.escape(str(chosen))}</b>"
    elif model_name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="course-static-widget tex2jax_process">{label}{state.get("value", "")}</div>'
    elif model_name in ("ButtonModel",):
        return f'<div class="course-static-widget tex2jax_process"><button disabled>{description}</button></div>'
    elif model_name in ("CheckboxModel", "ToggleButtonModel"):  # a box, ticked or not, not "True"
        checked = " checked" if state.get("value") else ""
        return (
            '<div class="course-static-widget tex2jax_process"><label>'
            f'<input type="checkbox" disabled{checked}> {description}</label></div>'
        )
    elif "value" in state and not isinstance(state["value"], dict):
        body = html.escape(str(state["value"]))
    else:
        return ""
    return f'<div class="course-static-widget tex2jax_process">{label}{body}</div>'


def _widget_outputs(model_id: str, models: dict, seen: set[str]) -> list[dict]:
    """Return nbformat outputs showing the widget ``model_id`` and its children as they were."""
    if model_id in seen or model_id not in models:
        return []
    seen.add(model_id)
    model = models[model_id]
    name = model.get("model_name", "")
    state = model.get("state", {})
    if name == "OutputModel":
        return [copy.deepcopy(o) for o in state.get("outputs", [])]
    children = state.get("children")
    if isinstance(children, list):
        outputs: list[dict] = []
        for child in children:
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                outputs += _widget_outputs(child.removeprefix("IPY_MODEL_"), models, seen)
        if name == "GridBoxModel" and outputs:  # a grid of controls (a kernel's cells) stays a grid
            columns = max(1, round(math.sqrt(len(outputs))))
            cells = "".join(o.get("data", {}).get("text/html", "") for o in _merge_html(outputs))
            grid = f'<div style="display: grid; grid-template-columns: repeat({columns}, auto); width: fit-content; column-gap: 1em">{cells}</div>'
            if all(list(o.get("data", {})) == ["text/html"] for o in outputs):
                return [nbformat.v4.new_output("display_data", data={"text/html": grid})]
        return outputs
    control = _control_html(name, state)
    if not control:
        return []
    return [nbformat.v4.new_output("display_data", data={"text/html": control})]


def _merge_html(outputs: list[dict]) -> list[dict]:
    """Join neighbouring HTML-only outputs into one (one block of controls, not one per line)."""
    merged: list[dict] = []
    for output in outputs:
        data = output.get("data", {})
        previous = merged[-1].get("data", {}) if merged else {}
        if (
            output.get("output_type") == "display_data"
            and list(data) == ["text/html"]
            and merged
            and merged[-1].get("output_type") == "display_data"
            and list(previous) == ["text/html"]
        ):
            previous["text/html"] = previous["text/html"] + data["text/html"]
        else:
            merged.append(output)
    return merged


def static_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of an executed ``notebook`` whose widgets are static HTML and plain outputs.

    A page without a kernel cannot run a widget. Each widget view becomes what it showed when the
    notebook ran: its controls as disabled HTML, the figures and text of its Output widgets, and
    a note that moving the controls needs a running kernel. The widget state leaves the
    notebook's metadata, so no exported page tries to load a widget manager from the network.
    """
    notebook = copy.deepcopy(notebook)
    widgets = notebook.metadata.pop("widgets", {})
    models = widgets.get(WIDGET_STATE, {}).get("state", {})
    note = nbformat.v4.new_output(
        "display_data", data={"text/html": f'<p class="course-widget-note">{WIDGET_NOTE}</p>'}
    )
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            shown = _merge_html(_widget_outputs(view.get("model_id", ""), models, set()))
            if not shown:  # state not saved: keep the text fallback
                text = output["data"].get("text/plain")
                shown = [nbformat.v4.new_output("display_data", data={"text/plain": text})]
            outputs += shown + [copy.deepcopy(note)]
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return notebook


# Cell tags, as Jupyter Book reads them. On the slides a cell tagged ``hide-input`` or
# ``remove-input`` shows its outputs only (the reading site folds a ``hide-input`` cell's code);
# ``remove-cell`` leaves the slides and the site; ``remove-output`` keeps the code only.
HIDE_INPUT_TAGS = ("hide-input", "remove-input")
REMOVE_CELL_TAGS = ("remove-cell",)
REMOVE_OUTPUT_TAGS = ("remove-output",)
SLIDE_STARTS = ("slide", "subslide")


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def input_hidden(cell: nbformat.NotebookNode) -> bool:
    """True when a cell's source is not on the slides (a hidden-input, removed or skipped cell)."""
    kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    return kind in ("skip", "notes") or bool(_tags(cell) & {*HIDE_INPUT_TAGS, *REMOVE_CELL_TAGS})


def slides_view(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``notebook`` as its slides show it, before nbconvert's own preprocessors.

    Cells tagged ``remove-cell`` go; so does a code cell whose input is hidden and that has no
    output left to show (an assert, a data cell), so that it leaves no empty box on a slide. A
    slide start (``slide``/``subslide``) of a cell that goes passes to the next cell shown.
    nbconvert's ``TagRemovePreprocessor`` then removes the input of the hidden cells that stay.
    """
    notebook = copy.deepcopy(notebook)
    kept: list[nbformat.NotebookNode] = []
    carried: str | None = None
    for cell in notebook.cells:
        tags = _tags(cell)
        if tags & set(REMOVE_OUTPUT_TAGS) and cell.cell_type == "code":
            cell.outputs = []
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        empty = cell.cell_type == "code" and not cell.get("outputs") and tags & set(HIDE_INPUT_TAGS)
        if tags & set(REMOVE_CELL_TAGS) or empty:
            if kind in SLIDE_STARTS and carried != "slide":
                carried = kind
            continue
        if carried and kind not in ("skip", "notes"):
            if kind not in SLIDE_STARTS or (carried == "slide" and kind == "subslide"):
                cell.metadata.setdefault("slideshow", {})["slide_type"] = carried
            carried = None
        kept.append(cell)
    notebook.cells = kept
    return notebook


def _tag_remove_config():
    from traitlets.config import Config

    return Config(
        {
            "TagRemovePreprocessor": {
                "enabled": True,
                "remove_input_tags": list(HIDE_INPUT_TAGS),
                "remove_cell_tags": list(REMOVE_CELL_TAGS),
                "remove_all_outputs_tags": list(REMOVE_OUTPUT_TAGS),
            }
        }
    )


def _export(
    exporter_name: str,
    template_name: str,
    notebook: nbformat.NotebookNode,
    output_path: str | Path,
    static_dir: str | Path | None,
    **traits: object,
) -> Path:
    import nbconvert

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    assets = offline.copy_assets(static_dir or output_path.parent / "_static")
    exporter = getattr(nbconvert, exporter_name)(
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        template_name=template_name,
        mathjax_url=offline.mathjax_url(assets, output_path.parent),
        **traits,
    )
    if "reveal_url_prefix" in exporter.trait_names():
        exporter.reveal_url_prefix = offline.relative_url(assets.reveal, output_path.parent)
    resources = {"course_mathjax_head": offline.mathjax_head(assets, output_path.parent)}
    shown = static_widgets(notebook)
    if exporter_name == "SlidesExporter":
        shown = slides_view(shown)
    body, _ = exporter.from_notebook_node(shown, resources=resources)
    output_path.write_text(body, encoding="utf-8")
    return output_path


def export_slides(
    notebook: nbformat.NotebookNode, output_path: str | Path, static_dir: str | Path | None = None
) -> Path:
    """Write ``notebook`` as an offline reveal.js slide deck (HTML) and return its path.

    reveal.js and MathJax are copied into ``static_dir`` (default: ``_static`` beside the deck)
    and referred to by relative URLs; widgets show their first state (``static_widgets``). Cells
    tagged ``hide-input``/``remove-input`` show their outputs only, ``remove-cell`` cells and
    hidden cells without outputs are left out (``slides_view``).
    """
    return _export(
        "SlidesExporter",
        SLIDES_TEMPLATE,
        notebook,
        output_path,
        static_dir,
        reveal_theme=offline.REVEAL_THEME,
        config=_tag_remove_config(),
    )


def export_html(
    notebook: nbformat.NotebookNode, output_path: str | Path, static_dir: str | Path | None = None
) -> Path:
    """Write ``notebook`` as an offline standalone HTML page and return its path (see export_slides)."""
    return _export("HTMLExporter", PAGE_TEMPLATE, notebook, output_path, static_dir)
