"""The package students install to run the notebooks on a laptop or on Colab.

``course package`` builds the course's wheel (``cnn_course-VERSION-py3-none-any.whl``): the
``course_utils`` library with the dependencies a notebook needs, torch pinned as in
``pyproject.toml``. The grader's own dependencies (nbgrader, Dask, PostgreSQL, the site
builders) are the ``[instructor]`` extra, so a student's install stays small. Hand the wheel out
with the notebooks; a student runs :func:`install_line` once in a notebook cell.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from course_utils.grading.records import CourseError

PROJECT = "cnn-course"


def project_version(root: Path) -> str:
    """The version in the course's pyproject.toml."""
    path = root / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read the project's version from {path}: {exc}") from None


def wheel_name(version: str) -> str:
    """The file name of the course's wheel for ``version``."""
    return f"{PROJECT.replace('-', '_')}-{version}-py3-none-any.whl"


def install_line(version: str) -> str:
    """What a student runs in a notebook cell to install the course's package."""
    return f"%pip install {wheel_name(version)}"


def requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's metadata."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def build_student_wheel(root: Path, to: str | Path | None = None) -> Path:
    """Build the course's wheel into ``to`` (default ``dist/``); return its path.

    Checks what a student gets: torch pinned with ``==``, and no instructor-only package among
    the dependencies installed by default.
    """
    root = Path(root)
    version = project_version(root)
    target = Path(to) if to else root / "dist"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-wheel-") as scratch:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "--wheel-dir",
                scratch,
                str(root),
            ],
            capture_output=True,
            text=True,
        )
        built = Path(scratch) / wheel_name(version)
        if done.returncode != 0 or not built.is_file():
            raise CourseError(f"building the wheel failed:\n{(done.stdout + done.stderr)[-2000:]}")
        wheel = target / built.name
        shutil.copy(built, wheel)
    default = [r for r in requirements(wheel) if "extra ==" not in r]
    torch = [r for r in default if re.match(r"torch\b", r)]
    if not torch or "==" not in torch[0]:
        raise CourseError(f"{wheel.name}: torch must be pinned with == (found {torch})")
    instructor = [r for r in default if re.match(r"(nbgrader|dask|psycopg2|jupyter-book)", r)]
    if instructor:
        raise CourseError(
            f"{wheel.name}: instructor-only packages in a student's install: {instructor}"
        )
    return wheel
