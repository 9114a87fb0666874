"""User-facing errors.

Everything a user can get wrong (a path, a file's content, an option) raises an
:class:`ErfkitError`.  The CLI prints such errors as one line naming the file and
the problem and exits with status 2; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import os

__all__ = ["ErfkitError", "DataError", "CheckpointError", "ConfigError"]


class ErfkitError(Exception):
    """An error caused by the user's input, reported without a traceback.

    Args:
        message (str): what is wrong, in a few words.
        path (str or os.PathLike, optional): the file or folder concerned; it
            is printed first so that the line reads ``PATH: MESSAGE``.
        option (str, optional): the library parameter that can fix it (e.g.
            ``"overwrite"``, ``"gc.iters"``).  Messages name parameters, never
            command-line flags: the CLI maps ``option`` to its flag and adds it.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, *, option: str | None = None):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.option = option
        super().__init__(str(self))

    def describe(self, option_name: str | None = None) -> str:
        """The one-line report: ``PATH: MESSAGE (see OPTION)``.

        ``option_name`` replaces the parameter's name; the CLI passes its flag.
        """
        text = f"{self.path}: {self.message}" if self.path else self.message
        name = option_name or self.option
        return f"{text} (see {name})" if name else text

    def __str__(self) -> str:
        return self.describe()


class DataError(ErfkitError, ValueError):
    """A dataset, frame or mask that cannot be used as it is."""


class CheckpointError(ErfkitError, ValueError):
    """A checkpoint file that cannot be loaded safely or does not fit the model."""


class ConfigError(ErfkitError, ValueError):
    """A configuration value or command-line option that makes no sense."""
