"""Every slide deck and page opens in headless Chromium with the network blocked, and works.

A page fails on a request to a remote host, a JavaScript console error, an image that did not
load, or TeX left unrendered; a deck also fails on a slide whose content does not fit 1280x720
(screenshots of those land in _build/screenshots/). Each lecture is executed once per test
run (tests/executed_lectures.py, shared with tests/test_notebooks.py); one Chromium per test
process serves them all. A lecture's page, deck and fit tests share an xdist group (so its deck
is exported and checked once), the site's tests another: five lectures check side by side.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from executed_lectures import LECTURES, execute_once

from course_utils.publish import browser, notebooks, site

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "_build" / "screenshots"
# Attributes and CSS that make a browser fetch code, styles or fonts.
REMOTE_REFERENCE = re.compile(
    r"""(?:<script[^>]*\ssrc|<link[^>]*\shref)\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)

# Lectures whose slides are being split to fit 1280x720: their fit test reports the slides that
# do not fit as an expected failure instead of failing the suite. Remove a lecture from this set
# as soon as all its slides fit; every other check stays strict for it. Empty: all five fit.
SLIDES_BEING_SPLIT: set[str] = set()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        browser.unavailable_reason() is not None,
        reason=f"browser tests need Chromium and Playwright: {browser.unavailable_reason()}",
    ),
]


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    """Where this session's executed lectures, pages and decks go (reveal.js/MathJax in _static)."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="session")
def executed(export_dir):
    """Return a function: lecture path -> (page, deck), exported once a session from the lecture
    executed once per run (tests/executed_lectures.py, shared with tests/test_notebooks.py)."""
    cache: dict[Path, tuple[Path, Path] | str] = {}

    def get(path: Path) -> tuple[Path, Path]:
        if path not in cache:
            run = execute_once(path)
            if run.error:
                cache[path] = run.error
            else:
                notebook = run.notebook()
                target = export_dir / "lectures" / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebook, target)
                static = export_dir / "_static"
                page = notebooks.export_html(notebook, target.with_suffix(".html"), static)
                deck = notebooks.export_slides(
                    notebook, export_dir / "lectures" / f"{path.stem}.slides.html", static
                )
                cache[path] = (page, deck)
        found = cache[path]
        if isinstance(found, str):
            pytest.fail(f"{path.name} did not execute: {found}")
        return found

    return get


def _per_lecture() -> list:
    """LECTURES as parameters, each lecture's tests in one xdist group (its deck checked once)."""
    return [
        pytest.param(path, id=path.stem, marks=pytest.mark.xdist_group(f"browser-{path.stem[:2]}"))
        for path in LECTURES
    ]


def _page_failures(result: browser.PageCheck) -> list[str]:
    return [line for line in result.problems() if not line.startswith("slide ")]


@pytest.mark.parametrize("path", _per_lecture())
def test_lecture_page_works_offline(path, executed, chromium):
    page, _ = executed(path)
    result = browser.check_page(chromium, page)
    failures = _page_failures(result)
    assert not failures, f"{page.name}:\n" + "\n".join(failures[:20])


@pytest.fixture(scope="session")
def deck_check(executed, chromium):
    """Return a function: lecture path -> its deck's PageCheck, checked once a session."""
    cache: dict[Path, browser.PageCheck] = {}

    def get(path: Path) -> browser.PageCheck:
        if path not in cache:
            _, deck = executed(path)
            for old in SCREENSHOTS.glob(f"{path.stem}-slides-slide-*.png"):
                old.unlink()
            cache[path] = browser.check_deck(chromium, deck, SCREENSHOTS)
        return cache[path]

    return get


@pytest.mark.parametrize("path", _per_lecture())
def test_lecture_slides_work_offline(path, deck_check):
    result = deck_check(path)
    assert result.slides, f"{path.stem}: reveal.js found no slides"
    failures = _page_failures(result)
    assert not failures, f"{path.stem}.slides.html:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("path", _per_lecture())
def test_lecture_slides_fit_the_screen(path, deck_check):
    result = deck_check(path)
    over = result.overflowing
    lines = [f"slide {s.label} {s.heading!r}: {'; '.join(s.problems)}" for s in over]
    message = (
        f"{path.stem}: {len(over)} of {len(result.slides)} slides do not fit 1280x720 "
        f"(screenshots in {SCREENSHOTS.relative_to(REPO)}; check one lecture with "
        f"python -m course_utils.publish.build --check-slides lectures/{path.name}):\n"
        + "\n".join(lines)
    )
    if over and path.stem in SLIDES_BEING_SPLIT:
        pytest.xfail(message)
    assert not over, message


@pytest.fixture(scope="session")
def built_site(executed, export_dir) -> Path:
    """The reading site, built once a session from the lectures executed for these tests."""
    for path in LECTURES:
        executed(path)
    lectures = sorted((export_dir / "lectures").glob("*.ipynb"))
    return site.build_site(REPO, lectures, export_dir).parent


@pytest.mark.xdist_group("browser-site")
def test_site_pages_work_offline(built_site, chromium):
    pages = site.site_pages(built_site)
    names = {p.relative_to(built_site).as_posix() for p in pages}
    expected = {f"lectures/{p.stem}.html" for p in LECTURES}
    assert expected <= names, f"lectures missing from the site: {sorted(expected - names)}"
    assert any(name.startswith("assignments/") for name in names)
    failures = []
    for page in [*pages, built_site / "search.html"]:
        result = browser.check_page(chromium, page)
        failures += [f"{page.relative_to(built_site)}: {line}" for line in result.problems()]
    assert not failures, "\n".join(failures[:30])


@pytest.mark.xdist_group("browser-site")
def test_site_lists_lectures_in_course_order_and_has_search(built_site):
    intro = (built_site / "intro.html").read_text(encoding="utf-8")
    positions = [intro.find(f"lectures/{p.stem}.html") for p in LECTURES]
    assert -1 not in positions and positions == sorted(positions)
    assert (built_site / "searchindex.js").is_file()


@pytest.mark.xdist_group("browser-site")
def test_exported_files_refer_to_no_remote_code_styles_or_fonts(built_site, export_dir):
    files = [p for p in export_dir.rglob("*") if p.suffix in (".html", ".css") and p.is_file()]
    assert files
    remote = []
    for file in files:
        for match in REMOTE_REFERENCE.finditer(file.read_text(encoding="utf-8", errors="replace")):
            remote.append(f"{file.relative_to(export_dir)}: {match.group(0)[:80]}")
    assert not remote, "\n".join(remote[:20])


def test_every_browser_test_shares_the_one_chromium():
    """A second Playwright in a test process refuses to start while the first is open (its loop
    runs in the same thread), failing whichever browser test comes later on that worker: tests
    take the ``chromium`` fixture of tests/conftest.py and never open their own."""
    opening = "open_" + "browser("
    own = [
        test.name
        for test in sorted(Path(__file__).parent.glob("*.py"))
        if test.name != "conftest.py" and opening in test.read_text(encoding="utf-8")
    ]
    assert own == [], f"these tests open a browser of their own: {own}"


def test_browser_check_catches_remote_requests_tex_and_overflow(chromium, tmp_path):
    """The checker itself: a page with a remote script, raw TeX and an overflowing slide fails."""
    from course_utils.publish import offline

    assets = offline.copy_assets(tmp_path / "_static")
    reveal = offline.relative_url(assets.reveal, tmp_path)
    page = tmp_path / "bad.slides.html"
    page.write_text(
        f"""<!DOCTYPE html><html><head>
<link rel="stylesheet" href="{reveal}/dist/reveal.css">
<script src="https://example.invalid/remote.js"></script></head><body>
<div class="reveal"><div class="slides">
<section><h2>Fits</h2><p>short</p></section>
<section><h2>Too tall</h2><div style="height: 2000px">tall</div><p>$x^2$ left raw</p></section>
</div></div>
<script src="{reveal}/dist/reveal.js"></script>
<script>Reveal.initialize({{width: 960, height: 700}});</script></body></html>""",
        encoding="utf-8",
    )
    result = browser.check_deck(chromium, page, tmp_path / "shots")
    assert any("example.invalid" in url for url in result.remote_requests)
    assert any("x^2" in text for text in result.unrendered_tex)
    assert [s.heading for s in result.overflowing] == ["Too tall"]
    assert result.overflowing[0].screenshot.is_file()


# ------------------------------------------------------------------ slide style (issue 25)


@pytest.mark.parametrize("path", _per_lecture())
def test_no_assert_in_the_code_a_deck_shows(path, executed):
    """Every assert runs hidden (hide-input): the exported deck's visible code has none."""
    _, deck = executed(path)
    html = deck.read_text(encoding="utf-8")
    assert '<span class="k">assert</span>' not in html, f"{deck.name} shows an assert on a slide"


_ANCHOR_JS = """(id) => {
  const anchor = document.getElementById(id);
  const bar = document.querySelector('.bd-header-article');
  const headings = [...document.querySelectorAll('h1, h2, h3')];
  const next = headings.find(h => anchor.compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING);
  return {bar: bar ? bar.getBoundingClientRect().bottom : 0,
          heading: next.getBoundingClientRect().top, height: window.innerHeight};
}"""
_TABLES_JS = """() => [...document.querySelectorAll('.bd-article table')].map(
  t => [t.scrollWidth, t.clientWidth, t.textContent.trim().slice(0, 30)])"""


@pytest.mark.xdist_group("browser-site")
def test_site_titles_links_and_tables(built_site, chromium):
    """Clean lecture titles in the contents; a link to a section shows its heading below the
    sticky header; Assignment 1's tables fit the article; hidden code is folded."""
    context = chromium.new_context(viewport=browser.VIEWPORT)
    page = context.new_page()
    try:
        lecture = built_site / f"lectures/{LECTURES[0].stem}.html"
        for anchor in ("stride", "receptive-field", "errata"):
            page.goto(lecture.resolve().as_uri() + "#" + anchor)
            page.wait_for_timeout(500)
            where = page.evaluate(_ANCHOR_JS, anchor)
            assert where["bar"] <= where["heading"] < where["height"] / 2, (anchor, where)
        titles = page.evaluate(
            "() => [...document.querySelectorAll('nav.bd-links a')].map(a => a.textContent.trim())"
        )
        for path in LECTURES:
            assert site.lecture_title(notebooks.read_notebook(path)) in titles
        assert not [t for t in titles if "(deck" in t], titles
        assert page.locator("details.above-input").count() > 10  # folded support code
        page.goto((built_site / "assignments/assignment1/conv1d.html").resolve().as_uri())
        tables = page.evaluate(_TABLES_JS)
        assert tables and all(scroll <= client + 1 for scroll, client, _ in tables), tables
    finally:
        context.close()
