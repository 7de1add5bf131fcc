"""The main job: release every assignment, check it, execute every lecture, write a report."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import pipeline
from .notebooks import execute_notebook, export_html, export_slides, stderr_outputs

BUILD_DIR = "_build"
LECTURES_DIR = "lectures"
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


def execute_lectures(
    root: Path, names: list[str] | None = None, progress: pipeline.Progress = print
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
            notebook, _ = execute_notebook(path, out_dir / path.name, timeout=LECTURE_TIMEOUT)
            outputs = [
                out_dir / path.name,
                export_html(notebook, out_dir / f"{path.stem}.html"),
                export_slides(notebook, out_dir / f"{path.stem}.slides.html"),
            ]
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


def write_report(
    root: Path,
    checks: list[pipeline.CheckResult],
    lectures: list[LectureResult],
    seconds: float,
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
    report = root / BUILD_DIR / "REPORT.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def build(root: Path, jobs: int = 1, progress: pipeline.Progress = print) -> bool:
    """Release, check and execute everything; return True when every part succeeded."""
    start = time.perf_counter()
    progress("== releasing assignments from solutions/ into assignments/")
    pipeline.release(root, progress=progress)
    progress("== checking: every solution must score full marks, every release zero")
    checks = pipeline.check(root, jobs=jobs, progress=progress)
    for item in checks:
        progress(
            f"{item.assignment}: {'ok' if item.ok else 'PROBLEM: ' + '; '.join(item.problems)}"
        )
    progress("== executing lectures")
    lectures = execute_lectures(root, progress=progress)
    report = write_report(root, checks, lectures, time.perf_counter() - start)
    ok = all(item.ok for item in checks) and all(lecture.ok for lecture in lectures)
    progress("")
    progress(f"{'BUILD OK' if ok else 'BUILD FAILED'} in {time.perf_counter() - start:.0f} s")
    progress(f"  report:            {report.relative_to(root)}")
    progress(f"  student notebooks: {pipeline.RELEASE_DIR}/ (commit them)")
    progress(f"  executed lectures: {BUILD_DIR}/{LECTURES_DIR}/*.ipynb, *.html, *.slides.html")
    progress(f"  grading logs:      {pipeline.LOG_DIR}/check/")
    return ok
