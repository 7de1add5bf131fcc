"""Pages built from a student's notebook run no script (course_utils.grading.sanitize).

A notebook full of payloads (markdown answers, display outputs of every kind, forged metadata)
is rendered with nbgrader's own formgrade and feedback templates and opened in headless
Chromium; every payload calls ``HIT(name)``. The page rendered from the notebook as it is runs
them (so the check can fail); the pages rendered after sanitising run none.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from course_utils.grading import sanitize
from course_utils.grading.feedback import StudentFacingOutputs
from course_utils.grading.sanitize import SanitizeStudentContent, clean_html, safe_markdown

REPO = Path(__file__).resolve().parents[1]

# Every payload reports itself; the srcdoc frame is same-origin, so it calls its parent's HIT.
MARKDOWN_PAYLOADS = {
    "md-script": "<script>HIT('md-script')</script>",
    "md-img": "<img src=x onerror=\"HIT('md-img')\">",
    "md-svg": "<svg onload=\"HIT('md-svg')\"><circle r=3></circle></svg>",
    "md-jslink": "[click me](javascript:HIT('md-jslink'))",
    "md-a": "<a href=\"javascript:HIT('md-a')\">click</a>",
    "md-a-tab": "<a href=\"jav&#x09;ascript:HIT('md-a-tab')\">click</a>",
    "md-iframe": "<iframe srcdoc=\"<script>parent.HIT('md-iframe')</script>\"></iframe>",
    "md-details": "<details open ontoggle=\"HIT('md-details')\"><summary>s</summary>x</details>",
    "md-mxss": "<math><mtext><table><mglyph><style><img src=x onerror=\"HIT('md-mxss')\">",
    "md-object": "<object data=\"javascript:HIT('md-object')\"></object>",
    "md-form": "<form><button formaction=\"javascript:HIT('md-form')\">b</button></form>",
    "md-style": "<style>@import 'x';</style><p style=\"background:url(javascript:HIT('x'))\">s</p>",
}
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="HIT(\'out-svg\')">'
    "<script>HIT('out-svg-script')</script><circle r=\"4\"/></svg>"
)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()


def _output(mime: str, value, metadata=None) -> nbformat.NotebookNode:
    return new_output("display_data", data={mime: value}, metadata=metadata or {})


def payload_notebook() -> nbformat.NotebookNode:
    """A graded notebook as a hostile student could leave it (after nbgrader ran it)."""
    answer = new_markdown_cell("\n\n".join(MARKDOWN_PAYLOADS.values()))
    answer.metadata["nbgrader"] = {
        "grade": True,
        "solution": True,
        "locked": False,
        "points": 2,
        "grade_id": "written-answer",
        "schema_version": 3,
    }
    forged = new_markdown_cell("A cell of my own")
    forged.metadata["nbgrader"] = {
        "grade": True,
        "solution": True,
        "locked": False,
        "points": 1,
        "grade_id": 'x"><img src=x onerror="HIT(\'grade-id\')">',
        "schema_version": 3,
    }
    code = new_code_cell("display(...)")
    code.outputs = [
        _output("text/html", "<img src=x onerror=\"HIT('out-html')\"><b>bold</b>"),
        _output("text/html", "<script>HIT('out-html-script')</script>"),
        _output(
            "text/html",
            "<p>x</p><script>HIT('isolated')</script>",
            {"text/html": {"isolated": True}},
        ),
        _output("image/svg+xml", SVG),
        _output("application/javascript", "HIT('out-js')"),
        _output("text/markdown", "<img src=x onerror=\"HIT('out-md')\"> *md*"),
        _output("text/latex", "<img src=x onerror=\"HIT('out-latex')\">"),
        _output("image/png", "x\" onerror=\"HIT('png-data')"),
        _output("image/png", PNG, {"image/png": {"width": "1 onerror=HIT('png-width')"}}),
        _output("text/vnd.mermaid", "graph TD; A-->B"),
        _output(
            "application/vnd.jupyter.widget-view+json",
            {"model_id": "m1", "version_major": 2, "version_minor": 0},
        ),
        new_output("stream", name="stdout", text="<img src=x onerror=\"HIT('stream')\">"),
        new_output(
            "error",
            ename="<img src=x onerror=\"HIT('ename')\">",
            evalue="<img src=x onerror=\"HIT('evalue')\">",
            traceback=["<img src=x onerror=\"HIT('traceback')\">"],
        ),
    ]
    raw = new_raw_cell("<img src=x onerror=\"HIT('raw')\">")
    nb = new_notebook(cells=[answer, forged, code, raw])
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m1": {"model_name": "HTMLModel", "state": {"value": "<script>x</script>"}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def _templates() -> str:
    from nbgrader.server_extensions.formgrader import handlers

    return handlers.template_path


def render_formgrade(nb, config=None) -> str:
    """The formgrader's page of a submission, as nbgrader's handler renders it."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    config = copy.deepcopy(config) if config is not None else Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [_templates()]
    resources = {
        "assignment_id": "assignment1",
        "notebook_id": "conv1d",
        "submission_id": "abc",
        "index": 0,
        "total": 1,
        "base_url": "http://127.0.0.1:9",
        "student": "mallory",
        "last_name": "M",
        "first_name": "Mallory",
        "notebook_path": "autograded/mallory/assignment1/conv1d.ipynb",
    }
    html, _ = HTMLExporter(config=config).from_notebook_node(copy.deepcopy(nb), resources=resources)
    return html


def render_feedback(nb, preprocessors) -> str:
    """A feedback page, as ``nbgrader generate_feedback`` renders it (grades set by hand)."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [_templates()]
    static = Path(_templates()).parent / "static/node_modules/bootstrap/dist/css"
    config.HTMLExporter.extra_template_paths = [str(static)]
    exporter = HTMLExporter(config=config)
    for preprocessor in preprocessors:
        exporter.register_preprocessor(preprocessor, enabled=True)
    resources = {"nbgrader": {"notebook": "conv1d", "score": 1, "max_score": 3, "late_penalty": 0}}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # what nbgrader's GetGrades adds from the gradebook
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["score"] = 0
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return html


# --------------------------------------------------------------------------------------------
# Without a browser
# --------------------------------------------------------------------------------------------


def test_markdown_keeps_its_formatting_and_shows_html_as_text():
    out = safe_markdown(
        "# Title\n\nSome *text*, $x^2$, `a < b`, <b>bold</b>\n\n<script>x()</script>"
    )
    assert "<em>text</em>" in out and "<b>bold</b>" in out and "$x^2$" in out
    assert "&lt;script&gt;x()&lt;/script&gt;" in out  # shown, not run
    assert "<code>a &lt; b</code>" in out
    assert "\n" not in out
    assert sanitize.render_markdown(out).strip() == out  # nbconvert shows it unchanged
    assert safe_markdown(out) == out  # cleaning twice changes nothing


def test_code_blocks_keep_their_lines_and_blank_lines_cannot_split_the_html():
    source = "```\nline one\n\n\nline <b>two</b>\n```\n\n<p title='a\n\nb'>t</p>"
    out = safe_markdown(source)
    assert "line one<br><br><br>line &lt;b&gt;two&lt;/b&gt;" in out
    assert "\n" not in out


def test_links_and_images_only_to_safe_places():
    out = clean_html(
        '<a href="https://example.org">ok</a><a href="JaVaScRiPt:x()">js</a>'
        '<a href="/api/contents">rel</a><a href="#part">anchor</a>'
        f'<img src="data:image/png;base64,{PNG}"><img src="https://tracker.example/p.gif">'
        '<img src="data:text/html;base64,PHNjcmlwdD4=">'
    )
    assert '<a href="https://example.org">ok</a>' in out
    assert '<a href="#part">anchor</a>' in out
    assert out.count("href=") == 2  # no javascript:, no link into the Jupyter server
    assert out.count("src=") == 1  # only the notebook's own image; no tracker, no data:text/html


def test_outputs_keep_only_what_cannot_run_code():
    nb = payload_notebook()
    nb.cells[2].execution_count = "<img src=x onerror=\"HIT('count')\">"  # a kernel's reply
    sanitize.sanitize_notebook(nb)
    code = nb.cells[2]
    mimes = [set(out.get("data", {})) for out in code.outputs]
    assert all(
        not (m & {"application/javascript", "image/svg+xml", "text/markdown"}) for m in mimes
    )
    assert not any("application/vnd.jupyter.widget-view+json" in m for m in mimes)
    assert code.execution_count is None
    assert "widgets" not in nb.metadata
    assert nb.cells[1].metadata.nbgrader.grade_id.startswith("unsafe-id-")
    assert nb.cells[0].metadata.nbgrader.grade_id == "written-answer"  # a real id is kept
    assert "&lt;img" in nb.cells[3].source  # the raw cell is text
    png = [o for o in code.outputs if "image/png" in o.get("data", {})]
    assert len(png) == 1 and png[0].metadata == {}  # invalid base64 dropped, bad width dropped
    notes = [o.data.get("text/plain", "") for o in code.outputs if "data" in o]
    assert any("removed by the grader" in n and "javascript" in n for n in notes)
    nbformat.validate(nb)


def test_the_course_config_sanitises_autograde_and_feedback():
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert isinstance(config, Config)
    name = "course_utils.grading.sanitize.SanitizeStudentContent"
    assert config.Autograde.autograde_preprocessors[-1] == name
    assert name in config.GenerateFeedback.preprocessors
    assert config.HTMLExporter.sanitize_html is True
    assert (
        config.HTMLExporter.filters["markdown2html"]
        == "course_utils.grading.sanitize.markdown2html"
    )


# --------------------------------------------------------------------------------------------
# In Chromium
# --------------------------------------------------------------------------------------------

_REPORT_JS = """() => {
  for (const a of document.querySelectorAll('a')) {
    if (a.protocol === 'javascript:') a.click();
  }
  const area = document.querySelector('#notebook-container') || document.body;
  const handlers = [...area.querySelectorAll('*')].flatMap(
      el => [...el.attributes].filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name));
  const frames = area.querySelectorAll('iframe, object, embed, frame, svg, math').length;
  const jsLinks = [...area.querySelectorAll('a')].filter(a => a.protocol === 'javascript:').length;
  return {handlers, frames, jsLinks};
}"""


@pytest.fixture(scope="module")
def browser(chromium):
    """The session's one Chromium (tests/conftest.py)."""
    return chromium


def run_page(browser, html: str, tmp_path: Path) -> dict:
    """Open ``html`` from a file, network refused; return the payloads that ran and what the DOM holds."""
    path = tmp_path / f"page-{abs(hash(html))}.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page()
    try:
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        # jQuery as the real formgrader has it (the network is refused here): JavaScript
        # outputs start with `$(...)`.
        page.add_init_script(
            "window.__hits = []; window.HIT = name => window.__hits.push(name);"
            "window.$ = window.jQuery = () => ({});"
        )
        page.on("dialog", lambda dialog: dialog.dismiss())
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        found = page.evaluate(_REPORT_JS)
        page.wait_for_timeout(300)
        found["hits"] = sorted(set(page.evaluate("window.__hits")))
        return found
    finally:
        page.close()


@pytest.mark.browser
def test_the_unsanitised_page_runs_the_payloads(browser, tmp_path):
    """The check can fail: rendered as nbgrader does today, the payloads run."""
    found = run_page(browser, render_formgrade(payload_notebook()), tmp_path)
    assert {"md-script", "md-img", "md-iframe", "out-html", "out-js", "grade-id"} <= set(
        found["hits"]
    ), found
    assert found["jsLinks"] > 0


@pytest.mark.browser
def test_the_formgrader_page_of_a_sanitised_notebook_runs_nothing(browser, tmp_path):
    nb = payload_notebook()
    SanitizeStudentContent().preprocess(nb, {})
    found = run_page(browser, render_formgrade(nb), tmp_path)
    assert found == {"handlers": [], "frames": 0, "jsLinks": 0, "hits": []}


@pytest.mark.browser
def test_the_feedback_page_runs_nothing_even_from_an_unsanitised_notebook(browser, tmp_path):
    """generate_feedback's own preprocessor (StudentFacingOutputs) cleans what it shows."""
    found = run_page(browser, render_feedback(payload_notebook(), [StudentFacingOutputs]), tmp_path)
    assert found["hits"] == [] and found["frames"] == 0 and found["jsLinks"] == 0, found
    assert found["handlers"] == [], found


@pytest.mark.browser
def test_the_course_config_alone_cleans_markdown_and_html_in_the_formgrader(browser, tmp_path):
    """Second line: the formgrader with the course's HTMLExporter settings, on a notebook
    nobody sanitised (e.g. graded before this course's autograde pipeline).

    Filters see markdown and HTML only: output metadata (an image's width is written into an
    unquoted attribute by nbconvert 7.17, which lets a script through) and the forged
    ``grade_id`` need SanitizeStudentContent, which the tests above cover."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    nb = payload_notebook()
    outputs = [o for o in nb.cells[2].outputs if not o.get("metadata")]
    nb.cells = [nb.cells[0], new_code_cell("x", outputs=outputs)]
    found = run_page(browser, render_formgrade(nb, config), tmp_path)
    assert found["hits"] == [] and found["frames"] == 0 and found["jsLinks"] == 0, found
