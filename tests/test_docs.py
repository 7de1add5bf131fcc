"""The README and the guides in docs/: short, with links and names that point at something real.

The README is read in five minutes (at most ``README_MAX_LINES`` lines); every relative link in
``README.md`` and ``docs/*.md`` reaches a file (and, for a Markdown file, a heading); every
``course_utils.x.y`` module, ``cu.x.y`` name and repository path named in them exists; the guides
are pages of the reading site.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from course_utils.publish import site

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 160
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GUIDES_EXPECTED = {"instructor-guide", "student-guide", "threat-model", "benchmarks"}

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
MODULE = re.compile(r"\bcourse_utils(?:\.[A-Za-z_]\w*)+")
CU_NAME = re.compile(r"(?<![\w.])cu(?:\.[A-Za-z_]\w*)+")
# A path in the repository, as the docs write it in backticks: starts with a tracked folder.
REPO_PATH = re.compile(
    r"^(?:course_utils|tests|benchmarks|lectures|solutions|assignments|docs|\.ci)/[\w./-]+$"
)


def _page_id(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def _prose(text: str) -> str:
    """The text without fenced code blocks (links and headings there are not links or headings)."""
    return FENCE.sub("", text)


def github_slug(heading: str) -> str:
    """The anchor GitHub (and the site, ``myst_heading_anchors``) gives a Markdown heading."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def heading_anchors(page: Path) -> set[str]:
    anchors, seen = set(), {}
    for match in re.finditer(
        r"^#{1,6} +(.+?) *#*$", _prose(page.read_text(encoding="utf-8")), re.M
    ):
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def relative_links(page: Path) -> list[str]:
    prose = INLINE_CODE.sub("", _prose(page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(prose) if not re.match(r"^[a-z][a-z+.-]*:", t)]


def test_the_pages_exist():
    names = {p.stem for p in PAGES}
    assert names >= GUIDES_EXPECTED, f"docs/ lacks {sorted(GUIDES_EXPECTED - names)}"


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail into docs/"
    )


def test_readme_links_every_guide():
    links = {Path(t.split("#")[0]).stem for t in relative_links(REPO / "README.md")}
    assert links >= GUIDES_EXPECTED, f"README.md does not link {sorted(GUIDES_EXPECTED - links)}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in heading_anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert not broken, f"{_page_id(page)}: " + "; ".join(broken)


def _resolves(dotted: str) -> bool:
    """True when ``dotted`` is a module, or a module followed by attributes that exist."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        if end == len(parts):
            return True
        value = importlib.import_module(name)
        for attribute in parts[end:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_named_modules_exist(page):
    text = page.read_text(encoding="utf-8")
    # A name followed by "..." is a pattern (cu.checks.check_...), not a name.
    found = [*MODULE.finditer(text), *CU_NAME.finditer(text)]
    names = sorted(
        {
            m.group(0).replace("cu.", "course_utils.", 1)
            if m.group(0).startswith("cu.")
            else m.group(0)
            for m in found
            if not text.startswith("...", m.end())
        }
    )
    missing = [n for n in names if not _resolves(n)]
    assert not missing, f"{_page_id(page)} names what does not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_named_paths_exist(page):
    spans = [s.strip("`") for s in INLINE_CODE.findall(page.read_text(encoding="utf-8"))]
    paths = {s for s in spans if REPO_PATH.match(s) and not re.search(r"[*<>…]|NN|0N", s)}
    missing = sorted(p for p in paths if not (REPO / p.rstrip("/")).exists())
    assert not missing, f"{_page_id(page)} names paths that do not exist: {missing}"


def test_checks_catch_a_broken_link_a_missing_module_and_a_missing_path(tmp_path):
    """The checks above can fail: a page with a bad link, anchor, module and path is caught."""
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-code-section) [gone](missing.md) [bad anchor](other.md#nowhere) "
        "[web](https://example.org) `[not a link](nowhere.md)`\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["other.md#a-code-section", "missing.md", "other.md#nowhere"]
    assert "a-code-section" in heading_anchors(tmp_path / "other.md")
    assert "nowhere" not in heading_anchors(tmp_path / "other.md")
    assert _resolves("course_utils.grading.autograde")
    assert _resolves("course_utils.device.get_device")
    assert not _resolves("course_utils.pipeline")
    assert not _resolves("course_utils.device.no_such_function")
    assert not REPO_PATH.match("_build/site") and REPO_PATH.match("tests/test_docs.py")


def test_guides_are_pages_of_the_reading_site(tmp_path):
    """Every docs page is in the site's table of contents, under "Guides", with what it links."""
    pages = site.guide_pages(REPO)
    names = [p.relative_to(REPO).with_suffix("").as_posix() for p in pages]
    assert {f"docs/{p.stem}" for p in PAGES if p.parent.name == "docs"} <= set(names)
    assert names[: len(site.GUIDES)] == [f"docs/{g}" for g in site.GUIDES]
    assert "benchmarks/README" in names  # docs/benchmarks.md links it
    toc = site._toc(["lectures/a"], ["assignments/b/c"], names)
    assert '"caption": "Guides"' in toc and '"file": "docs/threat-model"' in toc
