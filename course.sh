#!/usr/bin/env bash
# Set up the course environment on first use, then run a course command.
#
#   ./course.sh build     the main job: release + check every assignment, execute every lecture
#   ./course.sh test      the whole test suite (what CI runs)
#   ./course.sh <cmd>     any other `course` command, e.g. ./course.sh autograde assignment1 subs/
#
# Needs only Python 3.11 or newer. The environment lives in .venv/ and is
# reinstalled when pyproject.toml changes. Set PYTHON to choose the interpreter.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"
STAMP="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"

if [ ! -f "$STAMP" ]; then
  echo "course.sh: setting up $VENV (first run or pyproject.toml changed; about 2 minutes)" >&2
  start=$(date +%s)
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
  echo "course.sh: environment ready in $(( $(date +%s) - start )) s" >&2
fi

# nbgrader calls `alembic` by name: the environment's scripts must come first on PATH.
export PATH="$PWD/$VENV/bin:$PATH"
export MPLBACKEND="${MPLBACKEND:-Agg}"

case "${1:-}" in
  test)
    shift
    # -n 2: two workers on a 2-core machine; the 15 slowest tests are listed at the end of every run.
    exec python -m pytest -n 2 --dist loadgroup --durations=15 "$@"
    ;;
  ""|-h|--help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exec course --help
    ;;
  *)
    exec course "$@"
    ;;
esac
