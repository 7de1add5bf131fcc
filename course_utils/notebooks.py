"""Notebook files: read, clean (no outputs, no volatile metadata), execute headless, export slides."""

from __future__ import annotations

import copy
import os
import subprocess
import time
from pathlib import Path

import nbformat

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
) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` headless in its own folder; return the executed notebook and seconds.

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


def _export(exporter_name: str, notebook: nbformat.NotebookNode, output_path: str | Path) -> Path:
    import nbconvert

    body, _ = getattr(nbconvert, exporter_name)().from_notebook_node(notebook)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(body, encoding="utf-8")
    return output_path


def export_slides(notebook: nbformat.NotebookNode, output_path: str | Path) -> Path:
    """Write ``notebook`` as a reveal.js slide deck (HTML) and return its path."""
    return _export("SlidesExporter", notebook, output_path)


def export_html(notebook: nbformat.NotebookNode, output_path: str | Path) -> Path:
    """Write ``notebook`` as a standalone HTML page and return its path."""
    return _export("HTMLExporter", notebook, output_path)
