"""Make a notebook built from a student's work unable to run code in anyone's browser.

nbgrader shows a graded notebook to the instructor (the formgrader, served from the
instructor's own Jupyter server) and to the student (feedback pages). Both are nbconvert's
``HTMLExporter`` with nbgrader's ``formgrade``/``feedback`` templates, which render markdown cells
without sanitising them and display outputs (HTML, SVG, JavaScript, widget state) as they are:
a student's ``<script>`` would run as the instructor, outside every sandbox.

This module makes the notebook itself inert before anything renders it, so the result does not
depend on a template or on how a Jupyter server was configured:

* a markdown cell (and a ``text/markdown`` output) is rendered to HTML here, with nbconvert's own
  markdown renderer, and cleaned by ``bleach`` against an allowlist; tags that are not on it are
  shown as text (``<script>`` reads as ``<script>``), attributes that are not on it are dropped,
  links go only to ``http``, ``https``, ``mailto`` or an anchor, images only come from the
  notebook itself (``data:image/...``). The cell's source becomes that HTML on one line, which
  nbconvert's markdown renderer passes through unchanged (checked for every cell; a cell where it
  would not is shown as escaped text instead);
* an output keeps only kinds that cannot run code: text, images (checked base64), LaTeX, cleaned
  HTML; SVG becomes an ``<img>`` (a browser runs no script in an image); JavaScript, widgets and
  any other kind are replaced by a note; output metadata keeps only image sizes;
* raw cells are escaped; execution counts must be integers; widget state in the notebook's
  metadata is dropped; a ``grade_id`` that is not a plain identifier (a student-made cell) is
  replaced, since the formgrader writes it into the page unescaped.

:class:`SanitizeStudentContent` is the nbconvert preprocessor (last in ``nbgrader autograde``'s
pipeline and in ``generate_feedback``'s, see nbgrader_config.py); :func:`markdown2html` and
:func:`clean_html` are the same cleaning as Jinja filters for ``HTMLExporter.filters``, a second
line of defence where the course's nbgrader_config.py is loaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import string
from typing import Any

import bleach
from bleach.css_sanitizer import CSSSanitizer
from bleach.html5lib_shim import Filter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

# What the HTML written by a student may contain: text formatting, lists, tables, code, images
# from the notebook itself. No forms, frames, media, SVG, MathML, style sheets or scripts.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd",
        "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
        "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
    }
)  # fmt: skip
# <style> is let through the sanitiser only to be dropped with its content (pandas writes one
# before every table); every other tag not in ALLOWED_TAGS is shown as text.
DROPPED_WITH_CONTENT = frozenset({"style"})
ALLOWED_CSS = frozenset(
    {
        "text-align", "vertical-align", "font-weight", "font-style", "text-decoration",
        "color", "background-color", "white-space", "border", "border-collapse", "padding",
    }
)  # fmt: skip
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")  # outputs kept as they are (checked base64)
DATA_IMAGE_MIMES = (*IMAGE_MIMES, "image/webp", "image/svg+xml")  # allowed in <img src="data:...">
LINK_SCHEMES = ("http", "https", "mailto")
KEPT_OUTPUT_MIMES = ("text/plain", "text/latex", "text/html", *IMAGE_MIMES)
MAX_IMAGE_SIDE = 100_000  # pixels: a larger width/height in output metadata is dropped
SAFE_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-.")
REMOVED_NOTE = "[output of type {mime} removed by the grader: it could run code in a browser]"
CLASS_MARK = "course-sanitized"  # the class of the <div> a cleaned markdown cell becomes


def _uri(value: str) -> str:
    """``value`` as a browser reads a URL's scheme: entities decoded, no blanks, lower case."""
    text = html.unescape(value)
    kept = "".join(ch for ch in text if ch.isascii() and ch > " " and ch not in "`\x7f")
    return kept.lower()


def _data_image(value: str) -> bool:
    """Whether ``value`` is a ``data:`` URL of an image type with valid base64 content."""
    uri = html.unescape(value).strip()
    head, _, payload = uri.partition(",")
    mime = head[5:].split(";")[0].strip().lower() if head.lower().startswith("data:") else ""
    if mime not in DATA_IMAGE_MIMES or not head.lower().endswith(";base64"):
        return False
    return _valid_base64(payload)


def _valid_base64(payload: Any) -> bool:
    if not isinstance(payload, str):
        return False
    try:
        base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """The attribute allowlist (bleach calls it for every attribute of an allowed tag)."""
    if name == "class" or name == "title":
        return True
    if name == "style":
        return tag in ("span", "div", "p", "td", "th", "tr", "table")
    if tag == "a" and name == "href":
        uri = _uri(value)
        return uri.startswith("#") or uri.split(":", 1)[0] in LINK_SCHEMES and ":" in uri
    if tag == "img":
        if name == "src":
            return _data_image(value)
        if name in ("width", "height"):
            return value.strip().isdigit()
        return name == "alt"
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align") and len(value) < 20
    if tag == "ol":
        return name == "start" and value.strip().isdigit()
    if tag == "details":
        return name == "open"
    return False


class _OneLine(Filter):
    """After bleach: drop ``<style>`` elements, and write the HTML on one line.

    Newlines in a ``<pre>`` become ``<br>``; elsewhere they are spaces (HTML collapses white
    space there anyway). One line is what lets a cleaned markdown cell pass nbconvert's markdown
    renderer unchanged: a raw HTML block ends at the first blank line.
    """

    def __iter__(self):
        pre = dropping = 0
        for token in Filter.__iter__(self):
            kind, name = token.get("type"), token.get("name")
            if name in DROPPED_WITH_CONTENT and kind in ("StartTag", "EndTag", "EmptyTag"):
                dropping += 1 if kind == "StartTag" else -1 if kind == "EndTag" else 0
                dropping = max(dropping, 0)
                continue
            if dropping:
                continue
            if kind in ("StartTag", "EmptyTag") and token.get("data"):
                token["data"] = {
                    key: " ".join(str(val).splitlines()) for key, val in token["data"].items()
                }
            if name == "pre" and kind in ("StartTag", "EndTag"):
                pre += 1 if kind == "StartTag" else -1
            if kind in ("Characters", "SpaceCharacters"):
                text = token["data"].replace("\r\n", "\n").replace("\r", "\n")
                if not pre:
                    yield {"type": kind, "data": text.replace("\n", " ")}
                    continue
                for index, line in enumerate(text.split("\n")):
                    if index:
                        yield {"type": "EmptyTag", "name": "br", "data": {}}
                    if line:
                        yield {"type": "Characters", "data": line}
                continue
            yield token


_CLEANER = bleach.Cleaner(
    tags=ALLOWED_TAGS | DROPPED_WITH_CONTENT,
    attributes=_allowed_attribute,
    protocols=frozenset({*LINK_SCHEMES, "data"}),
    strip=False,  # escape rather than drop: the instructor sees what was attempted
    strip_comments=True,
    css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS),
    filters=[_OneLine],
)


def clean_html(text: Any) -> str:
    """Return ``text`` (HTML written by a student) cleaned against the allowlist, on one line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _CLEANER.clean(str(text))


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """Render markdown as nbconvert's HTMLExporter does (math kept for MathJax, attachments inlined)."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments=attachments or {}, anchor_link_text="¶")
    return MarkdownWithMath(renderer=renderer).render(source)


def _passes_unchanged(html_text: str) -> bool:
    return render_markdown(html_text).strip() == html_text.strip()


def _is_clean(html_text: str) -> bool:
    return (
        "\n" not in html_text
        and clean_html(html_text) == html_text
        and _passes_unchanged(html_text)
    )


def safe_markdown(source: Any, attachments: dict | None = None) -> str:
    """Return markdown ``source`` as cleaned one-line HTML that nbconvert renders unchanged.

    If the markdown renderer would change it (it never did in the tests), the source is shown as
    escaped text instead: never a page that was not checked.
    """
    source = "".join(source) if isinstance(source, list) else str(source)
    if not source.strip():
        return ""
    if not attachments:  # a class hands in the same markdown cells: each is cleaned once
        known = _CLEANED_MARKDOWN.get(source)
        if known is None:
            known = _CLEANED_MARKDOWN[source] = _safe_markdown(source, None)
            if len(_CLEANED_MARKDOWN) > 4096:
                _CLEANED_MARKDOWN.pop(next(iter(_CLEANED_MARKDOWN)))
        return known
    return _safe_markdown(source, attachments)


_CLEANED_MARKDOWN: dict[str, str] = {}  # markdown source without attachments -> safe_markdown's


def _safe_markdown(source: str, attachments: dict | None) -> str:
    if source.startswith(f'<div class="{CLASS_MARK}">') and _is_clean(source):
        return source  # cleaned before (a fixed point of the cleaner, rendered unchanged)
    try:
        rendered = render_markdown(source, _image_attachments(attachments))
    except Exception:  # noqa: BLE001 (a renderer failure shows the text, escaped)
        rendered = None
    if rendered is not None:
        cleaned = f'<div class="{CLASS_MARK}">{clean_html(rendered)}</div>'
        if _passes_unchanged(cleaned):
            return cleaned
    lines = html.escape(source).splitlines()
    escaped = f'<div class="{CLASS_MARK}"><pre>{"<br>".join(lines)}</pre></div>'
    if not _passes_unchanged(escaped):  # pragma: no cover (escaped text has no markdown left)
        raise ValueError("a markdown cell could not be made safe to show")
    return escaped


def _image_attachments(attachments: Any) -> dict:
    """Only attachments that are images with valid base64 (the renderer writes them into src)."""
    kept = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else []:
        if isinstance(bundle, dict):
            images = {
                mime: data
                for mime, data in bundle.items()
                if mime in DATA_IMAGE_MIMES and _valid_base64(data)
            }
            if images:
                kept[str(name)] = images
    return kept


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _image_metadata(metadata: Any, mime: str) -> dict:
    """Of an image's output metadata, only a numeric width/height and ``unconfined``."""
    entry = metadata.get(mime) if isinstance(metadata, dict) else None
    kept = {}
    if isinstance(entry, dict):
        for key in ("width", "height"):
            value = entry.get(key)
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and 0 < value <= MAX_IMAGE_SIDE
            ):
                kept[key] = value
        if entry.get("unconfined") is True:
            kept["unconfined"] = True
    return kept


def sanitize_output(output: dict) -> dict | None:
    """Return ``output`` (one nbformat output) made inert, or None to drop it."""
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(output.get("text", ""))}
    if kind == "error":
        traceback = output.get("traceback", [])
        return {
            "output_type": "error",
            "ename": str(output.get("ename", "Error")),
            "evalue": str(output.get("evalue", "")),
            "traceback": [str(line) for line in traceback] if isinstance(traceback, list) else [],
        }
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    removed = []
    for mime, value in data.items():
        if mime in IMAGE_MIMES and _valid_base64(value):
            kept[mime] = "".join(value.split())
            if image_meta := _image_metadata(output.get("metadata"), mime):
                metadata[mime] = image_meta
        elif mime == "text/plain" or mime == "text/latex":
            kept[mime] = _text(value)
        elif mime == "text/html":
            kept[mime] = clean_html(_text(value))
        elif mime == "text/markdown":
            kept.setdefault("text/html", safe_markdown(_text(value)))
        elif mime == "image/svg+xml":
            encoded = base64.b64encode(_text(value).encode("utf-8")).decode("ascii")
            kept.setdefault("text/html", f'<img src="data:image/svg+xml;base64,{encoded}">')
        else:
            removed.append(str(mime))
    if "text/markdown" in data and "text/html" in data:  # the student's own HTML wins, cleaned
        kept["text/html"] = clean_html(_text(data["text/html"]))
    if removed and not any(m in kept for m in ("text/plain", "text/html", *IMAGE_MIMES)):
        kept["text/plain"] = REMOVED_NOTE.format(mime=", ".join(sorted(removed)))
    if not kept:
        return None
    clean = {"output_type": kind, "data": kept, "metadata": metadata}
    if kind == "execute_result":
        clean["execution_count"] = _count(output.get("execution_count"))
    return clean


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _safe_grade_id(cell: dict) -> None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return
    grade_id = meta.get("grade_id")
    if grade_id is not None and not (
        isinstance(grade_id, str) and grade_id and set(grade_id) <= SAFE_ID_CHARS
    ):
        digest = hashlib.sha256(repr(grade_id).encode()).hexdigest()[:12]
        meta["grade_id"] = f"unsafe-id-{digest}"
    points = meta.get("points")
    if points is not None and (isinstance(points, bool) or not isinstance(points, int | float)):
        meta["points"] = 0


def sanitize_cell(cell: dict) -> dict:
    """Make one cell inert (in place; also returned): see the module docstring."""
    from nbformat import NotebookNode

    kind = cell.get("cell_type")
    _safe_grade_id(cell)
    if kind == "markdown":
        cell["source"] = safe_markdown(cell.get("source", ""), cell.get("attachments"))
        cell.pop("attachments", None)  # inlined as data: images (checked) by safe_markdown
    elif kind == "raw":
        cell["source"] = html.escape(_text(cell.get("source", "")))
    elif kind == "code":
        cell["execution_count"] = _count(cell.get("execution_count"))
        outputs = [sanitize_output(out) for out in cell.get("outputs", []) if isinstance(out, dict)]
        cell["outputs"] = [NotebookNode(out) for out in outputs if out is not None]
    return cell


def sanitize_notebook(nb: dict) -> dict:
    """Make every cell of ``nb`` inert and drop widget state from its metadata (in place)."""
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        sanitize_cell(cell)
    return nb


class SanitizeStudentContent(Preprocessor):
    """nbconvert preprocessor: :func:`sanitize_notebook` (see the module docstring)."""

    enabled = Bool(True, help="on unless switched off explicitly").tag(config=True)

    def preprocess(self, nb, resources):
        return sanitize_notebook(nb), resources


try:  # a Jinja filter with the cell at hand (its attachments), as nbconvert's own
    from jinja2 import pass_context
except ImportError:  # pragma: no cover
    pass_context = lambda f: f  # noqa: E731


@pass_context
def markdown2html(context, source: str) -> str:
    """Jinja filter for ``HTMLExporter.filters``: nbconvert's markdown2html, cleaned."""
    cell = context.get("cell", {}) if hasattr(context, "get") else {}
    return safe_markdown(source, cell.get("attachments") if isinstance(cell, dict) else None)
