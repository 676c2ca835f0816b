"""Alert channels: the Telegram Bot API and a generic JSON webhook, over HTTP (httpx on Trio).

A channel turns a batch of alerts into one or more requests and says how a failure should be
treated: :class:`DeliveryError` with ``retry`` False for an answer that will not change by
trying again (a wrong bot token, a chat that does not exist, a webhook that refuses the body),
True for the rest (the endpoint down, slow, 5xx, 429 with its ``retry_after``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from dtms.runtime.events import OperatorEvent, Severity

ICONS = {Severity.INFO: "ℹ️", Severity.WARNING: "⚠️", Severity.CRITICAL: "🚨"}
TELEGRAM_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Alert:
    """One event on its way to a channel."""

    event: OperatorEvent
    silent: bool
    text: str
    """The operator line as sent (the event's text, or the rule's, e.g. link down for N s)."""


class DeliveryError(Exception):
    """A batch was not delivered."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class Channel(Protocol):
    """Where alerts go."""

    name: str
    max_batch: int

    async def deliver(self, client: httpx.AsyncClient, batch: list[Alert]) -> None:
        """Send ``batch``; raise :class:`DeliveryError` when it did not arrive."""
        ...


def _check(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    code = response.status_code
    retry_after: float | None = None
    if code == 429:
        retry_after = _retry_after(response)
    retry = code == 429 or code >= 500 or code == 408
    raise DeliveryError(f"{what} answered {code}: {response.text[:200]}", retry=retry,
                        retry_after=retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        body: Any = response.json()
        value = body.get("parameters", {}).get("retry_after")
        if value is not None:
            return float(value)
    except (ValueError, AttributeError):
        pass
    header = response.headers.get("retry-after")
    try:
        return float(header) if header else None
    except ValueError:
        return None


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any], what: str) -> None:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:  # refused, timed out, DNS, TLS: the endpoint may come back
        raise DeliveryError(f"{what}: {type(exc).__name__}: {exc}", retry=True) from None
    _check(response, what)


class Telegram:
    """Telegram Bot API ``sendMessage``: several waiting alerts go out as one message."""

    def __init__(self, api_url: str, token: str, chat_id: str, max_batch: int) -> None:
        self.name = "telegram"
        self.max_batch = max_batch
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id

    async def deliver(self, client: httpx.AsyncClient, batch: list[Alert]) -> None:
        """One message for the whole batch, silent only when every alert in it is silent."""
        text = "\n".join(f"{ICONS[a.event.severity]} {a.text}" for a in batch)
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 1] + "…"
        body = {"chat_id": self.chat_id, "text": f"dtms\n{text}" if len(batch) > 1 else
                f"dtms: {text}", "disable_notification": all(a.silent for a in batch),
                "disable_web_page_preview": True}
        await _post(client, self.url, body, "telegram")


class Webhook:
    """A JSON POST per alert (``text`` is set, so Slack-style incoming webhooks show it)."""

    def __init__(self, url: str) -> None:
        self.name = "webhook"
        self.max_batch = 1
        self.url = url

    async def deliver(self, client: httpx.AsyncClient, batch: list[Alert]) -> None:
        """Post each alert of the batch."""
        for a in batch:
            await _post(client, self.url, payload(a), "webhook")


def payload(a: Alert) -> dict[str, Any]:
    """The webhook's JSON body for one alert."""
    e = a.event
    return {
        "source": "dtms",
        "kind": e.kind.value,
        "severity": e.severity.value,
        "silent": a.silent,
        "text": a.text,
        "at": e.at,
        "broker_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at)),
        "ticket": e.ticket,
        "symbol": e.symbol,
        "data": dict(e.data),
    }
