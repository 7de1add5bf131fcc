"""The reading site: a Jupyter Book 1.x (Sphinx) site of the executed lectures and released assignments.

``build_site(root, lectures)`` lays out a book source in ``_build/site_src`` (the executed
lectures with their widgets made static, the student assignments, the guides of ``docs/``, a
table of contents in course order, the local MathJax 3) and builds it with Sphinx, offline, into
``_build/site``.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_utils.publish import offline
from course_utils.publish.notebooks import read_notebook, static_widgets

SOURCE_DIR = "site_src"
SITE_DIR = "site"
ASSIGNMENTS_DIR = "assignments"
DOCS_DIR = "docs"
# The guides of docs/ in reading order; any other page of docs/ follows them, by name.
GUIDES = ("student-guide", "instructor-guide", "lecture-authors", "threat-model", "benchmarks")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)\s]*)?\)")
TITLE = "Convolutional Neural Networks"
SITE_TIMEOUT_S = 900

INTRO = """# {title}

A self-paced reading of the course: the lectures with every output computed, and the
assignments as students receive them.

Figures and numbers on these pages were computed when the site was built. The interactive
widgets show their first state here; to move their controls, open the lecture in JupyterLab
(`source .venv/bin/activate && jupyter lab`) and run its cells. To work on an assignment,
open its notebook in JupyterLab from the `assignments/` folder.

Use the search box (top left) to find a term in every lecture and assignment.
"""


CSS_FILE = "course.css"
# The theme's header stays at the top of the window while the page scrolls: a link to a heading
# or anchor must stop below it, not under it. A wide table wraps its cells (long names in code
# too) and scrolls inside the article if it is still too wide, instead of being cut off.
SITE_CSS = """\
:target, [id] { scroll-margin-top: 5rem; }
.bd-article table { display: block; max-width: 100%; overflow-x: auto; }
.bd-article table td, .bd-article table th { white-space: normal; }
.bd-article table code, .bd-article table code span.pre { white-space: normal; overflow-wrap: anywhere; }
"""


def _config() -> str:
    """Return the book's ``_config.yml`` (JSON is valid YAML): no execution, no remote assets."""
    # Sphinx marks math with the "math" class; notebook outputs (widgets' static state) may hold
    # TeX too; everything else is left alone, as in Jupyter Book's own default.
    mathjax_settings = {
        **offline.MATHJAX_SETTINGS,
        "options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"},
    }
    config = {
        "title": TITLE,
        "author": "The course team",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence"]},
        "html": {"use_repository_button": False, "use_issues_button": False},
        "launch_buttons": {"notebook_interface": "jupyterlab", "thebe": False, "binderhub_url": ""},
        "sphinx": {
            "config": {
                "html_static_path": ["_static"],
                "html_css_files": [CSS_FILE],
                "mathjax_path": f"{offline.MATHJAX_DIR}/{offline.MATHJAX_SCRIPT}",
                "mathjax3_config": mathjax_settings,
                "nb_ipywidgets_js": {},
                # $$...$$ inside a paragraph is display math, as in JupyterLab.
                "myst_dmath_double_inline": True,
                # A cell's Markdown output (a table from cu.viz.markdown_table, math in it) is
                # read as MyST, like a Markdown cell; MyST-NB's default reads it as bare
                # CommonMark, with no tables and no math.
                "nb_render_markdown_format": "myst",
                # Links to a heading (guide.md#a-section) resolve, slugged as GitHub does.
                "myst_heading_anchors": 3,
                "html_show_sourcelink": False,
                "html_theme_options": {"use_download_button": False},
                "html_context": {"default_mode": "light"},
            }
        },
    }
    return json.dumps(config, indent=2) + "\n"


def _toc(
    lectures: list[str],
    assignments: list[str],
    guides: list[str] | None = None,
    titles: dict[str, str] | None = None,
) -> str:
    """Return the book's ``_toc.yml``: the introduction, then lectures, assignments and guides.

    A lecture is listed under ``titles[name]`` (its clean title) when given. A guide from
    outside ``docs/`` (``benchmarks/README``) is titled by its path, not by its own first
    heading, so that two pages called "Benchmarks" can be told apart.
    """
    titles = titles or {}
    lecture_chapters = [
        {"file": name, "title": titles[name]} if name in titles else {"file": name}
        for name in lectures
    ]
    parts = [
        {"caption": "Lectures", "chapters": lecture_chapters},
        {"caption": "Assignments", "chapters": [{"file": name} for name in assignments]},
    ]
    if guides:
        chapters = [
            {"file": name}
            if name.startswith(f"{DOCS_DIR}/")
            else {"file": name, "title": f"{name}.md"}
            for name in guides
        ]
        parts.append({"caption": "Guides", "chapters": chapters})
    toc = {"format": "jb-book", "root": "intro", "parts": parts}
    return json.dumps(toc, indent=2) + "\n"


def guide_pages(root: Path) -> list[Path]:
    """Return ``docs/*.md`` in reading order (``GUIDES`` first), then the Markdown files outside
    ``docs/`` that those pages link to (``benchmarks/README.md``), so the links work on the site."""
    docs = (root / DOCS_DIR).resolve()
    order = {name: index for index, name in enumerate(GUIDES)}
    pages = sorted(docs.glob("*.md"), key=lambda p: (order.get(p.stem, len(GUIDES)), p.name))
    linked: list[Path] = []
    for page in pages:
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            inside = root.resolve() in path.parents and docs not in path.parents
            if "://" not in target and inside and path.is_file() and path not in linked:
                linked.append(path)
    return pages + linked


def _write_notebook(notebook: nbformat.NotebookNode, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(anchors_at_headings(static_widgets(notebook)), target)


DECK_PAGE = re.compile(r"\s*\(deck pp?\. [^)]*\)")
TITLE_LINE = re.compile(r"^# +(.+?)[ \t]*$", re.MULTILINE)
ANCHOR = re.compile(r'^[ \t]*<a id="[^"]+"></a>[ \t]*\n?', re.MULTILINE)
HEADING_LINE = re.compile(r"^#{1,6} ", re.MULTILINE)


def lecture_title(notebook: nbformat.NotebookNode) -> str:
    """A lecture's name as the site shows it: its ``#`` title without the ``(deck p. 1)`` mark.

    Raises ``ValueError`` when the first cell has no ``# `` title.
    """
    first = notebook.cells[0] if notebook.cells else None
    match = TITLE_LINE.search(first.source) if first and first.cell_type == "markdown" else None
    if match is None:
        raise ValueError("a lecture's first cell must open with its '# ' title")
    return DECK_PAGE.sub("", match.group(1)).strip()


def clean_title(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy whose first ``#`` title is ``lecture_title`` (the page and the contents agree)."""
    notebook = copy.deepcopy(notebook)
    title = lecture_title(notebook)
    first = notebook.cells[0]
    first.source = TITLE_LINE.sub(lambda _: f"# {title}", first.source, count=1)
    return notebook


def anchors_at_headings(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy whose section anchors (``<a id="x"></a>`` lines) sit just above their heading.

    A lecture keeps a section's anchor at the end of the cell that opens the section (the cell
    must start with its heading); a link to it would land below the heading's text. On the site
    each anchor line moves to the line before the cell's first heading, so the link lands on it.
    """
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        heading = HEADING_LINE.search(cell.source)
        anchors = ANCHOR.findall(cell.source)
        if heading is None or not anchors:
            continue
        rest = ANCHOR.sub("", cell.source)
        heading = HEADING_LINE.search(rest)
        block = "".join(a if a.endswith("\n") else a + "\n" for a in anchors)
        # A blank line keeps the anchors an HTML block of their own, apart from the heading.
        cell.source = (rest[: heading.start()] + block + "\n" + rest[heading.start() :]).rstrip()
    return notebook


def prepare_source(root: Path, executed_lectures: list[Path], build_dir: Path) -> Path:
    """Lay out the book source in ``build_dir/site_src`` and return its folder."""
    source = build_dir / SOURCE_DIR
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    lectures, titles = [], {}
    for path in sorted(executed_lectures):
        notebook = clean_title(read_notebook(path))
        _write_notebook(notebook, source / "lectures" / path.name)
        lectures.append(f"lectures/{path.stem}")
        titles[f"lectures/{path.stem}"] = lecture_title(notebook)
    assignments = []
    for path in sorted((root / ASSIGNMENTS_DIR).glob("*/*.ipynb")):
        name = f"assignments/{path.parent.name}/{path.stem}"
        _write_notebook(read_notebook(path), source / f"{name}.ipynb")
        assignments.append(name)
    guides = []
    for path in guide_pages(root):
        name = path.relative_to(root.resolve())
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, source / name)
        guides.append(name.with_suffix("").as_posix())
    if (root / DOCS_DIR / "images").is_dir():  # the pictures the guides show
        shutil.copytree(root / DOCS_DIR / "images", source / DOCS_DIR / "images")
    offline.copy_assets(source / "_static")
    shutil.rmtree(source / "_static" / offline.REVEAL_DIR)  # the site needs MathJax only
    (source / "intro.md").write_text(INTRO.format(title=TITLE), encoding="utf-8")
    (source / "_config.yml").write_text(_config(), encoding="utf-8")
    (source / "_static" / CSS_FILE).write_text(SITE_CSS, encoding="utf-8")
    (source / "_toc.yml").write_text(_toc(lectures, assignments, guides, titles), encoding="utf-8")
    return source


def build_site(root: Path, executed_lectures: list[Path], build_dir: Path | None = None) -> Path:
    """Build the reading site into ``_build/site`` and return its ``index.html``.

    Raises ``RuntimeError`` with the end of Sphinx's output when the build fails.
    """
    build_dir = build_dir or root / "_build"
    source = prepare_source(root, executed_lectures, build_dir)
    work = build_dir / "site_work"
    shutil.rmtree(work, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(source), "--path-output", str(work), "--quiet"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=SITE_TIMEOUT_S, check=False
    )
    html = work / "_build" / "html"
    if done.returncode != 0 or not (html / "index.html").is_file():
        raise RuntimeError(
            f"jupyter-book build failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}"
        )
    site = build_dir / SITE_DIR
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(html, site)
    for page in site.rglob("*.html"):
        page.write_text(clean_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return site / "index.html"


SCRIPT_SRC = re.compile(r'<script[^>]*\ssrc="([^"?]+)')
# sphinx-thebe (always loaded by Jupyter Book) would fetch thebe from a CDN; the site runs no code.
DROPPED_SCRIPT = ("THEBE_JS_URL", "sphinx-thebe.js")


def clean_page(text: str) -> str:
    """Return a built page without duplicate script tags (the Jupyter Book 1 / Sphinx 7 build
    repeats some, loading MathJax twice) and without sphinx-thebe's CDN loader."""
    kept, seen = [], set()
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("<script"):
            if any(marker in stripped for marker in DROPPED_SCRIPT):
                continue
            match = SCRIPT_SRC.search(stripped)
            key = match.group(1) if match else stripped
            if key in seen:
                continue
            seen.add(key)
        kept.append(line)
    return "".join(kept)


def site_pages(site: Path) -> list[Path]:
    """Return the content pages of a built site (not Sphinx's genindex/search helpers)."""
    skipped = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(
        p
        for p in site.rglob("*.html")
        if p.name not in skipped
        and "_static" not in p.parts
        and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8")[:300]
    )
