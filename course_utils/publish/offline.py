"""Local copies of reveal.js and MathJax, so exported slides and pages work without a network.

Both come from installed PyPI packages, never from a CDN at run time:

* reveal.js 5 from ``sphinx-revealjs`` (its ``_static/revealjs``: ``dist/``, the notes plugin,
  the white theme with its fonts);
* MathJax 3 from ``django-static-mathjax`` (its ``static/mathjax/es5/tex-svg-full.js``): one
  file with every TeX extension and the SVG output, which needs no web fonts (a browser refuses
  web fonts to a page opened from a file, so MathJax 2's HTML-CSS output stalls there).

``copy_assets(static_dir)`` copies both into ``static_dir`` once (``revealjs/``, ``mathjax/``);
pages refer to them with relative URLs (``relative_url``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

REVEAL_DIR = "revealjs"
MATHJAX_DIR = "mathjax"
MATHJAX_SCRIPT = "tex-svg-full.js"
# The one reveal.js theme the slides use: its fonts ship with it (the other themes import theirs
# from a font CDN, so they are not copied).
REVEAL_THEME = "white"
# Parts of reveal.js the slides use: the core, the theme and the speaker-notes plugin.
REVEAL_PLUGINS_KEPT = ("notes",)
# MathJax 3 settings: the same delimiters as Jupyter ($...$, $$...$$, \(...\), \[...\]).
MATHJAX_SETTINGS = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "tags": "ams",
    },
    "svg": {"fontCache": "global"},
    "options": {"ignoreHtmlClass": "tex2jax_ignore", "processHtmlClass": "tex2jax_process"},
}


@dataclass(frozen=True)
class Assets:
    """Where the local copies are: the reveal.js folder and the MathJax script."""

    reveal: Path
    mathjax_script: Path


def _package_dir(module: str, *parts: str) -> Path:
    try:
        package = import_module(module)
    except ImportError as exc:
        raise RuntimeError(
            f"{module} is not installed; it ships the offline copy this build needs "
            "(reinstall the environment: pip install -e .)"
        ) from exc
    folder = Path(package.__file__).parent.joinpath(*parts)
    if not folder.is_dir():
        raise RuntimeError(f"{module} has no {'/'.join(parts)} folder; is the install complete?")
    return folder


def installed_assets() -> Assets:
    """Return reveal.js's folder and MathJax's script inside the installed packages."""
    reveal = _package_dir("sphinx_revealjs", "_static", "revealjs")
    # django-static-mathjax installs MathJax as the importable folder ``mathjax``.
    mathjax = _package_dir("mathjax", "static", "mathjax", "es5") / MATHJAX_SCRIPT
    return Assets(reveal=reveal, mathjax_script=mathjax)


def _reveal_ignored(folder: str, names: list[str]) -> set[str]:
    """Names not to copy from reveal.js: its sources, unused plugins and themes, ES modules."""
    path = Path(folder)
    ignored = {n for n in names if n.endswith((".esm.js", ".map", ".scss"))}
    if path.name == "revealjs":
        ignored |= {n for n in names if n not in ("dist", "plugin", "LICENSE")}
    if path.name == "plugin":
        ignored |= {n for n in names if n not in REVEAL_PLUGINS_KEPT}
    if path.name == "theme" and path.parent.name == "dist":
        ignored |= {n for n in names if n.endswith(".css") and n != f"{REVEAL_THEME}.css"}
    return ignored


def _fresh(target: Path, source: Path) -> bool:
    stamp = target / ".copied-from"
    return stamp.is_file() and stamp.read_text(encoding="utf-8") == str(source)


def copy_assets(static_dir: str | Path) -> Assets:
    """Copy reveal.js and MathJax into ``static_dir`` (once) and return the copies."""
    static_dir = Path(static_dir)
    source = installed_assets()
    reveal = static_dir / REVEAL_DIR
    if not _fresh(reveal, source.reveal):
        shutil.rmtree(reveal, ignore_errors=True)
        shutil.copytree(source.reveal, reveal, ignore=_reveal_ignored)
        (reveal / ".copied-from").write_text(str(source.reveal), encoding="utf-8")
    mathjax = static_dir / MATHJAX_DIR
    if not _fresh(mathjax, source.mathjax_script):
        shutil.rmtree(mathjax, ignore_errors=True)
        mathjax.mkdir(parents=True)
        shutil.copy2(source.mathjax_script, mathjax / MATHJAX_SCRIPT)
        license_file = source.mathjax_script.parent.parent / "LICENSE"
        if license_file.is_file():
            shutil.copy2(license_file, mathjax / "LICENSE")
        (mathjax / ".copied-from").write_text(str(source.mathjax_script), encoding="utf-8")
    return Assets(reveal=reveal, mathjax_script=mathjax / MATHJAX_SCRIPT)


def relative_url(target: str | Path, page_dir: str | Path) -> str:
    """Return the URL of ``target`` relative to a page in ``page_dir`` (forward slashes)."""
    return Path(os.path.relpath(Path(target), Path(page_dir))).as_posix()


def mathjax_url(assets: Assets, page_dir: str | Path) -> str:
    """Return the MathJax script URL for a page in ``page_dir``."""
    return relative_url(assets.mathjax_script, page_dir)


def mathjax_head(assets: Assets, page_dir: str | Path) -> str:
    """Return the HTML that configures and loads the local MathJax 3 for a page in ``page_dir``."""
    settings = json.dumps(MATHJAX_SETTINGS)
    url = mathjax_url(assets, page_dir)
    return f'<script>window.MathJax = {settings};</script>\n<script defer src="{url}"></script>'
