"""The account guard's limits: what a prop firm's rule book says, as numbers.

Theory of operation. A prop-firm account lives under two loss limits measured on *equity*
(open profit and loss included): a daily one, against the day's start taken at a reset hour of
the broker's clock (the server's midnight, usually), and an overall one, against the account's
initial balance (static) or against its highest day's start (trailing). A limit is a sum of
money or a percent of the initial balance (or of the day's start). ``GuardSettings`` is the
``[guard]`` table; a *preset* fills the limits of a common rule set by name, and mixing a preset
with limits of one's own is refused at load (one line naming the key), so a file never means two
things. ``GuardSettings.limits()`` resolves both into one ``Limits`` value the guard works with.

Rules for this module: pure (stdlib only); every number is a knob or a preset's documented
figure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from dtms.core.params import knob


class LossUnit(enum.Enum):
    """How a limit is stated."""

    PERCENT = "percent"
    MONEY = "money"


class PercentOf(enum.Enum):
    """What a percent daily limit is a percent of (the overall one is of the initial balance)."""

    INITIAL_BALANCE = "initial_balance"
    DAY_START = "day_start"


class DayStart(enum.Enum):
    """What the day's start is, taken at the daily reset."""

    BALANCE = "balance"
    EQUITY = "equity"
    HIGHER = "higher"
    """The higher of balance and equity at the reset."""


class OverallMode(enum.Enum):
    """What the overall limit is measured from."""

    STATIC = "static"
    """The initial balance: equity must stay above initial - limit."""
    TRAILING = "trailing"
    """The highest day's start so far (end-of-day trailing): the floor only ever rises."""


class FlattenScope(enum.Enum):
    """Which positions a breach closes, and keeps closed while the account is locked."""

    MANAGED = "managed"
    """Every position dtms manages (with its hedges and re-adds); ignored ones stay."""
    ACCOUNT = "account"
    """Every position on the account, those of ignored magics and outside the scope included."""


class Preset(enum.Enum):
    """Named rule sets (docs/guard.md lists their numbers)."""

    CUSTOM = "custom"
    CLASSIC_5_10 = "classic_5_10"
    STRICT_4_8 = "strict_4_8"
    TRAILING_3_6 = "trailing_3_6"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the guard enforces, resolved from a preset or the knobs."""

    daily_loss: float = 0.0
    daily_unit: LossUnit = LossUnit.PERCENT
    overall_loss: float = 0.0
    overall_unit: LossUnit = LossUnit.PERCENT
    percent_of: PercentOf = PercentOf.INITIAL_BALANCE
    day_start: DayStart = DayStart.BALANCE
    overall_mode: OverallMode = OverallMode.STATIC


PRESETS: dict[Preset, Limits] = {
    # 5 % of the initial balance below the day's starting balance, 10 % below the initial one.
    Preset.CLASSIC_5_10: Limits(5.0, LossUnit.PERCENT, 10.0, LossUnit.PERCENT,
                                PercentOf.INITIAL_BALANCE, DayStart.BALANCE, OverallMode.STATIC),
    # 4 % of the day's start, itself the higher of balance and equity at the reset; 8 % static.
    Preset.STRICT_4_8: Limits(4.0, LossUnit.PERCENT, 8.0, LossUnit.PERCENT,
                              PercentOf.DAY_START, DayStart.HIGHER, OverallMode.STATIC),
    # 3 % daily; 6 % of the initial balance below the highest day's start (trailing).
    Preset.TRAILING_3_6: Limits(3.0, LossUnit.PERCENT, 6.0, LossUnit.PERCENT,
                                PercentOf.INITIAL_BALANCE, DayStart.BALANCE, OverallMode.TRAILING),
}

_LIMIT_KNOBS = ("daily_loss", "daily_loss_unit", "overall_loss", "overall_loss_unit",
                "percent_of", "day_start", "overall_mode")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Account guard: daily and overall loss limits on equity (docs/guard.md)."""

    preset: Preset = knob(
        Preset.CUSTOM, "custom: the limits below; or classic_5_10, strict_4_8, trailing_3_6 "
        "(docs/guard.md), which set them")
    daily_loss: float = knob(0.0, "daily loss limit in daily_loss_unit (0: none)", ge=0)
    daily_loss_unit: LossUnit = knob(LossUnit.PERCENT, "percent or money (account currency)")
    overall_loss: float = knob(0.0, "overall loss limit in overall_loss_unit (0: none)", ge=0)
    overall_loss_unit: LossUnit = knob(LossUnit.PERCENT, "percent or money (account currency)")
    percent_of: PercentOf = knob(
        PercentOf.INITIAL_BALANCE, "a percent daily limit is a percent of: initial_balance or "
        "day_start")
    day_start: DayStart = knob(
        DayStart.BALANCE, "the day's start taken at the reset: balance, equity or higher (of the "
        "two)")
    overall_mode: OverallMode = knob(
        OverallMode.STATIC, "static: below the initial balance; trailing: below the highest "
        "day's start")
    initial_balance: float = knob(
        0.0, "account size the limits refer to (0: the balance when the guard first ran)", ge=0)
    warning_at: float = knob(0.8, "warn when a loss reaches this fraction of its limit", gt=0,
                             lt=1)
    reset_hour: float = knob(
        0.0, "broker-server hour of the daily reset (0: the server's midnight)", ge=0, lt=24)
    check_seconds: float = knob(2.0, "how often equity is read while a limit is set", gt=0)
    flatten_scope: FlattenScope = knob(
        FlattenScope.MANAGED, "on a breach close: managed (what dtms manages) or account "
        "(every position)")
    hedge_risk_check: bool = knob(
        False, "no new hedge whose stop-loss would breach the daily limit: close instead")

    def __post_init__(self) -> None:
        if self.preset is not Preset.CUSTOM:
            default = GuardSettings.__dataclass_fields__
            for name in _LIMIT_KNOBS:
                if getattr(self, name) != default[name].default:
                    raise ValueError(
                        f"preset {self.preset.value!r} sets {name}; remove {name} or set "
                        'preset = "custom"')
        for name, unit in (("daily_loss", self.daily_loss_unit),
                           ("overall_loss", self.overall_loss_unit)):
            value = getattr(self, name)
            if unit is LossUnit.PERCENT and value >= 100:
                raise ValueError(f"{name} {value:g} percent leaves nothing: it must be below 100")

    def limits(self) -> Limits:
        """The limits to enforce: the preset's, or the knobs' for ``custom``."""
        if self.preset is not Preset.CUSTOM:
            return PRESETS[self.preset]
        return Limits(self.daily_loss, self.daily_loss_unit, self.overall_loss,
                      self.overall_loss_unit, self.percent_of, self.day_start, self.overall_mode)

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        limits = self.limits()
        return limits.daily_loss > 0 or limits.overall_loss > 0


def preset_table() -> list[tuple[str, ...]]:
    """The presets as text rows (name and every limit), for docs and tests."""
    names = [f.name for f in fields(Limits)]
    rows = []
    for preset, limits in PRESETS.items():
        values = [getattr(limits, n) for n in names]
        rows.append((preset.value, *(v.value if isinstance(v, enum.Enum) else f"{v:g}"
                                     for v in values)))
    return rows


__all__ = ["PRESETS", "DayStart", "FlattenScope", "GuardSettings", "Limits", "LossUnit",
           "OverallMode", "PercentOf", "Preset", "preset_table"]
