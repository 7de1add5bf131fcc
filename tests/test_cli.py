"""The ``course`` command: help, exit statuses, and how it reports what the pipeline found."""

from __future__ import annotations

import pytest

from course_utils import cli
from course_utils.grading import autograde, gradebook, intake, records


def _result(student: str, score: float, maximum: float, ok: bool = True) -> records.GradeResult:
    status = "graded" if ok else "failed"
    return records.GradeResult(student, "assignment1", status, score, maximum, "" if ok else "boom")


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in (
        "release",
        "check",
        "autograde",
        "export",
        "feedback",
        "env",
        "lectures",
        "build",
    ):
        assert command in text


@pytest.mark.parametrize(
    ("solution", "release", "problems", "status"),
    [((28, 28), (0, 32), [], 0), ((27, 28), (0, 32), ["the solution scores 27/28"], 1)],
)
def test_check_exit_status_follows_the_result(
    monkeypatch, capsys, repo_root, solution, release, problems, status
):
    def fake_check(root, names, jobs):
        return [
            records.CheckResult(
                "assignment1",
                _result(records.SOLUTION_STUDENT, *solution),
                _result(records.RELEASE_STUDENT, *release),
                list(problems),
            )
        ]

    monkeypatch.setattr(autograde, "check", fake_check)
    assert cli.main(["--root", str(repo_root), "check"]) == status
    out = capsys.readouterr().out
    assert f"solution {solution[0]}/{solution[1]}" in out
    assert ("OK" if status == 0 else "PROBLEM") in out


def test_autograde_exit_status_counts_the_ungraded(monkeypatch, capsys, repo_root, tmp_path):
    failure = records.GradeResult("bob", "assignment1", "failed", reason="not a valid notebook")
    monkeypatch.setattr(
        intake, "collect_submissions", lambda root, a, folder: (["alice"], [failure])
    )
    monkeypatch.setattr(
        autograde, "autograde", lambda root, a, students, **kw: [_result("alice", 20, 28)]
    )
    written = {}

    def fake_export(root, path, results, assignments=None):
        written["results"] = list(results)
        return path

    monkeypatch.setattr(gradebook, "export_grades", fake_export)
    status = cli.main(
        ["--root", str(repo_root), "autograde", "assignment1", str(tmp_path), "--csv", "g.csv"]
    )
    out = capsys.readouterr().out
    assert status == 1, "one submission could not be graded"
    assert "2 submission(s) of assignment1: 1 graded (0 of them partly), 1 not graded" in out
    assert "bob: NOT GRADED: not a valid notebook" in out
    assert {r.student for r in written["results"]} == {"alice", "bob"}


def test_unknown_course_folder_is_a_clear_error(capsys, tmp_path):
    assert cli.main(["--root", str(tmp_path), "release"]) == 2
    assert "no course found" in capsys.readouterr().err


def test_env_reports_the_device(capsys):
    assert cli.main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out
