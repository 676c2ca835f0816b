"""The one error hierarchy of dtms.

Errors say whose problem it is: a ``ConfigError`` is the user's file, a ``BrokerUnavailable``
is the terminal or the link to it, a ``BrokerRejected`` is the trade server saying no to one
request, ``BrokerTimeout`` means nobody knows whether the request executed, and
``GatewayClosed`` means dtms itself is shutting the gateway down. Translate foreign exceptions
into these at one boundary, with ``raise ... from exc``.
"""

from __future__ import annotations


class DtmsError(Exception):
    """Base class of every error dtms raises on purpose."""


class ConfigError(DtmsError):
    """The configuration file is missing, malformed, or holds a wrong key, type or value."""


class JournalError(DtmsError):
    """The journal file cannot be used: locked by another process, corrupt, or too new."""


class BrokerError(DtmsError):
    """Something went wrong talking to the broker."""


class BrokerUnavailable(BrokerError):
    """The terminal or the bridge is not reachable, not installed, or not logged in."""


class BrokerRejected(BrokerError):
    """The trade server (or terminal) refused one request; ``retcode`` says why."""

    def __init__(self, message: str, retcode: int) -> None:
        super().__init__(message)
        self.retcode = retcode


class BrokerTimeout(BrokerError):
    """A request's outcome is unknown: it may or may not have executed. Never re-send blindly."""


class GatewayClosed(DtmsError):
    """The gateway was closed by dtms (shutdown); no further calls are accepted."""


class StoppedBeforeStart(BaseException):
    """SIGTERM or SIGINT arrived while dtms was still starting: a clean stop, exit 0."""
