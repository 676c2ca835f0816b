"""The account guard's pure decisions: days, the day's start, warnings, the lock, unlocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtms.core.guard import (
    DAILY,
    OVERALL,
    GuardEventKind,
    GuardState,
    Level,
    Money,
    check,
    clock_text,
    day_of,
    reset_at,
    unlock,
)
from dtms.core.guard_limits import (
    PRESETS,
    DayStart,
    GuardSettings,
    Limits,
    LossUnit,
    OverallMode,
    PercentOf,
    Preset,
)
from dtms.core.machine import Rule, step
from dtms.core.messages import Action, ActionFailed, CloseBy, ClosePosition, Observed
from dtms.core.trade import new_trade
from dtms.core.types import State

from .kit import POLICY, T0, Driver, market, position

MIDNIGHT = datetime(2026, 3, 3, tzinfo=UTC).timestamp()  # a Tuesday, broker time
CLASSIC = PRESETS[Preset.CLASSIC_5_10]


def _check(state: GuardState, at: float, equity: float, balance: float = 100_000.0,
           limits: Limits = CLASSIC, **kw: float) -> tuple[GuardState, list[GuardEventKind]]:
    d = check(state, Money(at, balance, equity, "USD"), limits, 0.8, kw.pop("reset_hour", 0.0),
              **kw)
    return d.state, [e.kind for e in d.events]


def _started(at: float = MIDNIGHT + 60, balance: float = 100_000.0) -> GuardState:
    state, kinds = _check(GuardState(), at, balance, balance)
    assert kinds == [GuardEventKind.DAY_STARTED]
    return state


def test_days_begin_at_the_reset_hour_of_the_broker_clock() -> None:
    assert day_of(MIDNIGHT - 1, 0) == day_of(MIDNIGHT, 0) - 1
    assert day_of(MIDNIGHT + 3600 * 21.99, 22) == day_of(MIDNIGHT, 22)
    assert day_of(MIDNIGHT + 3600 * 22, 22) == day_of(MIDNIGHT, 22) + 1
    assert reset_at(day_of(MIDNIGHT + 5000, 0), 0) == MIDNIGHT


def test_the_first_reading_takes_the_initial_balance_and_the_days_start() -> None:
    state = _started()
    assert state.initial == 100_000.0 and state.day_start == 100_000.0
    assert state.day == day_of(MIDNIGHT, 0) and state.lock is None
    configured, _ = _check(GuardState(), MIDNIGHT + 60, 98_000.0, 98_000.0,
                           initial_balance=100_000.0)
    assert configured.initial == 100_000.0 and configured.day_start == 98_000.0


def test_warning_once_a_day_then_the_breach_locks_with_its_reason() -> None:
    state = _started()
    state, kinds = _check(state, MIDNIGHT + 3600, 95_900.0)  # 4,100 of 5,000: 82 %
    assert kinds == [GuardEventKind.WARNING]
    state, kinds = _check(state, MIDNIGHT + 3700, 95_800.0)
    assert kinds == []  # said once a day
    state, kinds = _check(state, MIDNIGHT + 3800, 95_000.0)  # exactly the limit: inclusive
    assert kinds == [GuardEventKind.TRIGGERED]
    assert state.lock is not None and state.lock.limits == (DAILY,)
    assert "daily loss limit reached" in state.lock.reason
    assert "95,000.00 USD" in state.lock.reason
    state, kinds = _check(state, MIDNIGHT + 3900, 99_000.0)  # recovered: still locked
    assert kinds == [] and state.lock is not None


def test_a_breach_in_one_reading_is_said_once_not_also_as_a_warning() -> None:
    _, kinds = _check(_started(), MIDNIGHT + 3600, 90_000.0)
    assert kinds == [GuardEventKind.TRIGGERED]


def test_the_next_reset_releases_the_lock_and_a_limit_still_breached_locks_again() -> None:
    state = _started()
    state, _ = _check(state, MIDNIGHT + 3600, 94_000.0, balance=94_000.0)  # daily breached
    assert state.lock is not None
    state, kinds = _check(state, MIDNIGHT + 86_400 + 30, 94_000.0, balance=94_000.0)
    assert kinds == [GuardEventKind.RELEASED, GuardEventKind.DAY_STARTED]
    assert state.lock is None and state.day_start == 94_000.0
    # an overall breach is still a breach on the new day
    state, _ = _check(state, MIDNIGHT + 86_400 + 3600, 89_900.0, balance=94_000.0)
    assert state.lock is not None and state.lock.limits == (OVERALL,)
    state, kinds = _check(state, MIDNIGHT + 2 * 86_400 + 30, 89_900.0, balance=89_900.0)
    assert kinds == [GuardEventKind.RELEASED, GuardEventKind.DAY_STARTED,
                     GuardEventKind.TRIGGERED]
    assert state.lock is not None


def test_a_clock_that_goes_back_never_resets_twice_and_missed_resets_reset_once() -> None:
    state = _started()
    state, _ = _check(state, MIDNIGHT + 3600, 94_000.0, balance=97_000.0)
    assert state.lock is not None
    back, kinds = _check(state, MIDNIGHT - 1800, 94_000.0, balance=97_000.0)  # DST: an hour back
    assert kinds == [] and back.lock is not None and back.day == state.day
    again, kinds = _check(back, MIDNIGHT + 10, 94_000.0, balance=97_000.0)  # forward again
    assert kinds == [] and again.lock is not None
    later, kinds = _check(again, MIDNIGHT + 4 * 86_400 + 600, 96_000.0, balance=96_000.0)
    assert kinds.count(GuardEventKind.DAY_STARTED) == 1
    assert later.day == day_of(MIDNIGHT, 0) + 4


def test_the_days_start_by_basis_and_a_late_reading() -> None:
    late = MIDNIGHT + 5 * 3600  # dtms was not running at the reset
    for basis, expected, is_late in ((DayStart.BALANCE, 100_000.0, False),
                                     (DayStart.EQUITY, 98_500.0, True),
                                     (DayStart.HIGHER, 100_000.0, True)):
        limits = replace(CLASSIC, day_start=basis)
        state, _ = _check(GuardState(), late, 98_500.0, balance=99_000.0, limits=limits,
                          balance_at_reset=100_000.0)
        assert (state.day_start, state.late) == (expected, is_late), basis
    on_time, _ = _check(GuardState(), MIDNIGHT + 5, 101_000.0, balance=100_000.0,
                        limits=replace(CLASSIC, day_start=DayStart.HIGHER))
    assert on_time.day_start == 101_000.0 and not on_time.late


def test_percent_of_the_day_start_and_money_limits() -> None:
    state = _started()
    state = replace(state, day_start=80_000.0)
    of_start = Limits(5.0, LossUnit.PERCENT, 0.0, percent_of=PercentOf.DAY_START)
    d = check(state, Money(MIDNIGHT + 60, 80_000, 76_000), of_start, 0.8, 0.0)
    (view,) = d.views
    assert view.limit == 4_000.0 and view.floor == 76_000.0 and view.level is Level.BREACHED
    money = Limits(1_500.0, LossUnit.MONEY, 3_000.0, LossUnit.MONEY)
    d = check(_started(), Money(MIDNIGHT + 60, 100_000, 98_700), money, 0.8, 0.0)
    daily, overall = d.views
    assert (daily.limit, daily.distance, daily.level) == (1_500.0, 200.0, Level.WARNING)
    assert (overall.limit, overall.floor, overall.level) == (3_000.0, 97_000.0, Level.OK)


def test_trailing_overall_floor_rises_with_the_highest_days_start() -> None:
    limits = PRESETS[Preset.TRAILING_3_6]
    state = _started()
    state, _ = _check(state, MIDNIGHT + 86_400 + 10, 104_000.0, balance=104_000.0, limits=limits)
    state, _ = _check(state, MIDNIGHT + 2 * 86_400 + 10, 101_000.0, balance=101_000.0,
                      limits=limits)
    d = check(state, Money(MIDNIGHT + 2 * 86_400 + 60, 101_000, 98_100), limits, 0.8, 0.0)
    overall = next(v for v in d.views if v.name == OVERALL)
    assert state.peak == 104_000.0
    assert overall.floor == 98_000.0 and overall.level is Level.WARNING
    static = next(v for v in check(state, Money(0, 0, 98_100), CLASSIC, 0.8, 0.0).views
                  if v.name == OVERALL)
    assert static.floor == 90_000.0


def test_unlock_releases_and_the_breached_limit_waits_for_the_next_reset() -> None:
    state, _ = _check(_started(), MIDNIGHT + 3600, 94_000.0)
    d = unlock(state, "r1", MIDNIGHT + 4000)
    assert [e.kind for e in d.events] == [GuardEventKind.UNLOCKED]
    state = d.state
    assert state.lock is None and state.suspended == (DAILY,) and "unlocked" in state.answer
    assert unlock(state, "r1", MIDNIGHT + 4100).events == ()  # handled once
    state, kinds = _check(state, MIDNIGHT + 4200, 93_000.0)  # the daily limit is suspended
    assert state.lock is None and kinds == []
    state, kinds = _check(state, MIDNIGHT + 4300, 89_000.0)  # the overall one is not
    assert state.lock is not None and state.lock.limits == (OVERALL,)
    state, _ = _check(state, MIDNIGHT + 86_400 + 5, 96_000.0, balance=96_000.0)
    assert state.suspended == () and state.lock is None
    d = unlock(state, "r2", MIDNIGHT + 86_400 + 60)
    assert d.state.lock is None and "not locked" in d.state.answer
    assert [e.kind for e in d.events] == [GuardEventKind.REQUEST_IGNORED]


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_the_lock_only_ever_comes_from_a_reading_at_or_below_a_floor(equity: float) -> None:
    state = _started()
    d = check(state, Money(MIDNIGHT + 3600, 100_000.0, equity), CLASSIC, 0.8, 0.0)
    floors = [v.floor for v in d.views]
    assert (d.state.lock is not None) == (equity <= max(floors) + 1e-9)


def test_clock_text_is_the_civil_date() -> None:
    for t in (0.0, MIDNIGHT, MIDNIGHT + 86_399, 951_782_400.0 + 3723, 4_102_444_800.0 - 60):
        expected = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
        assert clock_text(t) == expected


def test_presets_set_the_limits_and_refuse_limits_of_ones_own() -> None:
    s = GuardSettings(preset=Preset.STRICT_4_8)
    assert s.enabled and s.limits() == PRESETS[Preset.STRICT_4_8]
    assert s.limits().day_start is DayStart.HIGHER
    assert not GuardSettings().enabled
    assert GuardSettings(overall_loss=10).limits().overall_mode is OverallMode.STATIC
    with pytest.raises(ValueError, match="preset 'classic_5_10' sets daily_loss"):
        GuardSettings(preset=Preset.CLASSIC_5_10, daily_loss=4.0)
    with pytest.raises(ValueError, match="must be below 100"):
        GuardSettings(daily_loss=100.0)


# ----------------------------------------------------------------------------- the machine


def _hedged_driver() -> Driver:
    main = position(price_current=1.10150)
    d = Driver(new_trade(main, T0), main)
    d.bid = 1.10150
    for total in (-2.0, -4.0, -6.0):
        d.evaluate(total)
    assert d.trade.state is State.HEDGED and d.hedge is not None
    return d


def test_a_lock_closes_every_open_trade_at_once_hedge_included_by_close_by() -> None:
    d = _hedged_driver()
    d.lock = "daily loss limit reached"
    decision = d.observe()  # a snapshot is enough: no score, no deep check
    assert decision.started is Rule.GUARD
    assert [type(c) for c in decision.commands] == [CloseBy, ClosePosition]
    assert d.trade.state is State.CLOSED and d.main is None and d.hedge is None
    assert "account guard: daily loss limit reached" in d.trade.close_reason
    for state in (State.HEALTHY, State.WARNING_L1):
        fresh = Driver(new_trade(position(), T0), position())
        if state is State.WARNING_L1:
            fresh.evaluate(-2.0)
        fresh.lock = "overall loss limit reached"
        fresh.observe()
        assert fresh.trade.state is State.CLOSED, state


def _snapshot(d: Driver) -> tuple[object, ...]:
    """A positions snapshot whose commands are not carried out (the test answers for them)."""
    d.now += 1
    ev = Observed(d.now, d.main, d.hedge, d.readd, market(d.bid, at=d.now), lock=d.lock)
    return d._apply(step(d.trade, ev, POLICY)).commands


def test_a_lock_fires_through_another_actions_back_off_but_its_own_failure_backs_off() -> None:
    main = position(price_current=1.10150)
    d = Driver(new_trade(main, T0), main)
    d.bid = 1.10150
    d.evaluate(-2.0)
    d.evaluate(-4.0)
    (hedge,) = d.evaluate(-6.0, auto=False).commands
    d._apply(step(d.trade, ActionFailed(hedge.id, d.now, 10019, "No money"), POLICY))
    assert d.trade.retry_after_eval is not None  # backing off after the failed hedge
    d.lock = "daily loss limit reached"
    (close,) = _snapshot(d)
    assert isinstance(close, ClosePosition)
    d._apply(step(d.trade, ActionFailed(close.id, d.now, 10030, "Unsupported filling"), POLICY))
    assert d.trade.state is State.WARNING_L2 and d.trade.failures_of(Action.CLOSE_ALL) == 1
    assert _snapshot(d) == ()  # its own failure: not re-sent at every snapshot
    assert len(d.evaluate(-6.0, auto=False).commands) == 1  # the next deep check retries


def test_a_configured_initial_balance_wins_over_the_first_balance_seen() -> None:
    state = _started(balance=98_000.0)
    assert state.initial == 98_000.0
    state, _ = _check(state, MIDNIGHT + 120, 98_000.0, balance=98_000.0,
                      initial_balance=100_000.0)
    assert state.initial == 100_000.0  # the account size set later in the config


def test_docs_guard_lists_every_preset_with_its_numbers_and_every_knob() -> None:
    from pathlib import Path

    from dtms.config import Settings, parse_settings
    from dtms.configload import knob_paths
    from dtms.core.guard_limits import preset_table

    text = (Path(__file__).resolve().parents[2] / "docs" / "guard.md").read_text("utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset | daily loss"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(tuple(cell.strip() for cell in line.strip("|").split("|")))
    assert rows == preset_table()
    example = text.split("```toml", 1)[1].split("```", 1)[0]
    guard = parse_settings(example, "docs/guard.md").guard  # the example loads as written
    assert guard.limits().overall_unit is LossUnit.MONEY and guard.reset_hour == 23.0
    for key in knob_paths(Settings):
        table, _, name = key.rpartition(".")
        if table in ("guard", "news", "scope") or key in ("actions.hedging",
                                                          "actions.instead_of_hedge"):
            assert f"{name} =" in text or f"`{name}`" in text, f"docs/guard.md lacks {key}"
