"""Where a student's code runs while it is graded: bubblewrap, limits, the fork server, namespaces.

:mod:`bubblewrap` (limits, the sandbox command) is the bottom; :mod:`isolation` walls a fork
in; :mod:`zygote` is the fork server; :mod:`kernel` is nbgrader's executor and kernel manager
on top of them.
"""
