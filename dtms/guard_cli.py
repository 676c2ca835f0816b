"""``dtms guard``: the account guard from the command line (unlock, and its status lines).

``dtms guard unlock`` writes a request into the journal (meta ``guard_unlock``, an id and a
reason); the running ``dtms run`` picks it up within a cycle, answers it in the guard's journaled
state, and the command prints that answer. When dtms is not running the request stays in the
journal and is handled when it starts. The journal is opened for one short write, never locked
for the process: it works while ``dtms run`` runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from dtms.errors import DtmsError, JournalError
from dtms.journal.store import open_readonly
from dtms.runtime.guard import REQUEST_KEY, STATE_KEY


def request_unlock(journal: str, reason: str) -> str:
    """Store an unlock request in the journal; return its id."""
    path = Path(journal)
    with closing(open_readonly(path)):  # refuses a missing, foreign or corrupt journal
        pass
    request = {"id": uuid.uuid4().hex[:12], "reason": reason, "requested_wall": time.time()}
    try:
        with closing(sqlite3.connect(f"file:{path.as_posix()}?mode=rw", uri=True,
                                     timeout=10.0, isolation_level=None)) as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                         "UPDATE SET value=excluded.value", (REQUEST_KEY, json.dumps(request)))
    except sqlite3.Error as exc:
        raise JournalError(f"cannot write the unlock request into journal {path}: {exc}") from exc
    return str(request["id"])


def _answer(journal: str, request: str) -> str | None:
    with closing(open_readonly(Path(journal))) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key=?", (STATE_KEY,)).fetchone()
    state = json.loads(row[0]) if row else {}
    return str(state.get("answer", "")) if state.get("request") == request else None


def unlock(journal: str, reason: str, wait: float) -> int:
    """``dtms guard unlock``: request, then print the running process's answer."""
    from dtms.status import get_system_status

    if wait < 0:
        raise DtmsError(f"--wait must be zero or positive, got {wait:g}")
    request = request_unlock(journal, reason)
    status = get_system_status(journal)
    if not status["monitoring_active"]:
        print(f"unlock request {request} stored; dtms is not running: it is handled when "
              "dtms starts")
        return 0
    deadline = time.monotonic() + wait
    while True:
        answer = _answer(journal, request)
        if answer is not None:
            print(answer)
            return 0
        if time.monotonic() >= deadline:
            print(f"unlock request {request} stored; dtms has not answered within {wait:g} s "
                  "(see dtms status)")
            return 0
        time.sleep(0.2)


def status_lines(guard: dict[str, Any]) -> list[str]:
    """What ``dtms status`` prints of the guard."""
    if not guard or not guard.get("enabled", guard.get("locked", False)):
        return []
    out = []
    cur = guard.get("currency", "")
    if guard.get("locked"):
        since = guard.get("locked_since")
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(since)) if since else "?"
        out.append(f"guard: LOCKED since {when} broker time: {guard.get('lock_reason', '')}; "
                   "the account is kept flat (dtms guard unlock)")
    parts = []
    for name, v in guard.get("limits", {}).items():
        parts.append(f"{name} loss {v['loss']:,.2f} of {v['limit']:,.2f} {cur} "
                     f"({v['distance']:,.2f} left, floor {v['floor']:,.2f}, {v['level']})")
    if parts:
        out.append("guard: " + "; ".join(parts))
    elif not guard.get("locked"):
        out.append(f"guard: {guard.get('preset', '')} limits set, no reading yet")
    if guard.get("last_answer"):
        out.append(f"guard: last request: {guard['last_answer']}")
    return out
