"""A wake-up call for Trio tasks: what ``trio.Event`` does, in two slots, and re-armable.

Every trade actor waits for its next cycle, and in a burst as many callers wait for the broker's
answer to their gateway request, all at once. A ``trio.Event`` is an attrs object with a set of
waiting tasks, and each wait adds an abort closure: about 0.6 KB that a trade keeps for as long
as it waits, and an actor needs a new one after each wake. A :class:`Wakeup` keeps the waiting
task itself (a list only for the rare second waiter) and is cleared to be used again.
"""

from __future__ import annotations

from functools import partial

import trio
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled


class Wakeup:
    """A flag tasks wait for; :meth:`set` wakes every waiting task, :meth:`clear` re-arms it."""

    __slots__ = ("_flag", "_waiting")

    def __init__(self) -> None:
        self._flag = False
        self._waiting: Task | list[Task] | None = None

    def is_set(self) -> bool:
        """Whether the flag is set (a :meth:`wait` now returns at once)."""
        return self._flag

    @trio.lowlevel.enable_ki_protection
    def set(self) -> None:
        """Set the flag and wake every task waiting for it."""
        if self._flag:
            return
        self._flag = True
        waiting, self._waiting = self._waiting, None
        if isinstance(waiting, list):
            for task in waiting:
                reschedule(task)
        elif waiting is not None:
            reschedule(waiting)

    def clear(self) -> None:
        """Unset the flag: the next :meth:`wait` blocks until the next :meth:`set`."""
        self._flag = False

    async def wait(self) -> None:
        """Return once the flag is set (a checkpoint either way; cancellable while blocked)."""
        if self._flag:
            await trio.lowlevel.checkpoint()
            return
        task = current_task()
        waiting = self._waiting
        if waiting is None:
            self._waiting = task
        elif isinstance(waiting, list):
            waiting.append(task)
        else:
            self._waiting = [waiting, task]
        await wait_task_rescheduled(partial(self._forget, task))

    def _forget(self, task: Task, _raise_cancel: object) -> Abort:
        """A waiting task was cancelled: it no longer waits."""
        waiting = self._waiting
        if waiting is task:
            self._waiting = None
        elif isinstance(waiting, list):
            waiting.remove(task)
            if not waiting:
                self._waiting = None
        return Abort.SUCCEEDED
