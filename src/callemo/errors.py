"""Error types with messages fit for users: each names the file (and row/line) and the problem."""


class CallemoError(Exception):
    """Base of every error callemo reports to users without a traceback."""
