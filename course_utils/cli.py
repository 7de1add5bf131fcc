"""The instructor's ``course`` command: nbgrader's workflow for this course in a few verbs."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from course_utils.grading import autograde, gradebook, intake, records

DESCRIPTION = """\
Run the CNN course: release assignments to students, autograde their submissions,
export grades, send feedback, and check that everything works.

Typical term:
  course check                      solutions score full marks, releases zero?
  course release                    write the student notebooks into assignments/
  course package                    the wheel students pip install on a laptop or Colab
  course roster import students.csv the class (a CSV, or Canvas's or Moodle's export)
  course autograde assignment1 ~/Downloads/assignment1-submissions
                                    grade a download of submissions (a folder or zip
                                    per student, one class zip, Canvas's, Moodle's,
                                    Blackboard's or Brightspace's), write
                                    grades/assignment1.csv
  course export --lms canvas --assignment assignment1
                                    the grades as Canvas (or Moodle) imports them
  course forget assignment1 alice   remove a run's leftovers (one student, or --all)
  course release assignment1 --exchange --due "2026-12-01 23:59 UTC"
  course collect assignment1        the same through nbgrader's exchange (JupyterHub);
  course autograde assignment1      then grade what was collected
  course feedback assignment1       HTML feedback per student, hidden tests removed
  course report assignment1         what the class got wrong: mistakes, parts, flags
                                    (grades/assignment1-report.html and .csv; also
                                    written after every autograde)
  course export                     every grade in the gradebook to grades/grades.csv
  course env                        versions and the device torch will use
  course build                      everything above that needs no students, plus
                                    executing every lecture (the main job)
  course site                       rebuild the reading site from the executed lectures
"""


def _root(args: argparse.Namespace) -> Path:
    return records.find_course_root(args.root)


def _cmd_release(args: argparse.Namespace) -> int:
    root = _root(args)
    names = records.resolve_assignments(root, args.assignments)
    if (args.due or args.exchange) and len(names) != 1:
        raise records.CourseError("--due and --exchange take exactly one assignment")
    gradebook.release(root, names)
    if args.due:
        gradebook.set_due_date(root, names[0], args.due)
        print(f"{names[0]} is due {args.due}; later submissions are marked late")
    if args.exchange:
        gradebook.release_to_exchange(root, names[0])
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    root = _root(args)
    ready, failures = intake.collect_exchange(root, args.assignment)
    for failure in failures:
        print(f"  {failure.student}: UNUSABLE: {failure.reason} (log: {failure.log})")
    print(f"next: course autograde {args.assignment}   (grades the {len(ready)} collected)")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    results = autograde.check(_root(args), args.assignments, jobs=args.jobs)
    print()
    for item in results:
        print(
            f"{item.assignment}: solution {item.solution.score:g}/{item.solution.max_score:g}, "
            f"release {item.release.score:g}/{item.release.max_score:g}: "
            f"{'OK' if item.ok else 'PROBLEM'}"
        )
        for problem in item.problems:
            print(f"  - {problem}")
        if not item.ok:
            print(f"  logs: {item.solution.log}, {item.release.log}")
    return 0 if all(item.ok for item in results) else 1


def _cmd_autograde(args: argparse.Namespace) -> int:
    root = _root(args)
    records.resolve_assignments(root, [args.assignment])  # a typo writes nothing
    if args.roster:
        from course_utils.grading import roster

        roster.import_roster(root, args.roster)
    if args.submissions:
        students, failures = intake.collect_submissions(root, args.assignment, args.submissions)
    else:  # what `course collect` (or an earlier run) put in submitted/
        students, failures = None, []
    for failure in failures:
        print(f"  {failure.student}: UNUSABLE: {failure.reason}")
    from course_utils.grading.sandbox.bubblewrap import Limits

    limits = Limits.from_env(
        memory_mb=args.memory_mb,
        cpu_seconds=args.cpu_seconds,
        processes=args.processes,
        file_size_mb=args.file_size_mb,
        output_kb=args.output_kb,
        notebook_seconds=args.notebook_seconds,
    )
    setup = records.GradingSetup(
        sandbox=not args.no_sandbox,
        limits=limits,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**32),
    )
    results = autograde.autograde(
        root,
        args.assignment,
        students,
        jobs=args.jobs,
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        setup=setup,
        cluster=args.cluster,
        bar=not args.no_progress_bar,
    )
    results += failures
    csv_path = gradebook.export_grades(
        root,
        args.csv or root / "grades" / f"{args.assignment}.csv",
        results,
        assignments=[args.assignment],
    )
    failed = [r for r in results if not r.ok]
    partly = [r for r in results if r.ok and r.reason.startswith("partly graded")]
    print(
        f"\n{len(results)} submission(s) of {args.assignment}: {len(results) - len(failed)} graded"
        f" ({len(partly)} of them partly), {len(failed)} not graded; grades in {csv_path}"
    )
    for result in failed:
        print(
            f"  {result.student}: NOT GRADED: {result.reason}"
            + (f" (log: {result.log})" if result.log else "")
        )
    flagged = [r for r in results if r.flags]
    if flagged:
        print(f"flagged for review ({len(flagged)}): the grades stand until a person looks")
        for result in flagged:
            print(f"  {result.student}:")
            for flag in result.flags[:8]:
                print(f"    - {flag}")
    if args.feedback:
        files = gradebook.generate_feedback(
            root, args.assignment, [r.student for r in results if r.ok]
        )
        print(f"feedback: {len(files)} file(s) in {root / records.FEEDBACK_DIR}")
    try:  # the grades stand whatever happens to the report
        _write_report(root, args.assignment)
    except Exception as exc:  # noqa: BLE001
        print(f"report not written: {type(exc).__name__}: {exc} (course report {args.assignment})")
    if failed:
        print(f"exit status {min(len(failed), 100)}: the number of submissions not graded")
    return min(len(failed), 100)


def _cmd_export(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.lms != "csv" and not args.assignment:
        raise records.CourseError(f"--lms {args.lms} needs --assignment (one LMS column)")
    plain = root / "grades" / "grades.csv" if args.lms != "csv" or not args.to else args.to
    path = gradebook.export_grades(root, plain)
    print(f"grades written to {path}")
    stale = gradebook.stale_assignments(root)
    if stale:
        print(
            f"not exported: outcomes kept for {', '.join(stale)}, not an assignment of "
            f"solutions/ (`course forget {stale[0]} --all` removes them)"
        )
    if args.lms != "csv":
        from course_utils.grading import lms

        target = args.to or root / "grades" / f"{args.assignment}-{args.lms}.csv"
        written, notes = lms.export_lms(
            root, args.lms, args.assignment, target, column=args.column, worksheet=args.worksheet
        )
        print(f"{args.lms} import file: {written}")
        for note in notes:
            print(f"  {note}")
    return 0


def _cmd_roster(args: argparse.Namespace) -> int:
    from course_utils.grading import roster

    root = _root(args)
    if args.action == "import":
        if not args.file:
            raise records.CourseError("roster import needs the roster file (CSV)")
        roster.import_roster(root, args.file)
        return 0
    current = roster.load_roster(root)
    if current is None:
        print("no roster: `course roster import FILE` (a CSV, or Canvas's or Moodle's export)")
        return 1
    for student in current.students:
        print(f"{student.id}\t{student.name}\t{student.email}\t{student.lms_id}")
    print(f"{len(current)} student(s) in {roster.roster_path(root)}")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    root = _root(args)
    if not args.students and not args.all:
        raise records.CourseError("name the students to forget, or pass --all")
    if args.students and args.all:
        raise records.CourseError("name students or pass --all, not both")
    gone = gradebook.forget(root, args.assignment, None if args.all else args.students)
    print(f"forgot {len(gone)} student(s) of {args.assignment}: {', '.join(gone)}")
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from course_utils.publish.package import build_student_wheel

    wheel = build_student_wheel(_root(args), args.to)
    print(f"student package: {wheel}")
    print(f"students install it with:  pip install {wheel.name}")
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    files = gradebook.generate_feedback(_root(args), args.assignment, args.student)
    for path in files:
        print(path)
    print(
        f"{len(files)} feedback file(s): visible tests and each failed test's message; "
        "no hidden tests, seeds or grader paths"
    )
    return 0


def _write_report(root: Path, assignment: str, site: str | None = None, to: str | None = None):
    from course_utils.grading import report

    folder = Path(to) if to else None
    page, table, made = report.write_report(root, assignment, folder=folder, site=site)
    print(
        f"report: {page} and {table} ({len(made.mistakes)} named mistake(s), "
        f"{len(made.flags)} flagged, {made.seconds:.1f} s)"
    )


def _cmd_report(args: argparse.Namespace) -> int:
    root = _root(args)
    records.resolve_assignments(root, [args.assignment])
    try:
        _write_report(root, args.assignment, args.site, args.to)
    except ValueError as exc:
        raise records.CourseError(str(exc)) from exc
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from course_utils.device import format_environment_report

    print(format_environment_report())
    return 0


def _cmd_lectures(args: argparse.Namespace) -> int:
    from course_utils.publish.build import execute_lectures

    results = execute_lectures(_root(args), args.lectures)
    return 0 if all(r.ok for r in results) else 1


def _cmd_site(args: argparse.Namespace) -> int:
    from course_utils.publish.build import build_site_only

    return 0 if build_site_only(_root(args), fresh=args.fresh) is not None else 1


def _cmd_build(args: argparse.Namespace) -> int:
    from course_utils.publish.build import build

    return 0 if build(_root(args), jobs=args.jobs) else 1


def make_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``course`` command."""
    parser = argparse.ArgumentParser(
        prog="course", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", help="the course folder (default: found from the current folder)")
    parser.add_argument(
        "--db-url",
        help="gradebook URL, e.g. postgresql://... (default: SQLite "
        "gradebook.db in the course folder; also $COURSE_DB_URL)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    jobs_default = min(2, os.cpu_count() or 1)

    p = commands.add_parser(
        "release", help="generate student notebooks (assignments/) from solutions/"
    )
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.add_argument(
        "--due", help='due date, e.g. "2026-12-01 23:59 UTC" (late submissions are marked)'
    )
    p.add_argument(
        "--exchange",
        action="store_true",
        help="also put it in nbgrader's exchange, for students to fetch (JupyterHub)",
    )
    p.set_defaults(func=_cmd_release)

    p = commands.add_parser(
        "collect", help="collect submissions from nbgrader's exchange into submitted/"
    )
    p.add_argument("assignment", help="assignment name, e.g. assignment1")
    p.set_defaults(func=_cmd_collect)

    p = commands.add_parser(
        "check", help="solutions must score full marks and releases zero (exit 1 if not)"
    )
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.add_argument(
        "--jobs", type=int, default=jobs_default, help=f"parallel graders (default {jobs_default})"
    )
    p.set_defaults(func=_cmd_check)

    p = commands.add_parser(
        "autograde", help="grade a folder of submissions and export the grades to CSV"
    )
    p.add_argument("assignment", help="assignment name, e.g. assignment1")
    p.add_argument(
        "submissions",
        nargs="?",
        help="folder with one sub-folder or one .zip per student, or one .zip holding a folder "
        "per student (default: what `course collect` put in submitted/)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=jobs_default,
        help=f"students graded at once (default {jobs_default})",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786 "
        "(workers need this environment and the course folder at the same path)",
    )
    p.add_argument(
        "--no-progress-bar",
        action="store_true",
        help="one line per student instead of a progress bar",
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds a cell may run (default: nbgrader_config.py, 60)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=records.DEFAULT_STUDENT_TIMEOUT,
        help="backstop: seconds one student's grading may take in all (default 900)",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student notebooks without the bubblewrap sandbox (only for code you trust)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the hidden cases (default: drawn per run and printed, to reproduce a run)",
    )
    limits = p.add_argument_group(
        "sandbox limits (defaults: course_utils.grading.sandbox.bubblewrap.Limits)"
    )
    for name, unit in [
        ("memory-mb", "memory per process, MB (3072)"),
        ("cpu-seconds", "CPU seconds per process (900)"),
        ("processes", "processes and threads, when graded as root (256)"),
        ("file-size-mb", "largest file a notebook may write, MB (64)"),
        ("output-kb", "output a notebook may print in all, KB (1024)"),
        ("notebook-seconds", "wall-clock budget of a whole notebook, s (300)"),
    ]:
        limits.add_argument(f"--{name}", type=int, default=None, help=unit)
    p.add_argument("--csv", help="where to write grades (default grades/<assignment>.csv)")
    p.add_argument(
        "--roster",
        metavar="FILE",
        help="import this roster first (as `course roster import FILE`)",
    )
    p.add_argument("--feedback", action="store_true", help="also generate feedback")
    p.set_defaults(func=_cmd_autograde)

    p = commands.add_parser(
        "export",
        help="every student's grade, status and reason to a CSV file, or as an LMS imports it",
    )
    p.add_argument(
        "--to",
        help="CSV path (default grades/grades.csv; with --lms grades/ASSIGNMENT-LMS.csv)",
    )
    p.add_argument(
        "--lms",
        "--format",
        dest="lms",
        choices=["csv", "canvas", "moodle"],
        default="csv",
        help="canvas: Canvas's gradebook import file; moodle: Moodle's grading worksheet "
        "(default csv: the course's own columns)",
    )
    p.add_argument("--assignment", help="the assignment whose grades go to the LMS")
    p.add_argument(
        "--column",
        help="Canvas: the assignment's column as Canvas names it, e.g. 'Assignment 2 (4521)' "
        "(default: the assignment's name; Canvas then creates a new assignment)",
    )
    p.add_argument(
        "--worksheet",
        help="Moodle: the grading worksheet downloaded from the assignment, filled in "
        "(every enrolled student kept)",
    )
    p.set_defaults(func=_cmd_export)

    p = commands.add_parser(
        "roster", help="import the class list (CSV, Canvas's or Moodle's export) or show it"
    )
    p.add_argument("action", choices=["import", "show"], help="import a file, or show the roster")
    p.add_argument("file", nargs="?", help="the roster CSV to import")
    p.set_defaults(func=_cmd_roster)

    p = commands.add_parser(
        "forget", help="remove what collecting and grading kept of students of an assignment"
    )
    p.add_argument("assignment", help="assignment name (also one no longer in solutions/)")
    p.add_argument("students", nargs="*", help="student ids")
    p.add_argument("--all", action="store_true", help="every student of the assignment")
    p.set_defaults(func=_cmd_forget)

    p = commands.add_parser(
        "package", help="build the wheel students install to run the notebooks anywhere"
    )
    p.add_argument("--to", help="folder for the wheel (default dist/)")
    p.set_defaults(func=_cmd_package)

    p = commands.add_parser(
        "feedback", help="HTML feedback for autograded submissions, hidden tests removed"
    )
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.set_defaults(func=_cmd_feedback)

    p = commands.add_parser(
        "report", help="what the class got wrong: an HTML page and a CSV from the grading records"
    )
    p.add_argument("assignment")
    p.add_argument("--site", help="the reading site's address (default: _build/site, relative)")
    p.add_argument("--to", help="folder for the report (default grades/)")
    p.set_defaults(func=_cmd_report)

    p = commands.add_parser("env", help="versions and the device torch will use (GPU or CPU)")
    p.set_defaults(func=_cmd_env)

    p = commands.add_parser(
        "lectures", help="execute lectures into _build/lectures (notebook, HTML, slides)"
    )
    p.add_argument("lectures", nargs="*", help="lecture file names without .ipynb (default: all)")
    p.set_defaults(func=_cmd_lectures)

    p = commands.add_parser(
        "site",
        help="rebuild the reading site (_build/site) from the lectures executed in "
        "_build/lectures, executing only those missing or older than their source; no checks",
    )
    p.add_argument("--fresh", action="store_true", help="execute every lecture again first")
    p.set_defaults(func=_cmd_site)

    p = commands.add_parser(
        "build", help="the main job: release, check, execute every lecture, report"
    )
    p.add_argument(
        "--jobs", type=int, default=jobs_default, help=f"parallel graders (default {jobs_default})"
    )
    p.set_defaults(func=_cmd_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``course`` command; return its exit status."""
    args = make_parser().parse_args(argv)
    if args.db_url:
        os.environ["COURSE_DB_URL"] = args.db_url
    try:
        return args.func(args)
    except records.CourseError as exc:
        print(f"course: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
