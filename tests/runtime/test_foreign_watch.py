"""ForeignWatch reads the deals since its last read, not the last hour every time."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import trio
import trio.testing

from dtms.broker import constants as C
from dtms.broker.structs import TradeDeal
from dtms.runtime.account import LATE_DEAL_SECONDS, LOOK_BACK_SECONDS, ForeignWatch
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.gateway import GatewaySettings, open_gateway
from tests.runtime.conftest import FakeTerminal

MAGIC = 777
START = 100_000.0
EVERY = 30.0


class DealsTerminal(FakeTerminal):
    """A fake terminal with an account history (the deals the test puts there)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deals: list[TradeDeal] = []

    def history_deals_get(self, date_from: int, date_to: int) -> tuple[TradeDeal, ...] | None:
        if not self._enter("history_deals_get", (date_from, date_to)):
            return None
        return tuple(d for d in self.deals if date_from <= d.time <= date_to)


def deal(ticket: int, at: float, order: int) -> TradeDeal:
    return TradeDeal(ticket=ticket, order=order, time=int(at), magic=MAGIC,
                     reason=C.DEAL_REASON_EXPERT, volume=0.1, symbol="EURUSD")


async def test_each_read_asks_only_since_the_last_and_a_reconnect_looks_back_an_hour(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = DealsTerminal(autojump_clock.current_time, autojump_clock.jump)
    sent: set[int] = set()
    async with open_gateway(lambda: terminal, GatewaySettings(),
                            executor=InlineExecutor()) as gateway:
        watch = ForeignWatch(gateway, MAGIC, sent, EVERY, START)
        now = START + 2 * 3600.0  # two hours into the run, 240 reads later
        for i in range(240):
            at = START + i * EVERY
            terminal.deals.append(deal(i, at, order=10_000 + i))  # this process's own orders
            sent.add(10_000 + i)
            await watch.check(at, [])
        await watch.check(now, [])
        asked = [arg for _, _, arg in terminal.calls("history_deals_get")]
        # every read after the first asks from the previous read's time, a little before
        for (prev_from, _), (date_from, _) in pairwise(asked[1:]):
            assert date_from == prev_from + EVERY
        assert asked[-1][0] == int(START + 239 * EVERY - LATE_DEAL_SECONDS)
        # the deals the reads no longer reach are forgotten
        assert len(watch._seen) <= (LATE_DEAL_SECONDS + 2 * EVERY) / EVERY + 1
        assert not watch.halted

        # while dtms was cut off, another program traded with dtms's magic; the deal is listed
        # only now, with its own time, 20 minutes ago
        terminal.deals.append(deal(9_999, now - 1200.0, order=55_555))
        await watch.check(now + EVERY, [])
        assert not watch.halted, "too old for an ordinary read"
        watch.look_back(now + EVERY)
        await watch.check(now + 2 * EVERY, [])
        date_from, _ = terminal.calls("history_deals_get")[-1][2]
        assert date_from == int(now + EVERY - LOOK_BACK_SECONDS - LATE_DEAL_SECONDS)
        assert "order #55555" in watch.halted
