"""``python -m course_utils`` runs the instructor's ``course`` command."""

import sys

from .cli import main

sys.exit(main())
