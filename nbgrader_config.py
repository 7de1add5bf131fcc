"""nbgrader configuration of the CNN course (read by every nbgrader command run from this folder).

Environment variables, so one file serves a laptop, a JupyterHub and CI:
  COURSE_DB_URL        gradebook URL (default: SQLite file gradebook.db next to this file);
                       e.g. postgresql://user:password@host/cnn_course for several graders at once
  COURSE_CELL_TIMEOUT  seconds one cell may run during autograding (default 60)
"""

import os

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.course_id = "cnn-course"
# Instructor versions live in solutions/, student versions in assignments/ (committed).
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
if os.environ.get("COURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["COURSE_DB_URL"]

# A cell that runs longer than this is interrupted; the rest of the notebook is still graded.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))

# A test cell scores zero when anything reaches stderr; drop warnings (numpy/torch
# RuntimeWarning, UserWarning, ...) so they cannot zero a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning:"

# A student who deletes a graded cell gets it back (and its tests run) instead of losing the points.
c.OverwriteCells.add_missing_cells = True

# Feedback shows the tests a student could see, never the hidden ones.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Release notebooks keep the course's slide/tag metadata but no outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
