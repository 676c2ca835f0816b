"""The call recorder forwards everything and remembers how each call ended."""

from __future__ import annotations

from dtms.broker import constants as c
from dtms.broker.sim import SimBroker
from dtms.broker.sim.clock import ManualClock
from dtms.testing import Recorder, check_broker
from tests.broker.conftest import START, Orders, make_sim


def test_recorder_forwards_and_records(sim: SimBroker, clock: ManualClock) -> None:
    rec = Recorder(sim, clock=clock)
    assert rec.TRADE_ACTION_DEAL == c.TRADE_ACTION_DEAL
    result = Orders(rec).buy(volume=0.1)  # type: ignore[arg-type]
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert rec.positions_get("EURUSD") is None
    sends = rec.of("order_send")
    assert len(sends) == 1 and sends[0].result is result
    assert sends[0].last_error == (1, "Success") and sends[0].broker_time == START
    assert rec.requests()[0]["volume"] == 0.1
    (bad,) = rec.of("positions_get")
    assert bad.args == ("EURUSD",) and bad.last_error[0] == -2
    assert rec.last_error() == (-2, "Unnamed arguments not allowed")
    assert [call.name for call in rec.calls] == ["order_send", "positions_get"]
    rec.clear()
    assert rec.calls == () and rec.broker is sim


def test_a_recorded_broker_still_conforms() -> None:
    recorders: list[Recorder] = []

    def make() -> Recorder:
        recorders.append(Recorder(make_sim(ManualClock(START + 3600), initialize=False)))
        return recorders[-1]

    check_broker(make)
    assert len(recorders[0].of("order_send")) >= 8
