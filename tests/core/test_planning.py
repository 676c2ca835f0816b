"""Exact action parameters (specification §4) and their invariants."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtms.core.messages import CloseBy, ClosePartial, ClosePosition, ModifyStops, OpenHedge
from dtms.core.planning import (
    Skip,
    frozen,
    plan_breakeven,
    plan_close_all,
    plan_open_hedge,
    plan_partial_close,
    plan_re_add,
    plan_tighten_sl,
)
from dtms.core.policy import ActionParams
from dtms.core.trade import new_trade
from dtms.core.types import Side, SymbolSpec

from .kit import EURUSD, HEDGING, NETTING, T0, market, position

P = ActionParams()
XAU = SymbolSpec("XAUUSD", digits=2, point=0.01, volume_min=0.01, volume_max=50.0,
                 volume_step=0.01, stops_level=20, spread=25)
US30 = SymbolSpec("US30", digits=1, point=0.1, volume_min=0.1, volume_max=200.0,
                  volume_step=0.1, stops_level=50, spread=20)


def test_tighten_uses_initial_sl_for_r() -> None:
    main = position(price_current=1.10150)
    cmd = plan_tighten_sl("c", new_trade(main, T0), main, market(1.10150), P)
    assert isinstance(cmd, ModifyStops) and cmd.sl == pytest.approx(1.10000)


def test_tighten_without_sl_uses_one_atr_for_r() -> None:
    main = position(sl=0.0)
    cmd = plan_tighten_sl("c", new_trade(main, T0), main, market(1.10000, atr=0.002), P)
    assert isinstance(cmd, ModifyStops) and cmd.sl == pytest.approx(1.10000 - 0.0006)


def test_tighten_without_sl_or_atr_is_skipped_with_a_reason() -> None:
    main = position(sl=0.0)
    out = plan_tighten_sl("c", new_trade(main, T0), main, market(atr=None), P)
    assert isinstance(out, Skip) and "ATR" in out.reason


def test_tighten_is_pushed_outside_the_stops_level_of_the_trigger_price_only() -> None:
    # R = 0.5 -> wanted 2349.85; stops 20 points + 1 below the bid (the price that triggers a
    # BUY's SL, spread already in it): 2349.79. The spread is not added a second time.
    main = position(ticket=1, symbol="XAUUSD", price_open=2350.0, sl=2349.5, price_current=2350.0)
    cmd = plan_tighten_sl("c", new_trade(main, T0), main, market(2350.0, 25, spec=XAU), P)
    assert isinstance(cmd, ModifyStops) and cmd.sl == pytest.approx(2349.79)


def test_tighten_respects_the_freeze_level_when_it_is_wider_than_the_stops_level() -> None:
    main = position(ticket=1, symbol="XAUUSD", price_open=2350.0, sl=2349.5, price_current=2350.0)
    frozen_spec = replace(XAU, freeze_level=40)
    cmd = plan_tighten_sl("c", new_trade(main, T0), main, market(2350.0, 25, spec=frozen_spec), P)
    assert isinstance(cmd, ModifyStops) and cmd.sl == pytest.approx(2349.59)


def test_a_position_inside_the_freeze_level_is_frozen_for_both_sides() -> None:
    spec = replace(EURUSD, freeze_level=30)
    quote = market(1.10000, spec=spec).quote  # bid 1.10000, ask 1.10010
    buy = position(sl=1.09970)  # bid - SL = 30 points: not strictly beyond -> frozen
    assert frozen(buy, quote, spec)
    assert not frozen(replace(buy, sl=1.09969), quote, spec)  # 31 points: free
    assert frozen(replace(buy, sl=0.0, tp=1.10030), quote, spec)  # TP 30 points away
    sell = position(side=Side.SELL, sl=1.10040)  # SL - ask = 30 points
    assert frozen(sell, quote, spec)
    assert not frozen(sell, quote, replace(spec, freeze_level=0))


def test_hedge_sl_is_exactly_half_an_atr_from_its_entry_on_both_sides() -> None:
    atr = 0.00200
    for side, bid in ((Side.BUY, 1.10000), (Side.SELL, 1.10000)):
        main = position(side=side, price_current=bid)
        mk = market(bid, atr=atr)
        out = plan_open_hedge("c", new_trade(main, T0), main, mk, HEDGING, 2, P)
        assert isinstance(out, OpenHedge)
        entry = mk.quote.entry_price(out.side)  # SELL hedge fills at the bid, BUY at the ask
        assert out.sl == pytest.approx(entry - out.side.sign * 0.5 * atr, abs=1e-9)


def test_hedge_volume_is_capped_at_volume_max() -> None:
    main = position(volume=6.0)
    capped = market(spec=replace(EURUSD, volume_max=2.0))
    out = plan_open_hedge("c", new_trade(main, T0), main, capped, HEDGING, 2, P)
    assert isinstance(out, OpenHedge) and out.volume == 2.0


def test_tighten_never_loosens_and_needs_a_full_point() -> None:
    trade = new_trade(position(), T0)  # initial SL 1.09500: R = 50 pips
    main = position(price_current=1.10150, sl=1.10000)  # already at price - 0.3 R
    out = plan_tighten_sl("c", trade, main, market(1.10150), P)
    assert isinstance(out, Skip) and "tighten" in out.reason
    main = position(price_current=1.10150, sl=1.10001)  # tighter than we would set
    assert isinstance(plan_tighten_sl("c", trade, main, market(1.10150), P), Skip)
    main = position(price_current=1.10160, sl=1.10000)  # one point better: sent
    out = plan_tighten_sl("c", trade, main, market(1.10160), P)
    assert isinstance(out, ModifyStops) and out.sl == pytest.approx(1.10010)


def test_sell_tighten_mirrors() -> None:
    main = position(side=Side.SELL, price_open=1.10000, sl=1.10500, price_current=1.09850)
    cmd = plan_tighten_sl("c", new_trade(main, T0), main, market(1.09840, 10), P)
    assert isinstance(cmd, ModifyStops)
    assert cmd.sl == pytest.approx(1.09850 + 0.0015)  # ask 1.09850 + 0.3 R


@pytest.mark.parametrize(("volume", "expected"), [
    (1.0, 0.5), (0.03, 0.01), (0.07, 0.03), (0.15, 0.07), (1.01, 0.5),
])
def test_partial_is_half_rounded_down_to_the_step(volume: float, expected: float) -> None:
    main = position(volume=volume)
    out = plan_partial_close("c", new_trade(main, T0), main, EURUSD, P)
    assert isinstance(out, ClosePartial) and out.volume == expected


@pytest.mark.parametrize(("spec", "volume", "ratio", "word"), [
    (EURUSD, 0.01, 0.5, "below volume_min"),
    (US30, 0.1, 0.5, "below volume_min"),
    (replace(EURUSD, volume_min=0.1), 0.19, 0.5, "below volume_min"),
    (replace(EURUSD, volume_min=0.1), 0.2, 0.7, "would leave less than volume_min"),
])
def test_partial_below_min_or_turning_into_full_close_is_skipped(
    spec: SymbolSpec, volume: float, ratio: float, word: str
) -> None:
    main = position(volume=volume)
    params = replace(P, partial_close_ratio=ratio)
    out = plan_partial_close("c", new_trade(main, T0), main, spec, params)
    assert isinstance(out, Skip) and word in out.reason


def test_partial_at_most_once() -> None:
    main = position()
    t = replace(new_trade(main, T0), partial_closes=1)
    assert isinstance(plan_partial_close("c", t, main, EURUSD, P), Skip)


def test_breakeven_only_when_price_is_beyond_entry_by_more_than_stops_level() -> None:
    main = position(price_current=1.09900)
    losing = plan_breakeven("c", new_trade(main, T0), main, market(1.09900), P)
    assert isinstance(losing, Skip) and "losing" in losing.reason
    main = position(price_current=1.10150)
    cmd = plan_breakeven("c", new_trade(main, T0), main, market(1.10150), P)
    assert isinstance(cmd, ModifyStops)
    assert cmd.sl == pytest.approx(1.10000 + P.breakeven_buffer_points * 0.00001)


def test_hedge_preconditions_each_have_a_reason() -> None:
    main = position()
    t = new_trade(main, T0)
    cases = [
        (NETTING, market(), "netting"),
        (replace(HEDGING, trade_allowed=False), market(), "not allowed"),
        (HEDGING, market(stale=True), "stale"),
        (HEDGING, market(atr=None), "ATR"),
    ]
    for account, mk, word in cases:
        out = plan_open_hedge("c", t, main, mk, account, 2, P)
        assert isinstance(out, Skip) and word in out.reason
    out = plan_open_hedge("c", replace(t, hedges_opened=2), main, market(), HEDGING, 2, P)
    assert isinstance(out, Skip) and "max 2" in out.reason
    tiny = position(volume=0.01)
    out = plan_open_hedge("c", new_trade(tiny, T0), tiny, market(), HEDGING, 2, P)
    assert isinstance(out, Skip) and "volume_min" in out.reason


def test_hedge_comment_fits_31_characters_for_any_ticket() -> None:
    biggest = 2**64 - 1  # a ticket is a ulong
    main = position(ticket=biggest)
    out = plan_open_hedge("c", new_trade(main, T0), main, market(), HEDGING, 2, P)
    assert isinstance(out, OpenHedge) and len(out.comment) <= 31
    strict = replace(P, comment_max_length=27)
    out = plan_open_hedge("c", new_trade(main, T0), main, market(), HEDGING, 2, strict)
    assert isinstance(out, Skip) and "longer than 27" in out.reason


def test_close_all_prefers_close_by_then_closes_the_remainder() -> None:
    main = position(volume=1.0)
    hedge = replace(position(ticket=9, side=Side.SELL, volume=0.5), comment="DTMS_HEDGE_1001")
    cmds = plan_close_all(["a", "b", "c"], new_trade(main, T0), main, hedge, None, EURUSD,
                          HEDGING, P)
    assert isinstance(cmds[0], CloseBy) and cmds[0].by_ticket == 9
    assert isinstance(cmds[1], ClosePosition) and cmds[1].volume == pytest.approx(0.5)
    no_by = replace(EURUSD, order_mode=63)
    cmds = plan_close_all(["a", "b", "c"], new_trade(main, T0), main, hedge, None, no_by,
                          HEDGING, P)
    assert [type(c) for c in cmds] == [ClosePosition, ClosePosition]


def test_re_add_disabled_by_default_and_sized_from_closed_volume() -> None:
    main = position(volume=0.5)
    t = replace(new_trade(main, T0), closed_volume=0.5)
    assert isinstance(plan_re_add("c", t, main, EURUSD, P), Skip)
    out = plan_re_add("c", t, main, EURUSD, replace(P, re_add_enabled=True))
    assert out.volume == 0.25 and out.comment == "DTMS_READD_1001"  # type: ignore[union-attr]


# ---------------------------------------------------------------- properties

specs = st.sampled_from([EURUSD, XAU, US30])


@settings(max_examples=300, deadline=None)
@given(spec=specs, steps=st.integers(1, 5000), side=st.sampled_from(list(Side)))
def test_volumes_are_always_on_the_step_and_at_least_min(
    spec: SymbolSpec, steps: int, side: Side
) -> None:
    volume = round(steps * spec.volume_step, 8)
    main = position(side=side, volume=volume, symbol=spec.name)
    t = new_trade(main, T0)
    mk = market(1.1, spec=spec)
    for out in (plan_partial_close("c", t, main, spec, P),
                plan_open_hedge("c", t, main, mk, HEDGING, 2, P)):
        if isinstance(out, Skip):
            continue
        assert spec.on_step(out.volume) and out.volume >= spec.volume_min  # type: ignore[union-attr]
        if isinstance(out, ClosePartial):
            assert volume - out.volume >= spec.volume_min - 1e-9


@settings(max_examples=500, deadline=None)
@given(
    side=st.sampled_from(list(Side)),
    entry=st.floats(1.0, 2.0),
    risk_pips=st.integers(0, 500),
    move_pips=st.integers(-400, 400),
    current_offset_pips=st.integers(-600, 600),
    atr=st.floats(0.0001, 0.01),
)
def test_stop_never_loosens(
    side: Side, entry: float, risk_pips: int, move_pips: int, current_offset_pips: int, atr: float
) -> None:
    entry = round(entry, 5)
    initial_sl = round(entry - side.sign * risk_pips * 0.0001, 5) if risk_pips else 0.0
    current_sl = round(entry - side.sign * current_offset_pips * 0.0001, 5)
    current_sl = max(current_sl, 0.0)
    bid = round(entry + move_pips * 0.0001, 5)
    main = position(side=side, price_open=entry, sl=current_sl, price_current=bid)
    t = replace(new_trade(main, T0), initial_sl=initial_sl)
    mk = market(bid, atr=atr)
    for out in (plan_tighten_sl("c", t, main, mk, P), plan_breakeven("c", t, main, mk, P)):
        if isinstance(out, ModifyStops):
            if current_sl > 0:
                assert side.sign * (out.sl - current_sl) >= 0.00001 - 1e-9
            exit_price = mk.quote.exit_price(side)
            # beyond the stops level (0 here) by at least a point from the trigger price
            assert side.sign * (exit_price - out.sl) >= 0.00001 - 1e-9
            assert round(out.sl, 5) == out.sl
