"""Invariants of the machine over random histories (Hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtms.core.machine import step
from dtms.core.messages import (
    ActionDone,
    ActionFailed,
    ActionUnknown,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Evaluated,
    ModifyStops,
    Observed,
    OpenHedge,
    ReAdd,
    Role,
)
from dtms.core.score import FlipState
from dtms.core.trade import new_trade
from dtms.core.types import Side, State

from .kit import EURUSD, HEDGING, M15, POLICY, T0, hedge_of, market, position, score

ORDER = [State.HEALTHY, State.WARNING_L1, State.WARNING_L2, State.HEDGED]

events = st.lists(
    st.one_of(
        st.tuples(st.just("eval"),
                  st.one_of(st.sampled_from([-7.0, -6.0, -4.0, -2.0, 0.0, 1.0, 5.0]),
                            st.floats(-10.5, 10.5)),
                  st.booleans(), st.integers(0, 9).map(lambda n: n == 0), st.booleans()),
        st.tuples(st.just("observe"), st.integers(1, 3600)),
        st.tuples(st.just("hedge_gone")),
        st.tuples(st.just("main_gone")),
        st.tuples(st.just("price"), st.integers(-300, 300)),
    ),
    min_size=1,
    max_size=40,
)
outcomes = st.lists(st.sampled_from(["done", "done", "done", "failed", "unknown"]), max_size=80)


@settings(max_examples=500, deadline=None)
@given(side=st.sampled_from(list(Side)), volume_steps=st.integers(1, 300), history=events,
       fates=outcomes)
def test_invariants_hold_over_random_histories(
    side: Side, volume_steps: int, history: list[Any], fates: list[str]
) -> None:
    volume = round(volume_steps * 0.01, 2)
    sl = 1.09500 if side is Side.BUY else 1.10500
    main: Any = position(side=side, volume=volume, sl=sl)
    hedge: Any = None
    trade = new_trade(main, T0)
    now, bid = T0, 1.10000
    fate = iter(fates)
    hedges_live_max = 0

    def apply(ev: Any) -> Any:
        nonlocal trade
        d = step(trade, ev, POLICY)
        # replaying the same event changes nothing and emits nothing
        again = step(d.trade, ev, POLICY)
        assert again.commands == () and again.trade == d.trade
        prev = trade
        trade = d.trade
        if d.transition is not None:
            # at most one transition per step, and it starts from the state we were in
            assert d.transition.source is prev.state
        return d

    for item in history:
        kind = item[0]
        if kind == "eval":
            now += M15
            _, total, confluence, choch, bos = item
            ev = Evaluated(now, int(now), score(total, confluence=confluence, choch=choch,
                                                bos_in_favour=bos, bar_time=int(now) - M15),
                           FlipState(), market(bid, at=now), HEDGING, main, hedge)
            d = apply(ev)
        elif kind == "observe":
            now += item[1]
            d = apply(Observed(now, main, hedge, None, market(bid, at=now)))
        elif kind == "hedge_gone":
            hedge = None
            continue
        elif kind == "main_gone":
            main = None
            continue
        else:
            bid = round(bid + item[1] * 0.00001, 5)
            if main is not None:
                main = _with(main, price_current=bid)
            continue
        for c in d.commands:
            # invariants on every command
            if isinstance(c, ModifyStops):
                assert main is not None
                current = main.sl
                if current > 0:
                    assert side.sign * (c.sl - current) >= EURUSD.point - 1e-9
            if isinstance(c, ClosePartial | OpenHedge | ReAdd):
                assert EURUSD.on_step(c.volume) and c.volume >= EURUSD.volume_min
            if isinstance(c, OpenHedge | ReAdd):
                assert len(c.comment) <= POLICY.actions.comment_max_length
            if isinstance(c, OpenHedge):
                assert hedge is None, "a second hedge was sent while one is live"
            result = next(fate, "done")
            if result == "done":
                main, hedge = _execute(c, main, hedge, now)
                d2 = apply(ActionDone(c.id, now, ticket=9000 + trade.seq, volume=getattr(
                    c, "volume", 0.0)))
            elif result == "failed":
                d2 = apply(ActionFailed(c.id, now, 10019, "No money"))
            else:
                d2 = apply(ActionUnknown(c.id, now, "timeout"))
            assert d2.commands == ()
            hedges_live_max = max(hedges_live_max, 1 if hedge is not None else 0)
        # a trade is HEDGED only with a hedge it knows of (or while confirming its close)
        if trade.state is State.HEDGED and trade.pending is None and hedge is not None:
            assert trade.hedge is not None
        assert trade.hedges_opened <= POLICY.machine.max_hedges_per_trade + 1


def _with(p: Any, **kw: Any) -> Any:
    return replace(p, **kw)


def _execute(c: Any, main: Any, hedge: Any, now: float) -> tuple[Any, Any]:
    """What the broker book looks like after a command executed."""
    if isinstance(c, ModifyStops) and main is not None:
        main = _with(main, sl=c.sl)
    elif isinstance(c, ClosePartial) and main is not None:
        main = _with(main, volume=round(main.volume - c.volume, 2))
    elif isinstance(c, OpenHedge) and main is not None:
        hedge = hedge_of(main, 8000, c.volume, c.sl, now)
    elif isinstance(c, CloseBy):
        hedge = None
    elif isinstance(c, ClosePosition):
        if c.role is Role.MAIN:
            main = None
        elif c.role is Role.HEDGE:
            hedge = None
    return main, hedge
