"""Exclusive advisory locks held for a process's life (one dtms per journal, per account).

The lock file holds the holder's pid, so the refusal can name who holds it. The operating
system releases the lock when the process ends, however it ends (a SIGKILL included).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO


class Held(Exception):
    """Another process holds the lock; ``holder`` is its pid as it wrote it."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class ProcessLock:
    """An exclusive advisory lock on a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``Held`` naming the process that has it."""
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process life
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise Held(holder) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Let it go (the process's end does the same)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
