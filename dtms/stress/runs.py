"""The dtms under test: ``dtms run`` as a child process, killed and restarted on plan.

Each start is a new process with the same config and journal, as a service manager would restart
it; its console output goes to ``<work>/dtms-<n>.out``. A kill is SIGKILL (nothing is flushed,
nothing is said); the final stop is SIGTERM, and dtms must exit 0 within the allowed time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Life:
    """One dtms process: its wall-clock span and how it ended."""

    pid: int
    started: float
    """``time.time()`` at start."""
    ended: float | None = None
    how: str = ""
    """"killed", "stopped", "exited" (by itself) or "" while running."""
    exit_code: int | None = None
    output: Path | None = None


@dataclass(slots=True)
class DtmsUnderTest:
    """Starts, kills and stops ``dtms run`` against the run's broker."""

    work: Path
    args: list[str]
    """Everything after ``dtms run`` (broker, config, journal, port, speed)."""
    name: str = "dtms"
    """Prefix of the console output files."""
    lives: list[Life] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running process's id, if one runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def current(self) -> Life | None:
        """The running process's life, if one runs."""
        return self.lives[-1] if self.lives and self.lives[-1].ended is None else None

    def start(self) -> Life:
        """Start a new dtms process."""
        n = len(self.lives) + 1
        out = self.work / f"{self.name}-{n}.out"
        with open(out, "wb") as fh:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "dtms.cli", "run", *self.args], cwd=self.work,
                stdout=fh, stderr=subprocess.STDOUT)
        life = Life(self._proc.pid, time.time(), output=out)
        self.lives.append(life)
        return life

    def poll(self) -> Life | None:
        """The life that ended by itself since the last look (a crash, a refusal), if any."""
        life = self.current
        if life is None or self._proc is None or self._proc.poll() is None:
            return None
        self._end(life, "exited", self._proc.returncode)
        return life

    def kill(self) -> None:
        """SIGKILL the running process and reap it."""
        life = self.current
        if life is None or self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        self._end(life, "killed", self._proc.returncode)

    def stop(self, timeout: float) -> int | None:
        """SIGTERM the running process; its exit code (None if it had to be killed)."""
        life = self.current
        if life is None or self._proc is None:
            return None
        self._proc.terminate()
        try:
            code: int | None = self._proc.wait(timeout)
            self._end(life, "stopped", code)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            code = None
            self._end(life, "stopped", None)
            life.how = "hung"
        return code

    def _end(self, life: Life, how: str, code: int | None) -> None:
        life.ended = time.time()
        life.how = how
        life.exit_code = code
        self._proc = None
