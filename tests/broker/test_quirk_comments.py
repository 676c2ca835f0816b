"""Broker quirks on comments: dropped, truncated, replaced by the broker's stop tags."""

from __future__ import annotations

from typing import Any

from dtms.broker import constants as c
from dtms.broker.sim import QuirkSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import Orders, make_sim

HEDGE = "DTMS_HEDGE_557416502"


def quirky(clock: ManualClock, **quirks: Any) -> tuple[SimBroker, Orders]:
    sim = make_sim(clock, quirks=QuirkSettings(**quirks))
    return sim, Orders(sim)


def comments_of(sim: SimBroker, ticket: int) -> tuple[str, list[str], list[str]]:
    """The position's comment and those of its history orders and deals."""
    found = sim.positions_get(ticket=ticket) or ()
    orders = sim.history_orders_get(position=ticket) or ()
    deals = sim.history_deals_get(position=ticket) or ()
    position = found[0].comment if found else "<closed>"
    return position, [o.comment for o in orders], [d.comment for d in deals]


def test_comments_are_kept_whole_by_default(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(comment=HEDGE, magic=9)
    assert comments_of(sim, pos.ticket) == (HEDGE, [HEDGE], [HEDGE])


def test_dropped_comments_everywhere_the_position_shows(clock: ManualClock) -> None:
    sim, orders = quirky(clock, comment_drop=True)
    result = orders.buy(comment=HEDGE, magic=9)
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert result.request.comment == HEDGE, "the result echoes the request as sent"
    assert comments_of(sim, result.order) == ("", [""], [""])
    (pos,) = sim.positions_get(ticket=result.order) or ()
    assert pos.magic == 9, "the magic survives"
    hand = sim.scenario.open_position("GBPUSD", "buy", 0.1, comment="by hand")
    assert comments_of(sim, hand) == ("", [""], [""])
    closed = orders.close(result.order, comment="closing")
    assert closed.retcode == c.TRADE_RETCODE_DONE
    assert comments_of(sim, result.order)[1:] == (["", ""], ["", ""])


def test_truncated_comments_are_accepted_and_cut(clock: ManualClock) -> None:
    sim, orders = quirky(clock, comment_truncate=16)
    result = orders.buy(comment=HEDGE)
    assert result.retcode == c.TRADE_RETCODE_DONE
    cut = HEDGE[:16]
    assert cut == "DTMS_HEDGE_55741"
    assert comments_of(sim, result.order) == (cut, [cut], [cut])
    short = orders.opened(comment="tiny")
    assert short.comment == "tiny"


def test_truncation_does_not_lift_the_terminal_length_limit(clock: ManualClock) -> None:
    sim, _ = quirky(clock, comment_truncate=16)
    req = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "comment": "x" * 32}
    assert sim.order_send(req) is None
    assert sim.last_error() == (-2, 'Invalid "comment" argument')


def test_stop_changes_keep_the_comment_by_default(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(comment=HEDGE)
    bid, _ = orders.tick()
    assert orders.sltp(pos.ticket, round(bid - 0.002, 5), 0.0).retcode == c.TRADE_RETCODE_DONE
    assert orders.position(pos.ticket).comment == HEDGE


def test_stop_changes_replace_the_comment_with_the_broker_tag(clock: ManualClock) -> None:
    sim, orders = quirky(clock, comment_replace_on_stops=True)
    pos = orders.opened(comment=HEDGE)
    bid, _ = orders.tick()
    sl, tp = round(bid - 0.002, 5), round(bid + 0.003, 5)
    assert orders.sltp(pos.ticket, sl, 0.0).retcode == c.TRADE_RETCODE_DONE
    assert orders.position(pos.ticket).comment == f"[sl {sl:.5f}]"
    assert orders.sltp(pos.ticket, sl, tp).retcode == c.TRADE_RETCODE_DONE
    assert orders.position(pos.ticket).comment == f"[tp {tp:.5f}]"
    _, order_comments, deal_comments = comments_of(sim, pos.ticket)
    assert (order_comments, deal_comments) == ([HEDGE], [HEDGE]), "history is never rewritten"
    other = orders.opened(comment="by hand later")
    sim.scenario.modify_position(other.ticket, sl=sl, tp=0.0)
    assert orders.position(other.ticket).comment == f"[sl {sl:.5f}]"


def test_a_stop_hit_tags_the_closing_deal(clock: ManualClock) -> None:
    sim, orders = quirky(clock, comment_replace_on_stops=True)
    bid, ask = orders.tick()
    sl = round(bid - 0.0015, 5)
    pos = orders.opened(volume=0.2, sl=sl, comment=HEDGE, magic=3)
    assert pos.comment == HEDGE, "stops sent with the opening order do not replace it"
    sim.market.script_path("EURUSD", [(clock() + 60, (bid + ask) / 2 - 0.004)])
    clock.advance(90)
    assert sim.positions_get(ticket=pos.ticket) == ()
    deals = sim.history_deals_get(position=pos.ticket) or ()
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_OUT]
    out = deals[-1]
    assert (out.reason, out.comment, out.magic) == (c.DEAL_REASON_SL, f"[sl {sl:.5f}]", 3)
