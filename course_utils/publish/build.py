"""The main job: release every assignment, check it, execute every lecture, write a report."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.grading import autograde, gradebook, records
from course_utils.publish.notebooks import (
    execute_notebook,
    export_html,
    export_slides,
    read_notebook,
    stderr_outputs,
)

BUILD_DIR = "_build"
LECTURES_DIR = "lectures"
STATIC_DIR = "_static"  # the local reveal.js and MathJax every page refers to
SCREENSHOTS_DIR = "screenshots"
LECTURE_TIMEOUT = 300


@dataclass
class LectureResult:
    """The outcome of executing one lecture notebook."""

    name: str
    ok: bool
    seconds: float
    outputs: list[Path] = field(default_factory=list)
    error: str = ""


def lecture_paths(root: Path) -> list[Path]:
    """Return the lecture notebooks in course order (their file names start with the number)."""
    return sorted((root / LECTURES_DIR).glob("*.ipynb"))


def export_lecture(root: Path, notebook: nbformat.NotebookNode, stem: str) -> list[Path]:
    """Write an executed lecture as an offline HTML page and slide deck; return both paths."""
    out_dir = root / BUILD_DIR / LECTURES_DIR
    static_dir = root / BUILD_DIR / STATIC_DIR
    return [
        export_html(notebook, out_dir / f"{stem}.html", static_dir),
        export_slides(notebook, out_dir / f"{stem}.slides.html", static_dir),
    ]


def executed_lecture(
    root: Path, path: Path, reuse: bool = True
) -> tuple[nbformat.NotebookNode, str]:
    """Return lecture ``path`` executed, and how: the copy in _build/lectures when ``reuse`` and it
    is newer than the source, else a fresh headless run (saved there)."""
    executed = root / BUILD_DIR / LECTURES_DIR / path.name
    if reuse and executed.is_file() and executed.stat().st_mtime >= path.stat().st_mtime:
        return read_notebook(executed), f"reused {executed.relative_to(root)}"
    notebook, seconds = execute_notebook(
        path, executed, timeout=LECTURE_TIMEOUT, record_figures=True
    )
    return notebook, f"executed in {seconds:.0f} s"


def execute_lectures(
    root: Path, names: list[str] | None = None, progress: records.Progress = print
) -> list[LectureResult]:
    """Execute each lecture into _build/lectures (notebook with outputs, HTML page, reveal.js slides)."""
    out_dir = root / BUILD_DIR / LECTURES_DIR
    results = []
    paths = lecture_paths(root)
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
    for path in paths:
        start = time.perf_counter()
        try:
            notebook, _ = execute_notebook(
                path, out_dir / path.name, timeout=LECTURE_TIMEOUT, record_figures=True
            )
            outputs = [out_dir / path.name, *export_lecture(root, notebook, path.stem)]
            warnings = stderr_outputs(notebook)
            result = LectureResult(
                path.stem,
                not warnings,
                time.perf_counter() - start,
                outputs,
                "wrote to stderr: " + warnings[0][:300] if warnings else "",
            )
        except Exception as exc:  # a broken lecture is reported, the others still build
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            result = LectureResult(
                path.stem, False, time.perf_counter() - start, error=message[-2000:]
            )
        status = "ok" if result.ok else f"FAILED: {result.error}"
        progress(f"lecture {path.stem}: {status} ({result.seconds:.1f} s)")
        results.append(result)
    return results


def build_reading_site(
    root: Path, lectures: list[LectureResult], progress: records.Progress = print
) -> tuple[Path | None, str]:
    """Build the reading site from the executed lectures; return its index (None) and a status."""
    from course_utils.publish import site

    executed = [p for lecture in lectures for p in lecture.outputs if p.suffix == ".ipynb"]
    start = time.perf_counter()
    try:
        index = site.build_site(root, executed, root / BUILD_DIR)
    except Exception as exc:  # the rest of the build stands; the report says what failed
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        progress(f"site: FAILED: {message[-500:]}")
        return None, f"FAILED: {message[-1000:]}"
    seconds = time.perf_counter() - start
    progress(f"site: ok ({seconds:.0f} s): {index.relative_to(root)}")
    return index, f"ok ({seconds:.0f} s)"


def build_site_only(
    root: Path, fresh: bool = False, progress: records.Progress = print
) -> Path | None:
    """Rebuild the reading site from the lectures executed in _build/lectures; no checks run.

    A lecture whose executed copy is missing or older than its source (or every lecture, with
    ``fresh``) is executed first. Returns the site's index, or None when a lecture or the site
    failed (each failure is reported through ``progress``).
    """
    from course_utils.publish import site

    executed, ok = [], True
    for path in lecture_paths(root):
        try:
            notebook, how = executed_lecture(root, path, reuse=not fresh)
        except Exception as exc:  # the site is built from the others; the failure is reported
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            progress(f"lecture {path.stem}: FAILED: {message[-1000:]}")
            ok = False
            continue
        warnings = stderr_outputs(notebook)
        if warnings:
            progress(f"lecture {path.stem}: wrote to stderr: {warnings[0][:300]}")
            ok = False
        progress(f"lecture {path.stem}: {how}")
        executed.append(root / BUILD_DIR / LECTURES_DIR / path.name)
    start = time.perf_counter()
    try:
        index = site.build_site(root, executed, root / BUILD_DIR)
    except Exception as exc:
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        progress(f"site: FAILED: {message[-1000:]}")
        return None
    progress(f"site: ok ({time.perf_counter() - start:.0f} s): {index.relative_to(root)}")
    return index if ok else None


def write_report(
    root: Path,
    checks: list[records.CheckResult],
    lectures: list[LectureResult],
    seconds: float,
    site: tuple[Path | None, str] | None = None,
) -> Path:
    """Write _build/REPORT.md summarising the build and return its path."""
    lines = [
        "# Course build report",
        "",
        f"Built in {seconds:.0f} s.",
        "",
        "## Assignments",
        "",
        "| assignment | solution | release | status |",
        "|---|---|---|---|",
    ]
    for item in checks:
        status = "ok" if item.ok else "; ".join(item.problems)
        lines.append(
            f"| {item.assignment} | {item.solution.score:g}/{item.solution.max_score:g} "
            f"| {item.release.score:g}/{item.release.max_score:g} | {status} |"
        )
    lines += [
        "",
        "## Lectures",
        "",
        "| lecture | seconds | status | outputs |",
        "|---|---|---|---|",
    ]
    for lecture in lectures:
        outputs = ", ".join(str(p.relative_to(root)) for p in lecture.outputs)
        lines.append(
            f"| {lecture.name} | {lecture.seconds:.1f} | {'ok' if lecture.ok else lecture.error} | {outputs} |"
        )
    if site is not None:
        index, status = site
        lines += ["", "## Reading site", ""]
        if index is not None:
            link = index.relative_to(root / BUILD_DIR).as_posix()
            lines.append(f"[{link}]({link}) ({status}; open it in a browser, no server needed)")
        else:
            lines.append(status)
    report = root / BUILD_DIR / "REPORT.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def build(root: Path, jobs: int = 1, progress: records.Progress = print) -> bool:
    """Release, check and execute everything; return True when every part succeeded."""
    start = time.perf_counter()
    progress("== releasing assignments from solutions/ into assignments/")
    gradebook.release(root, progress=progress)
    progress("== checking: every solution must score full marks, every release zero")
    checks = autograde.check(root, jobs=jobs, progress=progress)
    for item in checks:
        progress(
            f"{item.assignment}: {'ok' if item.ok else 'PROBLEM: ' + '; '.join(item.problems)}"
        )
    progress("== executing lectures")
    lectures = execute_lectures(root, progress=progress)
    progress("== building the reading site (Jupyter Book) into _build/site")
    site = build_reading_site(root, lectures, progress=progress)
    report = write_report(root, checks, lectures, time.perf_counter() - start, site)
    ok = (
        all(item.ok for item in checks)
        and all(lecture.ok for lecture in lectures)
        and site[0] is not None
    )
    progress("")
    progress(f"{'BUILD OK' if ok else 'BUILD FAILED'} in {time.perf_counter() - start:.0f} s")
    progress(f"  report:            {report.relative_to(root)}")
    progress(f"  student notebooks: {records.RELEASE_DIR}/ (commit them)")
    progress(f"  executed lectures: {BUILD_DIR}/{LECTURES_DIR}/*.ipynb, *.html, *.slides.html")
    progress(f"  reading site:      {BUILD_DIR}/site/index.html (works offline)")
    progress(f"  grading logs:      {records.LOG_DIR}/check/")
    return ok


def check_slides(
    root: Path, paths: list[Path], reuse: bool = True, progress: records.Progress = print
) -> bool:
    """Export each lecture's slides offline and check every slide in headless Chromium.

    Prints, per lecture, the slides whose content does not fit 1280x720 (reveal.js index
    ``h`` or ``h/v`` and heading, with a screenshot in _build/screenshots/), any remote
    request, console error, broken image or unrendered TeX, and the figures whose text is
    under 16 px on the screen (when the executed copy recorded them). True when all is clean.
    """
    from course_utils.publish import browser

    reason = browser.unavailable_reason()
    if reason:
        progress(f"cannot check slides: {reason}")
        return False
    screenshots = root / BUILD_DIR / SCREENSHOTS_DIR
    clean = True
    with browser.open_browser() as chromium:
        for path in paths:
            path = path if path.is_absolute() else root / path
            start = time.perf_counter()
            notebook, how = executed_lecture(root, path, reuse=reuse)
            _, deck = export_lecture(root, notebook, path.stem)
            for old in screenshots.glob(f"{path.stem}-slides-slide-*.png"):
                old.unlink()
            result = browser.check_deck(chromium, deck, screenshots)
            seconds = time.perf_counter() - start
            over = result.overflowing
            progress(
                f"{path.stem}: {len(result.slides)} slides, {len(over)} do not fit 1280x720 "
                f"({how}; checked in {seconds:.0f} s; deck {deck.relative_to(root)})"
            )
            for slide in over:
                shot = f"  [{slide.screenshot.relative_to(root)}]" if slide.screenshot else ""
                progress(
                    f"  slide {slide.label} {slide.heading!r}: {'; '.join(slide.problems)}{shot}"
                )
            others = [line for line in result.problems() if not line.startswith("slide ")]
            for line in others:
                progress(f"  {line}")
            small = _small_figure_text(notebook)
            for line in small:
                progress(f"  {line}")
            clean = clean and not result.problems() and not small
    return clean


def _small_figure_text(notebook: nbformat.NotebookNode) -> list[str]:
    """Figures of an executed lecture with text under 16 px on a slide (none when not recorded)."""
    from course_utils.publish import figures

    try:
        return [f"small text: {found.describe()}" for found in figures.small_figure_text(notebook)]
    except ValueError:  # executed before figures were recorded: nothing to say
        return []


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.publish.build --check-slides LECTURE.ipynb ...``: the slide checker."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m course_utils.publish.build",
        description="Check lecture slides offline in headless Chromium at 1280x720.",
    )
    parser.add_argument(
        "--check-slides",
        nargs="+",
        metavar="LECTURE",
        required=True,
        help="lecture notebooks whose slides to check in headless Chromium at 1280x720",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="execute the lectures again even when _build/lectures has a newer executed copy",
    )
    args = parser.parse_args(argv)
    root = Path.cwd()
    paths = [Path(p) for p in args.check_slides]
    missing = [str(p) for p in paths if not (root / p).is_file()]
    if missing:
        parser.error(f"no such lecture: {', '.join(missing)}")
    return 0 if check_slides(root, paths, reuse=not args.fresh) else 1


if __name__ == "__main__":
    raise SystemExit(main())
