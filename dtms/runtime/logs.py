"""Logging: the console, the main log, and one log file per trade actor.

Every record an actor writes is bound to its ticket (``logger.bind(ticket=...)``). One routing
sink writes those records to ``<dir>/trades/<ticket>.log`` (one sink, not one per ticket: with
10,000 trades, 10,000 loguru sinks would test every record against 10,000 filters), keeping a
bounded number of files open. The main log gets everything; the console gets operator lines.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from loguru import logger

from dtms.errors import ConfigError
from dtms.runtime.settings import LogSettings

LINE = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {message}"
CONSOLE = "<green>{time:HH:mm:ss}</green> | <level>{level: <7}</level> | {message}"


class TradeLog:
    """A trade actor's logger: each record is bound to the ticket (and symbol) as it is written.

    An actor keeps these two values rather than a bound loguru ``Logger`` (an object, its
    options and its ``extra`` dict: about 0.5 KB for each of thousands of trades). And the frame
    loguru looks up for a record is this short call's: an actor that logs and then waits for the
    broker does not keep a frame object alive for as long as it waits.
    """

    __slots__ = ("symbol", "ticket")

    def __init__(self, ticket: int, symbol: str) -> None:
        self.ticket = ticket
        self.symbol = symbol

    def bound(self) -> Any:
        """A loguru logger bound to this trade (for ``opt(...)``)."""
        return logger.bind(ticket=self.ticket, symbol=self.symbol)

    def debug(self, message: str) -> None:
        self.bound().debug(message)

    def info(self, message: str) -> None:
        self.bound().info(message)

    def success(self, message: str) -> None:
        self.bound().success(message)

    def warning(self, message: str) -> None:
        self.bound().warning(message)

    def error(self, message: str) -> None:
        self.bound().error(message)


def trade_log_path(log_dir: str | Path, ticket: int) -> Path:
    """Where the log of one trade actor lives."""
    return Path(log_dir) / "trades" / f"{ticket}.log"


class TradeLogRouter:
    """A loguru sink writing each ticket's records to its own file.

    A file that grows past ``max_bytes`` is rotated: it becomes ``<ticket>.1.log`` (replacing
    an older part) and a new one starts, so no trade's log grows without bound. Files of trades
    closed longer ago than the retention are deleted by ``dtms.runtime.retention``.

    Files are opened unbuffered: every record is written out at once anyway, and a buffered
    text file would keep some 9 KB of buffers per open file (2.3 MB for 256 files).
    """

    def __init__(self, log_dir: str | Path, max_open: int, max_bytes: int = 5 << 20) -> None:
        self.dir = Path(log_dir) / "trades"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._dir = str(self.dir)
        self.max_open = max_open
        self.max_bytes = max_bytes
        self._files: OrderedDict[int, IO[bytes]] = OrderedDict()

    def write(self, message: Any) -> None:
        """Append a formatted record to its ticket's file."""
        ticket = message.record["extra"].get("ticket")
        if ticket is None:
            return
        fh = self._files.get(ticket)
        if fh is None:
            # a str path: pathlib would intern each ticket's file name, and the churn of
            # reopened files grows the interpreter's table of interned strings
            fh = open(os.path.join(self._dir, f"{ticket}.log"), "ab", buffering=0)  # noqa: SIM115
            self._files[ticket] = fh
            while len(self._files) > self.max_open:
                _, old = self._files.popitem(last=False)
                old.close()
        else:
            self._files.move_to_end(ticket)
        data = memoryview(str(message).encode("utf-8"))
        while data:  # a raw file may take part of a write
            written = fh.write(data)
            if not written:
                break
            data = data[written:]
        if fh.tell() > self.max_bytes:
            fh.close()
            del self._files[ticket]
            path = self.dir / f"{ticket}.log"
            path.replace(path.with_suffix(".1.log"))

    def close(self) -> None:
        """Close every open file."""
        for fh in self._files.values():
            fh.close()
        self._files.clear()


def setup_logging(settings: LogSettings, *, console: bool = True) -> TradeLogRouter:
    """Install the sinks; returns the per-trade router (close it at exit).

    Raises:
        ConfigError: the log directory cannot be created or written (one line, no traceback).
    """
    log_dir = Path(settings.dir)
    try:
        (log_dir / "trades").mkdir(parents=True, exist_ok=True)
        for folder in (log_dir, log_dir / "trades"):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} is not writable")
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            why = "a file stands where a directory is needed"
        raise ConfigError(f"logging.dir: cannot write logs in {log_dir} ({why})") from exc
    logger.remove()
    if console:
        logger.add(sys.stderr, level=settings.console_level.value, format=CONSOLE,
                   colorize=sys.stderr.isatty())
    logger.add(log_dir / "dtms.log", level=settings.level.value, format=LINE,
               rotation=int(settings.rotation_mb * 1024 * 1024),
               retention=settings.keep_rotated, encoding="utf-8")
    router = TradeLogRouter(log_dir, settings.open_trade_files,
                            int(settings.trade_log_mb * 1024 * 1024))
    logger.add(router.write, level="DEBUG", format=LINE,
               filter=lambda r: "ticket" in r["extra"])
    return router
