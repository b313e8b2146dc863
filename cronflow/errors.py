"""The one error hierarchy. The CLI turns these into one-line messages in one place."""

from __future__ import annotations


class CronflowError(Exception):
    """Base of every error cronflow raises on purpose (a user mistake or a refused request)."""


class ScheduleError(CronflowError):
    """A schedule expression that does not parse, or can never fire."""


class DurationError(CronflowError):
    """A duration string such as "1h30m" that does not parse."""


class ConfigError(CronflowError):
    """An error in a job or flow file, located at ``path:line``.

    ``line`` is 1-based, or None when the file as a whole is at fault (unreadable,
    empty name).
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"

    def __reduce__(self):  # keep picklable despite the custom __init__
        return (type(self), (self.path, self.line, self.message))


class NotFoundError(CronflowError):
    """A job, flow or run named on the command line that does not exist."""


class PluginError(CronflowError):
    """A plugin that cannot be used as installed: a duplicate registered name, a hook
    implementation with no matching spec, a registration that is not callable."""
