"""The grading engine the instructor runs: intake, sandbox, verification, gradebook, orchestration.

Never imported by a notebook. Data flows one way: :mod:`autograde` (top) uses
:mod:`submission` and :mod:`pool`, which use :mod:`verify` and :mod:`gradebook`, which use
:mod:`sandbox` and :mod:`records` (bottom: paths, results, records).
"""
