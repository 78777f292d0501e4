"""The package's one exception hierarchy: callers catch MonitorError; the CLI turns it into one line."""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error the package raises on purpose.

    The message is what an operator reads: it names the file, feed, rule or line and,
    where there is one, the next thing to do.
    """

    exit_code = 1


class ConfigError(MonitorError):
    """The configuration file or an environment override is invalid."""

    exit_code = 2


class SchemaError(MonitorError):
    """The database schema is missing or older than this code expects."""

    exit_code = 2


class FetchError(MonitorError):
    """A feed could not be fetched (network, HTTP status, size cap, timeout)."""


class FeedParseError(MonitorError):
    """A response body held nothing usable as a feed."""


class RuleError(MonitorError):
    """A rule file is invalid: carries the file, line and column of the problem."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = message
        where = ":".join(str(p) for p in (path, line, column) if p is not None)
        super().__init__(f"{where}: {message}" if where else message)
