"""The one exception type a user sees: a single line naming the problem and the fix."""


class GanforgeError(Exception):
    """A user-facing error. The CLI prints ``str(err)`` on one line and exits non-zero."""

    exit_code = 2
