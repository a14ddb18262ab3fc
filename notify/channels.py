"""Alert channels: one Apprise URL each, plus a Prefect event inside a Prefect run.

A channel either delivers or raises `DeliveryError` (one line, secrets redacted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from capcover.errors import one_line
from capcover.notify.redact import REDACTOR, _apprise_logger, _Capture, channel_id

if TYPE_CHECKING:
    from capcover.config.settings import Settings

PREFECT_CHANNEL = "prefect-event"


class DeliveryError(Exception):
    """A channel did not accept an alert; the message is one line with secrets redacted."""


class Channel(Protocol):
    id: str

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        """Deliver or raise DeliveryError."""


class AppriseChannel:
    """One Apprise URL (json://, slack://, mailto://, ...)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.id = channel_id(url)
        REDACTOR.add(url)
        _apprise_logger()

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        import apprise

        logger = _apprise_logger()
        capture = _Capture()
        logger.addHandler(capture)
        try:
            ap = apprise.Apprise()
            if not ap.add(self.url):
                raise DeliveryError(
                    f"channel {self.id}: not a valid Apprise URL — check CAPCOVER_ALERT_URLS"
                )
            ok = ap.notify(body=body, title=title)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; we report it
            raise DeliveryError(f"channel {self.id}: {REDACTOR.redact(one_line(exc))}") from None
        finally:
            logger.removeHandler(capture)
        if not ok:
            reason = "; ".join(REDACTOR.redact(m) for m in capture.messages) or "not accepted"
            raise DeliveryError(f"channel {self.id}: {reason}"[:500])


class PrefectEventChannel:
    """A Prefect event `capcover.coverage.<rule>` for Prefect automations to react to."""

    id = PREFECT_CHANNEL

    def __init__(self, emit: Callable[..., object]) -> None:
        self.emit = emit

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        event = self.emit(
            event=f"capcover.coverage.{rule}",
            resource={
                "prefect.resource.id": f"capcover.scenario.{scenario}",
                "prefect.resource.name": scenario,
            },
            payload={
                "alert_id": alert_id,
                "title": title,
                "message": body.split("\n", 1)[0],
                "body": body,
            },
        )
        if event is None:
            raise DeliveryError(
                f"channel {self.id}: Prefect did not accept the event (events disabled or no API)"
            )


def apprise_channels(urls: list) -> list[AppriseChannel]:
    return [
        AppriseChannel(u.get_secret_value() if hasattr(u, "get_secret_value") else u) for u in urls
    ]


def channels_for(settings: Settings, emit: Callable[..., object] | None = None) -> list[Channel]:
    """Apprise URLs from CAPCOVER_ALERT_URLS, plus the Prefect event when the run has an event
    emitter (the Prefect flow passes `prefect.events.emit_event`)."""
    channels: list[Channel] = list(apprise_channels(settings.alert_urls))
    if emit is not None:
        channels.append(PrefectEventChannel(emit))
    return channels
