"""nbgrader configuration of the CNN course (read by every nbgrader command run from this folder).

Environment variables, so one file serves a laptop, a JupyterHub and CI:
  COURSE_ID            the course's id in nbgrader's exchange (default cnn-course)
  COURSE_EXCHANGE      the exchange folder (default: exchange/ next to this file)
  COURSE_DB_URL        gradebook URL (default: SQLite file gradebook.db next to this file);
                       e.g. postgresql://user:password@host/cnn_course for several graders at once
  COURSE_CELL_TIMEOUT  CPU seconds one cell may use during autograding (default 60)
  COURSE_SANDBOX       0 runs student kernels without the bubblewrap sandbox (default: sandboxed)
  COURSE_LIMIT_*       sandbox limits: MEMORY_MB, CPU_SECONDS, PROCESSES, FILE_SIZE_MB, OUTPUT_KB,
                       NOTEBOOK_SECONDS, STUDENT_SECONDS, HOME_MB, TMP_MB, WALL_FACTOR (defaults in course_utils.grading.sandbox.bubblewrap.Limits; `course autograde`
                       sets them from its options)
"""

import os

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "cnn-course")

# nbgrader's exchange (students: Assignment List's fetch and submit; instructor: release and
# `course collect`). Course-local by default; on a JupyterHub point COURSE_EXCHANGE (and the
# students' Exchange.root) at a folder everyone can reach, e.g. /srv/nbgrader/exchange.
c.Exchange.root = os.environ.get("COURSE_EXCHANGE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "exchange"
)
# Instructor versions live in solutions/, student versions in assignments/ (committed).
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
if os.environ.get("COURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["COURSE_DB_URL"]

# A cell that uses more CPU seconds than this is interrupted (wall-clock time is only a backstop,
# Limits.wall_factor times this); the rest of the notebook is still graded.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))

# Student kernels run in a bubblewrap sandbox (course_utils.grading.sandbox) with resource limits, and
# the notebook as a whole has a budget of CPU time and of output bytes, counted by the grader.
c.Autograde.autograde_preprocessors = [
    "course_utils.grading.sandbox.kernel.GuardedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    # Last: the stored notebook (what the formgrader and feedback render) runs no script.
    "course_utils.grading.sanitize.SanitizeStudentContent",
]

# A test cell scores zero when anything reaches stderr; drop warnings (numpy/torch
# RuntimeWarning, UserWarning, ...) so they cannot zero a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning:"

# A student who deletes a graded cell gets it back (and its tests run) instead of losing the points.
c.OverwriteCells.add_missing_cells = True

# Feedback shows the tests a student could see and each failed test's message, never the
# hidden tests, their seeds, the grader's paths or the checkers' code (course_utils.grading.feedback).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "course_utils.grading.feedback.StudentFacingOutputs",
    "course_utils.grading.sanitize.SanitizeStudentContent",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# A second line behind SanitizeStudentContent wherever this file is loaded (the formgrader when
# Jupyter starts in the course folder, generate_feedback): markdown and HTML are cleaned as they
# are rendered, and JavaScript and widget outputs are not written into the page.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {
    "markdown2html": "course_utils.grading.sanitize.markdown2html",
    "clean_html": "course_utils.grading.sanitize.clean_html",
}

# Release notebooks keep the course's slide/tag metadata but no outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
