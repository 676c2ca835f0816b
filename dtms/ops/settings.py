"""Tunable numbers of the operating surface: HTTP API, alerts, dead-man heartbeat, watchdog.

Secrets (the HTTP token, the Telegram bot token) may also come from the environment
(``DTMS_HTTP_TOKEN``, ``DTMS_TELEGRAM_BOT_TOKEN``) so that a config file can be shared
without them; the environment wins when set.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field

from dtms.core.params import knob

HTTP_TOKEN_ENV = "DTMS_HTTP_TOKEN"
TELEGRAM_TOKEN_ENV = "DTMS_TELEGRAM_BOT_TOKEN"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Table ``[http]``: the read-only HTTP API, metrics and dashboard."""

    enabled: bool = knob(False, "serve the HTTP API, /metrics and the dashboard")
    host: str = knob("127.0.0.1", "address to listen on; any non-loopback address needs a token")
    port: int = knob(8765, "TCP port to listen on", ge=1, le=65535)
    token: str = knob("", "bearer token every request except /health must carry (or env "
                      "DTMS_HTTP_TOKEN)")
    max_cycle_age_seconds: float = knob(
        30.0, "/health fails when the last good cycle is older than this (real seconds)", gt=0
    )
    chart_bars: int = knob(160, "candles a trade's chart shows", ge=10, le=600)
    log_tail_lines: int = knob(200, "lines /api/logs returns by default", ge=1, le=10_000)
    max_streams: int = knob(32, "live streams (SSE) served at once", ge=1, le=1000)

    def resolved_token(self) -> str:
        """The token in force: the environment's, else the config's."""
        return os.environ.get(HTTP_TOKEN_ENV) or self.token


class AlertMode(enum.Enum):
    """What an event type does on the alert channels."""

    ON = "on"
    SILENT = "silent"
    """Sent without a notification sound (Telegram), marked silent (webhook)."""
    OFF = "off"


@dataclass(frozen=True, slots=True)
class AlertEvents:
    """Table ``[alerts.events]``: on, silent or off, per event type."""

    process_started: AlertMode = knob(AlertMode.SILENT, "dtms started")
    process_stopping: AlertMode = knob(AlertMode.ON, "dtms is stopping (positions stay open)")
    hedge_opened: AlertMode = knob(AlertMode.ON, "a hedge was opened")
    hedge_failed: AlertMode = knob(AlertMode.ON, "a hedge order failed")
    hedge_given_up: AlertMode = knob(AlertMode.ON, "dtms gave up hedging a trade")
    trade_closed: AlertMode = knob(AlertMode.ON, "a trade was closed by dtms or found closed")
    quarantined: AlertMode = knob(AlertMode.ON, "a trade actor was quarantined")
    broker_link_down: AlertMode = knob(
        AlertMode.ON, "broker link down longer than [alerts] link_down_seconds")
    broker_link_up: AlertMode = knob(AlertMode.ON, "broker link back (only after a down alert)")
    trading_disabled: AlertMode = knob(AlertMode.ON, "AutoTrading off / trading not allowed")
    trading_enabled: AlertMode = knob(AlertMode.SILENT, "trading allowed again")
    data_stale: AlertMode = knob(AlertMode.ON, "a symbol's market data went stale")
    data_fresh: AlertMode = knob(AlertMode.SILENT, "a symbol's market data is fresh again")
    another_manager: AlertMode = knob(AlertMode.ON, "another manager acts on dtms's positions")
    guard_warning: AlertMode = knob(AlertMode.ON, "an account guard is close to its limit")
    guard_triggered: AlertMode = knob(AlertMode.ON, "an account guard triggered")
    guard_released: AlertMode = knob(
        AlertMode.ON, "the account guard's lock was released (daily reset or dtms guard unlock)")


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Table ``[alerts.telegram]``: the Telegram Bot API channel."""

    bot_token: str = knob("", "bot token from @BotFather (or env DTMS_TELEGRAM_BOT_TOKEN); "
                          "empty: channel off")
    chat_id: str = knob("", "chat (user, group or channel id) the bot writes to")
    api_url: str = knob("https://api.telegram.org", "Bot API base URL")

    def resolved_token(self) -> str:
        """The bot token in force: the environment's, else the config's."""
        return os.environ.get(TELEGRAM_TOKEN_ENV) or self.bot_token

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return bool(self.resolved_token() and self.chat_id)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Table ``[alerts.webhook]``: a generic JSON webhook."""

    url: str = knob("", "URL receiving a JSON POST per alert; empty: channel off")

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return bool(self.url)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Table ``[alerts]``: delivery of operator events; never in trading's way."""

    queue_size: int = knob(200, "alerts waiting per channel; beyond, the oldest are dropped",
                           ge=1, le=100_000)
    attempts: int = knob(5, "tries per alert before it is given up", ge=1, le=100)
    backoff_seconds: float = knob(2.0, "wait after the first failed try (doubles each time)",
                                  gt=0)
    backoff_max_seconds: float = knob(60.0, "longest wait between two tries", gt=0)
    timeout_seconds: float = knob(10.0, "one HTTP request's time limit", gt=0, le=300)
    batch_max: int = knob(20, "waiting alerts sent as one Telegram message", ge=1, le=100)
    link_down_seconds: float = knob(
        60.0, "alert when the broker link stays down this long (real seconds)", ge=0)
    flush_seconds: float = knob(5.0, "on stop, time left to deliver what waits", ge=0, le=60)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    events: AlertEvents = field(default_factory=AlertEvents)

    def mode(self, kind: str) -> AlertMode:
        """The mode of an event kind (by its value, e.g. ``"hedge_opened"``)."""
        mode = getattr(self.events, kind, AlertMode.ON)
        return mode if isinstance(mode, AlertMode) else AlertMode.ON


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Table ``[service]``: dead-man heartbeat and the systemd watchdog."""

    deadman_url: str = knob("", "URL pinged (GET) while dtms is healthy; empty: off")
    deadman_seconds: float = knob(60.0, "seconds between two dead-man pings", ge=5, le=86_400)
    watchdog_cycle_age_seconds: float = knob(
        60.0, "the systemd watchdog is fed only while a cycle completed this recently", gt=0)
