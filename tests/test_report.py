"""course_utils.grading.report: what the class got wrong, counted for exactly the students who did it.

A class is built from the known-bug variants of Assignments 1-3 (tests/test_assignment*_bugs.py:
notebook edits; several students per bug, some with two bugs, some honest). Each student's
notebook runs in this process with the real checkers (tests/notebook_scoring.py's way), and what
grading keeps is written as grading writes it: the scores in an nbgrader gradebook of the released
assignments, the kept outcomes (logs/result-*), the re-run's reports (logs/verify-*, made of
course_utils.grading.verify's own classes, with the diagnosis ids the checkers put on their
exceptions). The report must name each bug's mistake for exactly the students who have it, link
it to its lecture section, and render in headless Chromium with its plots and no network. One
test (slow) grades three submissions through the real pipeline (nbgrader in the sandbox, then the
re-run) and reads the ids from there; one builds the report of a 40-student class and times it.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import shutil
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import pytest
import test_assignment1_bugs
import test_assignment2_bugs
import test_assignment3_bugs
from notebook_scoring import affected_tests, bug, nbgrader_meta, scored_notebook

from course_utils.checks.diagnoses import FAMILIES, cases_of, diagnoses_of, parse
from course_utils.grading import gradebook, report, verify
from course_utils.grading.records import (
    AUTOGRADED_DIR,
    GradeResult,
    gradebook_url,
    report_path,
    save_record,
)

REPO = Path(__file__).resolve().parents[1]
BUGS = {
    "assignment1": test_assignment1_bugs.BUGS,
    "assignment2": test_assignment2_bugs.BUGS,
    "assignment3": test_assignment3_bugs.BUGS,
}
# Assignment 3's accuracy test trains a network (about 35 s a student here): not in this class.
SLOW_TEST = "test_digits_cnn_accuracy"
UNGRADED = {"speed"}  # Assignment 1's timing demo
PAYLOAD = "<img src=x onerror=\"document.title='pwned'\">"
A1_PAYLOAD_BUG = bug(
    "conv1d-single",
    (None, f"def conv1d_single(x, w):\n    raise ValueError({PAYLOAD!r})"),
    fails="test_conv1d_single",
)

# each bug's mistake (the id the report must name it by) and the families its failures may show
EXPECTED = {
    "conv1d: kernel flipped (convolution)": ("a1.conv1d.flipped-kernel", {"flipped-kernel"}),
    "conv1d: padding on one side only": ("a1.conv1d.padding-one-side", {"padding-one-side"}),
    "same_padding: extra zero first": (
        "a1.same_padding.same-extra-zero-first",
        {"same-extra-zero-first"},
    ),
    "conv1d_single: off by one (range(L - K))": ("a1.conv1d_single.off-by-one", {"off-by-one"}),
    "conv1d_single: flipped kernel (convolution)": (
        "a1.conv1d_single.flipped-kernel",
        {"flipped-kernel"},
    ),
    "conv_output_size: padding counted once": (
        "a1.conv_output_size.padding-counted-once",
        {"padding-counted-once"},
    ),
    # all the zeros top and left: with 'same' padding that is the extra zero put first
    "conv2d: padding on one side only (top/left)": (
        "a2.conv2d.padding-one-side",
        {"padding-one-side", "same-extra-zero-first"},
    ),
    "conv2d: kernel flipped": ("a2.conv2d.flipped-kernel", {"flipped-kernel"}),
    "max_pool2d: padded with zeros instead of -inf": (
        "a2.max_pool2d.max-pool-zero-padding",
        {"max-pool-zero-padding"},
    ),
    "conv2d_parameters: bias forgotten": ("a2.conv2d_parameters.bias-count", {"bias-count"}),
    "conv2d_backward: cropped from one side": (
        "a3.conv2d_backward.padding-one-side",
        {"padding-one-side"},
    ),
    "relu_backward: gradient 1 at 0 ([x >= 0])": ("a3.relu.relu-at-zero", {"relu-at-zero"}),
    "numeric_gradient: one-sided differences": (
        "a3.numeric_gradient.finite-difference",
        {"finite-difference"},
    ),
}
CLASS = {
    "assignment1": {
        "ada": [],
        "ben": ["conv1d: kernel flipped (convolution)"],
        "cy": ["conv1d: padding on one side only"],
        "dee": ["conv1d: padding on one side only", "same_padding: extra zero first"],
        "eve": ["conv1d_single: off by one (range(L - K))", "conv1d: kernel flipped (convolution)"],
        "fay": ["conv_output_size: padding counted once"],
        "gus": ["conv1d_single: flipped kernel (convolution)"],
        "kim": ["payload"],  # its error message is HTML: the page must show it as text
    },
    "assignment2": {
        "ada": [],
        "ben": ["conv2d: kernel flipped"],
        "cy": ["conv2d: padding on one side only (top/left)"],
        "hal": [
            "max_pool2d: padded with zeros instead of -inf",
            "conv2d_parameters: bias forgotten",
        ],
    },
    "assignment3": {
        "dee": ["conv2d_backward: cropped from one side"],
        "ivy": [
            "relu_backward: gradient 1 at 0 ([x >= 0])",
            "numeric_gradient: one-sided differences",
        ],
    },
}
TIMED_OUT = ("jo", "test_conv1d_dilation")  # ada's work; the notebook lost that cell to the clock
NOT_GRADED = ("zed", "the notebook is not valid JSON")
FLAGGED = ("gus", "<b>passed in the notebook</b> but not when re-run")


@dataclass
class CellRun:
    """A test cell of one student's notebook, run in this process with the real checkers."""

    passed: bool
    diagnoses: tuple[str, ...] = ()
    cases: str = ""
    message: str = ""


def _bugs(assignment: str, names: list[str]):
    return [A1_PAYLOAD_BUG if name == "payload" else BUGS[assignment][name] for name in names]


@functools.cache
def _honest_runs(assignment: str) -> dict[str, CellRun]:
    return run_student(assignment, [])


def run_student(assignment: str, names: list[str]) -> dict[str, CellRun]:
    """Run a notebook with ``names``' bugs in its solution cells; score its test cells as nbgrader does.

    A test cell that cannot see the changed cells (``notebook_scoring.affected_tests``) earns
    what it earns in the honest notebook and is not run again.
    """
    notebook = scored_notebook(assignment)
    bugs = _bugs(assignment, names)
    assert len({b.cell for b in bugs}) == len(bugs), "one bug per solution cell"
    sources = {b.cell: notebook.buggy_source(b) for b in bugs}
    skip = notebook.skip | UNGRADED
    affected = affected_tests(notebook.source, sources, frozenset(skip)) if sources else None
    namespace: dict = {"__name__": "__main__"}
    runs = {}
    for cell in notebook.source.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.cell_type != "code" or cell.id in skip or grade_id == SLOW_TEST:
            continue
        unaffected_test = (
            affected is not None
            and grade_id in notebook.points
            and grade_id not in affected
            and not nbgrader_meta(cell).get("solution")
        )
        if unaffected_test:
            runs[grade_id] = _honest_runs(assignment)[grade_id]
            continue
        stderr, error = io.StringIO(), None
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(stderr),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("always")
            try:
                exec(compile(sources.get(cell.id, cell.source), cell.id, "exec"), namespace)
            except Exception as exc:
                error = exc
        if grade_id in notebook.points:
            if error is not None:
                message = f"{type(error).__name__}: {error}"
                runs[grade_id] = CellRun(
                    False, diagnoses_of(error), cases_of(error) or "", message[:3000]
                )
            else:
                runs[grade_id] = CellRun(not stderr.getvalue(), message=stderr.getvalue()[:200])
    return runs


def _course(root: Path, assignments: list[str]) -> None:
    """A scratch course with these assignments released (Assignment 3 without its training test)."""
    shutil.copy(REPO / "nbgrader_config.py", root)
    for name in assignments:
        shutil.copytree(REPO / "solutions" / name, root / "solutions" / name)
        for path in (root / "solutions" / name).glob("*.ipynb"):
            data = json.loads(path.read_text(encoding="utf-8"))
            data["cells"] = [c for c in data["cells"] if nbgrader_meta_dict(c) != SLOW_TEST]
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    gradebook.release(root, assignments, progress=lambda _: None)


def nbgrader_meta_dict(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _points(root: Path, assignment: str) -> list[tuple[str, str, float]]:
    return [(c.notebook, c.grade_id, c.points) for c in report.test_cells_of(root, assignment)]


def keep_grading(
    root: Path,
    assignment: str,
    student: str,
    runs: dict[str, CellRun],
    lost: str | None = None,
    flags: tuple[str, ...] = (),
) -> None:
    """Write what grading keeps of one graded submission: gradebook scores, record, re-run report."""
    from nbgrader.api import Gradebook

    cells = _points(root, assignment)
    rerun = verify.VerifyReport(student, assignment, seed=1, sandbox=False)
    score = 0.0
    with Gradebook(gradebook_url(root)) as book, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's notes on nbgrader's add_submission
        book.update_or_create_student(student)
        book.add_submission(assignment, student)
        for notebook, grade_id, points in cells:
            run = runs[grade_id]
            passed = run.passed and grade_id != lost
            book.find_grade(grade_id, notebook, assignment, student).auto_score = (
                points if passed else 0.0
            )
            score += points if passed else 0.0
            verdict = verify.CellVerdict(notebook, grade_id, points, points if passed else 0.0)
            if passed:
                verdict.verified = True
            elif grade_id != lost:  # re-run to name the mistake, as verify does
                verdict.explained = "failed"
                verdict.diagnoses, verdict.failed_cases = list(run.diagnoses), run.cases
                verdict.message = run.message
            rerun.cells.append(verdict)
        book.db.commit()
    if lost:  # the graded notebook: the lost cell's error output, written before the report
        notebook = next(n for n, g, _ in cells if g == lost)
        data = nbformat.v4.new_notebook()
        data.cells = [nbformat.v4.new_code_cell("pass")]
        data.cells[0].metadata["nbgrader"] = {"grade_id": lost}
        data.cells[0].outputs = [
            nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
        ]
        folder = root / AUTOGRADED_DIR / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(data, folder / f"{notebook}.ipynb")
    path = report_path(root, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(rerun)), encoding="utf-8")
    maximum = sum(points for _, _, points in cells)
    save_record(root, GradeResult(student, assignment, "graded", score, maximum, flags=list(flags)))


# The class is run once, in this module's fixtures: every test of the module on one worker.
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, dict[str, CellRun]]]:
    """assignment -> student -> grade_id -> what the student's notebook earned (run here)."""
    return {
        assignment: {student: run_student(assignment, bugs) for student, bugs in students.items()}
        for assignment, students in CLASS.items()
    }


@pytest.fixture(scope="module")
def graded_class(runs, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-class")
    _course(root, list(CLASS))
    for assignment, students in runs.items():
        for student, cells in students.items():
            flags = (FLAGGED[1],) if student == FLAGGED[0] else ()
            keep_grading(root, assignment, student, cells, flags=flags)
    keep_grading(root, "assignment1", TIMED_OUT[0], runs["assignment1"]["ada"], lost=TIMED_OUT[1])
    save_record(root, GradeResult(NOT_GRADED[0], "assignment1", "failed", reason=NOT_GRADED[1]))
    return root


@pytest.fixture(scope="module")
def reports(graded_class) -> dict[str, tuple[Path, Path, report.Report]]:
    return {name: report.write_report(graded_class, name) for name in CLASS}


def _students_with(assignment: str, name: str) -> set[str]:
    return {student for student, bugs in CLASS[assignment].items() if name in bugs}


def test_each_bug_is_counted_for_exactly_the_students_who_have_it(reports):
    for name, (diagnosis, _) in EXPECTED.items():
        assignment = f"assignment{diagnosis[1]}"
        rows = {row.key: row for row in reports[assignment][2].mistakes}
        assert diagnosis in rows, f"{name}: the report has no row {diagnosis}"
        assert set(rows[diagnosis].students) == _students_with(assignment, name), name
        assert not rows[diagnosis].uncertain, name


def test_nobody_is_counted_for_a_mistake_they_did_not_make(reports):
    for assignment, (_, _, made) in reports.items():
        assert made.mistakes
        for row in made.mistakes:
            for student in row.students:
                families = set().union(
                    *(EXPECTED[b][1] for b in CLASS[assignment][student] if b in EXPECTED)
                )
                assert row.family in families, f"{student} counted for {row.key}"
        honest = {s for s, bugs in CLASS[assignment].items() if not bugs}
        counted = {s for row in made.mistakes + made.unnamed for s in row.students}
        assert not honest & counted
        assert made.graded == len(CLASS[assignment]) + (assignment == "assignment1")


def test_two_explanations_of_one_failure_are_narrowed_by_the_students_other_failures(reports, runs):
    # cy's conv1d_im2col failure matches three typical bugs; cy's other failures show one family
    ambiguous = runs["assignment1"]["cy"]["test_conv1d_im2col"].diagnoses
    assert len({parse(d).family.slug for d in ambiguous}) > 1
    rows = {row.key: row for row in reports["assignment1"][2].mistakes}
    assert "cy" in rows["a1.conv1d_im2col.padding-one-side"].students
    assert (
        "cy"
        not in rows.get("a1.conv1d_im2col.same-padding", report.Mistake("", "", [], {}, 0)).students
    )
    assert report.resolve([("a1.x.flipped-kernel", "a1.x.off-by-one")]) == [
        ("a1.x.flipped-kernel", "a1.x.off-by-one")
    ]


def test_each_mistake_links_to_the_section_that_teaches_it(reports):
    for assignment, (page, table, made) in reports.items():
        text = page.read_text(encoding="utf-8")
        key = f"a{assignment[-1]}"
        for row in made.mistakes:
            section = FAMILIES[row.family].section_for(key)
            assert row.section == section
            href = section.href("../_build/site")
            assert f'href="{href}"' in text, href
        with table.open(encoding="utf-8") as handle:
            written = {r["diagnosis"]: r for r in csv.DictReader(handle)}
        for row in made.mistakes + made.unnamed:
            assert written[row.key]["student_ids"].split() == row.students
            assert int(written[row.key]["students"]) == len(row.students)
        for row in made.mistakes:
            assert written[row.key]["lecture_url"] == row.section.href("../_build/site")


def test_unnamed_mistakes_are_counted_and_their_text_escaped(reports):
    made = reports["assignment1"][2]
    unnamed = {row.key: row for row in made.unnamed}
    assert "kim" in unnamed["unnamed:test_conv1d_single"].students
    assert any(PAYLOAD in example for example in unnamed["unnamed:test_conv1d_single"].examples)
    text = reports["assignment1"][0].read_text(encoding="utf-8")
    assert PAYLOAD not in text and "&lt;img src=x" in text
    assert "<b>passed" not in text and "&lt;b&gt;passed in the notebook" in text


def test_per_part_rates_time_outs_and_medians(reports, runs):
    made = reports["assignment1"][2]
    parts = {cell.grade_id: part for part in made.parts for cell in part.cells}
    single = parts["test_conv1d_single"]
    students = {**runs["assignment1"], TIMED_OUT[0]: runs["assignment1"]["ada"]}
    passed = [s for s, r in students.items() if r["test_conv1d_single"].passed]
    failed_hidden = [
        s
        for s, r in students.items()
        if not r["test_conv1d_single"].passed and r["test_conv1d_single"].cases == "hidden"
    ]
    assert single.visible == (len(passed) + len(failed_hidden), len(students))
    assert single.hidden[0] == len(passed)
    assert parts[TIMED_OUT[1]].timeouts == 1 and sum(p.timeouts for p in made.parts) == 1
    for part in made.parts:
        expected = [
            sum(
                c.points
                for c in part.cells
                if r[c.grade_id].passed and (s, c.grade_id) != TIMED_OUT
            )
            for s, r in students.items()
        ]
        assert sorted(part.scores) == sorted(expected), part.name
        assert part.median == statistics.median(expected)
    assert made.max_score == sum(p.points for p in made.parts)
    assert sorted(made.totals) == sorted(
        map(sum, zip(*[p.scores for p in made.parts], strict=True))
    )


def test_integrity_flags_and_ungraded_students(reports):
    made = reports["assignment1"][2]
    flagged = dict(made.flags)
    assert flagged[FLAGGED[0]] == [FLAGGED[1]]
    assert flagged[NOT_GRADED[0]] == [f"not graded: {NOT_GRADED[1]}"]
    assert made.not_graded == {NOT_GRADED[0]: NOT_GRADED[1]}


def test_the_same_family_seen_again_later(reports):
    seen = {(r.family, r.student): sorted(r.seen) for r in reports["assignment2"][2].recurrences}
    assert seen[("flipped-kernel", "ben")] == ["assignment1", "assignment2"]
    assert seen[("padding-one-side", "cy")] == ["assignment1", "assignment2"]
    assert all(student in ("ben", "cy") for _, student in seen)
    later = {(r.family, r.student) for r in reports["assignment3"][2].recurrences}
    assert later == {("padding-one-side", "dee")}
    first = {(r.family, r.student) for r in reports["assignment1"][2].recurrences}
    assert {
        ("flipped-kernel", "ben"),
        ("padding-one-side", "cy"),
        ("padding-one-side", "dee"),
    } <= first


def test_a_stale_re_run_report_is_not_read(graded_class, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(graded_class, root)
    folder = root / AUTOGRADED_DIR / "ben" / "assignment1"
    folder.mkdir(parents=True)
    time.sleep(0.05)
    nbformat.write(nbformat.v4.new_notebook(), folder / "conv1d.ipynb")  # graded again since
    made = report.build_report(report.collect(root, "assignment1"))
    rows = {row.key: row.students for row in made.mistakes}
    assert rows["a1.conv1d.flipped-kernel"] == ["eve"]
    assert "ben" in made.undiagnosed["no re-run report"]


def test_the_page_renders_offline_in_chromium_with_its_plots(reports, chromium):
    from course_utils.publish.browser import check_page

    browser = chromium
    for page, _, _ in reports.values():
        seen = check_page(browser, page)
        assert not seen.remote_requests and not seen.failed_requests, page
        assert not seen.console_errors and not seen.broken_images, seen.problems()
        context = browser.new_context(java_script_enabled=True)
        try:
            tab = context.new_page()
            tab.goto(page.resolve().as_uri(), wait_until="load")
            assert tab.title().endswith("what the class got wrong")  # no script ran
            shown = tab.evaluate(
                "() => [...document.images].map(i => [i.naturalWidth, i.src.slice(0, 22)])"
            )
            assert shown and all(w > 100 and s == "data:image/png;base64," for w, s in shown)
            assert tab.evaluate("() => document.scripts.length") == 0
        finally:
            context.close()


def test_a_class_of_forty_builds_in_seconds(graded_class, runs, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(graded_class, root)
    work = list(runs["assignment1"].values())
    for index in range(40 - len(CLASS["assignment1"]) - 1):  # and the class's 9
        keep_grading(root, "assignment1", f"s{index:02d}", work[index % len(work)])
    started = time.perf_counter()
    _, _, made = report.write_report(root, "assignment1")
    seconds = time.perf_counter() - started
    print(f"report of {made.graded} students built in {seconds:.2f} s")
    assert made.graded == 40
    assert seconds < 30, f"{seconds:.1f} s"


def test_arguments_are_checked(graded_class):
    with pytest.raises(ValueError, match="site"):
        report.site_for(graded_class, graded_class, "javascript:alert(1)")
    assert report.site_for(graded_class, graded_class / "grades") == "../_build/site"
    from course_utils.grading.records import CourseError

    with pytest.raises(CourseError, match="unknown assignment"):
        report.write_report(graded_class, "assignment9")


@pytest.mark.slow
def test_the_ids_come_from_the_real_grading_run(tmp_path, sandbox_available):
    """Three submissions through nbgrader in the sandbox and the re-run, then `course report`."""
    from course_utils import cli
    from course_utils.grading import autograde, intake
    from course_utils.grading.records import GradingSetup

    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO / "solutions" / "assignment1", tmp_path / "solutions" / "assignment1")
    gradebook.release(tmp_path, ["assignment1"], progress=lambda _: None)
    notebook = scored_notebook("assignment1")
    students = {
        "ann": [],
        "bob": ["conv1d: kernel flipped (convolution)"],
        "dan": ["conv1d: padding on one side only", "same_padding: extra zero first"],
    }
    for student, names in students.items():
        submitted = nbformat.read(notebook.path, as_version=4)
        for b in _bugs("assignment1", names):
            cell = next(c for c in submitted.cells if c.id == b.cell)
            cell.source = notebook.buggy_source(b)
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(submitted, tmp_path / "subs" / student / notebook.path.name)
    ready, failures = intake.collect_submissions(
        tmp_path, "assignment1", tmp_path / "subs", progress=lambda _: None
    )
    assert not failures
    results = autograde.autograde(
        tmp_path, "assignment1", ready, setup=GradingSetup(seed=11), progress=lambda _: None
    )
    assert all(r.ok for r in results), [r.reason for r in results]
    saved = json.loads(report_path(tmp_path, "assignment1", "bob").read_text(encoding="utf-8"))
    assert any("a1.conv1d.flipped-kernel" in c["diagnoses"] for c in saved["cells"])
    assert cli.main(["--root", str(tmp_path), "report", "assignment1"]) == 0
    with (tmp_path / "grades" / "assignment1-report.csv").open(encoding="utf-8") as handle:
        rows = {r["diagnosis"]: set(r["student_ids"].split()) for r in csv.DictReader(handle)}
    assert rows["a1.conv1d.flipped-kernel"] == {"bob"}
    assert rows["a1.conv1d.padding-one-side"] == {"dan"}
    assert rows["a1.same_padding.same-extra-zero-first"] == {"dan"}
    assert not any("ann" in students for students in rows.values())
