"""The bounded buffer of recent ticks that ``copy_ticks_range`` answers from."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from dtms.broker.rates import TICKS_DTYPE

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

TICK_FLAG_BID = 2
TICK_FLAG_ASK = 4


class TickBuffer:
    """Recent ticks of one symbol, kept as whole chunks, about ``capacity`` ticks in all.

    Chunks are added in time order and the oldest chunk is dropped as soon as the rest still
    hold ``capacity`` ticks, so memory stays bounded by ``capacity`` plus one chunk.
    """

    __slots__ = ("_capacity", "_chunks", "_count")

    def __init__(self, capacity: int) -> None:
        """Create an empty buffer of about ``capacity`` ticks."""
        self._capacity = capacity
        self._chunks: deque[tuple[I64, F64, F64]] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        """Forget every tick."""
        self._chunks.clear()
        self._count = 0

    def append(self, t_ms: I64, bid: F64, ask: F64) -> None:
        """Add a chunk of ticks newer than every buffered tick."""
        n = int(t_ms.shape[0])
        if n == 0:
            return
        self._chunks.append((t_ms, bid, ask))
        self._count += n
        while self._chunks and self._count - self._chunks[0][0].shape[0] >= self._capacity:
            self._count -= int(self._chunks.popleft()[0].shape[0])

    def select(
        self, from_ms: int, to_ms: int, tail: tuple[I64, F64, F64] | None = None
    ) -> npt.NDArray[np.void]:
        """Return ticks with ``from_ms <= time_msc <= to_ms`` as a ``TICKS_DTYPE`` array.

        ``tail`` holds ticks newer than the buffered ones (the current slice's emitted part).
        """
        chunks = list(self._chunks)
        if tail is not None and tail[0].shape[0]:
            chunks.append(tail)
        parts = [
            c for c in chunks if c[0].shape[0] and c[0][0] <= to_ms and c[0][-1] >= from_ms
        ]
        if not parts:
            return np.empty(0, dtype=TICKS_DTYPE)
        t = np.concatenate([p[0] for p in parts])
        bid = np.concatenate([p[1] for p in parts])
        ask = np.concatenate([p[2] for p in parts])
        lo = int(np.searchsorted(t, from_ms, side="left"))
        hi = int(np.searchsorted(t, to_ms, side="right"))
        t, bid, ask = t[lo:hi], bid[lo:hi], ask[lo:hi]
        out = np.zeros(t.shape[0], dtype=TICKS_DTYPE)
        out["time"] = t // 1000
        out["time_msc"] = t
        out["bid"] = bid
        out["ask"] = ask
        flags = np.full(t.shape[0], TICK_FLAG_BID | TICK_FLAG_ASK, dtype=np.uint32)
        if t.shape[0] > 1:
            flags[1:] = np.where(bid[1:] != bid[:-1], TICK_FLAG_BID, 0) | np.where(
                ask[1:] != ask[:-1], TICK_FLAG_ASK, 0
            )
        out["flags"] = flags
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffered arrays."""
        return sum(a.nbytes for c in self._chunks for a in c)
