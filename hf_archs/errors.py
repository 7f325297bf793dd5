"""`UserError`: a failure the user can fix (a path, a file, a setting, a budget), told as one line.

The `hf-archs` command prints a `UserError` (and the error that caused it, if any) as one line and exits with 2;
any other exception is a bug and keeps its traceback. Code that reads the user's input raises `UserError` at the
point where it knows what the input was (`raise UserError("...") from error`), so the message names the problem.
"""


class UserError(ValueError):
    """Bad input, named in the message; a ValueError, so callers that caught ValueError still do."""


def one_line(error: BaseException) -> str:
    """The message of `error` and of its cause, for the CLI's `hf-archs: error: ...` line."""
    message = str(error)
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in message:
        message += f" (cause: {type(cause).__name__}: {str(cause).splitlines()[0]})"
    return message
