"""Alert channels: one per configured URL, plus a Prefect event inside a Prefect run.

A channel sends one `Message` and says what happened as an `Outcome`, never raising:

    delivered  the receiver answered 2xx
    failed     the receiver never got it or refused it: no connection, a redirect (3xx, not
               followed: where it pointed is named), an error answer (4xx/5xx), a URL Apprise
               cannot use. Safe to send again.
    unknown    the message went out and no valid answer came back within the channel's
               timeout (CAPCOVER_ALERT_TIMEOUT_S): the receiver may have it.

json:// and jsons:// webhooks are sent by capcover itself (`WebhookChannel`: Apprise's JSON
payload, no redirects, a wall-clock deadline over the whole exchange, the outcome told from the
exchange itself). Every other Apprise URL goes through Apprise (`AppriseChannel`) with
redirects off and a call deadline: Apprise's failure is `failed`, its timeout `unknown`.
Errors are one line with secrets redacted (notify/redact.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from capcover.errors import one_line
from capcover.model.text import escape_controls
from capcover.notify.redact import REDACTOR, _apprise_logger, _Capture, channel_id

if TYPE_CHECKING:
    from capcover.config.settings import Settings

PREFECT_CHANNEL = "prefect-event"
DELIVERED, FAILED, UNKNOWN = "delivered", "failed", "unknown"
WEBHOOK_SCHEMES = ("json", "jsons")
DEFAULT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0  # at most; never more than half the channel's timeout


class DeliveryError(Exception):
    """A channel that cannot be built (not a valid Apprise URL); one line, secrets redacted."""


@dataclass(frozen=True)
class EventAlert:
    """One alert as the Prefect event channel emits it (one event per alert: automations
    match on the rule in the event's name)."""

    alert_id: str
    rule: str
    scenario: str
    title: str
    text: str


@dataclass(frozen=True)
class Message:
    """One message to a channel: its title, a plain-text body (line breaks kept) and a
    Markdown body (text from outside escaped), and for the event channel the alerts in it."""

    title: str
    text: str
    markdown: str
    alerts: tuple[EventAlert, ...] = field(default=())


@dataclass(frozen=True)
class Outcome:
    """What one send did: `state` (delivered | failed | unknown) and one line of detail."""

    state: str
    detail: str
    seconds: float = 0.0


class Channel(Protocol):
    id: str

    def send(self, message: Message) -> Outcome:
        """Deliver `message`; never raises."""


def _one_line(text: str, limit: int = 300) -> str:
    return escape_controls(REDACTOR.redact(" ".join(text.split())))[:limit]


def _connect_timeout(timeout_s: float) -> float:
    return min(CONNECT_TIMEOUT_S, timeout_s / 2)


# -- json:// and jsons://, sent by capcover --------------------------------------------------


class WebhookChannel:
    """A json:// or jsons:// URL (Apprise's syntax and JSON payload), sent once per message
    with no redirect followed, within `timeout_s` of wall-clock time in all."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import apprise

        self.id = channel_id(url)
        self.timeout_s = timeout_s
        REDACTOR.add(url)
        _apprise_logger()
        # Any: apprise types `protocol` as its base class's None, not the plugin's scheme(s)
        plugin: Any = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None or plugin.protocol not in WEBHOOK_SCHEMES:
            raise DeliveryError(
                f"channel {self.id}: not a valid json:// URL — check CAPCOVER_ALERT_URLS"
            )
        self.plugin = plugin
        REDACTOR.add(self.target())

    def target(self) -> str:
        p = self.plugin
        port = f":{p.port}" if isinstance(p.port, int) else ""
        return f"{'https' if p.secure else 'http'}://{p.host}{port}{p.fullpath or '/'}"

    def payload(self, message: Message) -> dict[str, Any]:
        """Apprise's JSON payload (apprise/plugins/custom_json.py), with the URL's `:key=value`
        extras applied as Apprise applies them (rename, drop, add)."""
        body: dict[str, Any] = {
            "version": "1.0",
            "title": message.title,
            "message": message.text,
            "attachments": [],
            "type": "info",
        }
        for key, value in self.plugin.payload_extras.items():
            if key in body:
                if value:
                    body[value] = body.pop(key)
                else:
                    del body[key]
            else:
                body[key] = value
        return body

    def send(self, message: Message) -> Outcome:
        import requests

        from capcover.ingest.transport import Deadline, TrackedAdapter

        p = self.plugin
        headers = {"User-Agent": p.app_id, "Content-Type": "application/json", **p.headers}
        session = requests.Session()
        session.mount("http://", TrackedAdapter())
        session.mount("https://", TrackedAdapter())
        t0 = time.monotonic()
        deadline = Deadline(self.timeout_s)
        try:
            with deadline:
                resp = session.request(
                    p.method,
                    self.target(),
                    data=json.dumps(self.payload(message)),
                    params=p.params,
                    headers=headers,
                    auth=(p.user, p.password) if p.user else None,
                    verify=p.verify_certificate,
                    timeout=(_connect_timeout(self.timeout_s), self.timeout_s),
                    allow_redirects=False,
                    stream=True,  # the status line is the answer; the body is not read
                )
                status, location = resp.status_code, resp.headers.get("Location")
                resp.close()
        except requests.RequestException as exc:
            return self._error(exc, deadline.expired, time.monotonic() - t0)
        finally:
            session.close()
        took = time.monotonic() - t0
        if 200 <= status < 300:
            return Outcome(DELIVERED, f"HTTP {status}", took)
        if 300 <= status < 400:
            where = _one_line(location or "nowhere (no Location header)", 200)
            return Outcome(
                FAILED,
                f"HTTP {status} redirect to {where} — not followed: point "
                f"CAPCOVER_ALERT_URLS at the final address",
                took,
            )
        return Outcome(FAILED, f"HTTP {status} from the receiver", took)

    def _error(self, exc: Exception, expired: bool, took: float) -> Outcome:
        import requests

        if expired:
            return Outcome(
                UNKNOWN,
                f"no complete answer within {self.timeout_s:g} s after the message was sent "
                f"(CAPCOVER_ALERT_TIMEOUT_S); the receiver may have it",
                took,
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout) or _before_sending(exc):
            why = "no connection" if not isinstance(exc, requests.exceptions.SSLError) else "TLS"
            return Outcome(FAILED, f"{why}: {_reason(exc)} — not sent", took)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return Outcome(
                UNKNOWN,
                f"no answer within {self.timeout_s:g} s after the message was sent "
                f"(CAPCOVER_ALERT_TIMEOUT_S); the receiver may have it",
                took,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return Outcome(
                UNKNOWN,
                f"the connection ended without a valid answer after the message was sent "
                f"({_reason(exc)}); the receiver may have it",
                took,
            )
        return Outcome(FAILED, f"not sent: {_reason(exc)}", took)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, what it wraps (urllib3's MaxRetryError.reason, causes, contexts), in order."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [getattr(e, "reason", None), e.__cause__, e.__context__]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return seen


def _before_sending(exc: BaseException) -> bool:
    """Whether `exc` happened before the request could leave: no connection (refused, name
    not resolved, connect timeout) or no TLS session."""
    import ssl

    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    return any(
        isinstance(
            e, NewConnectionError | ConnectTimeoutError | ssl.SSLError | ConnectionRefusedError
        )
        for e in _chain(exc)
    )


def _reason(exc: BaseException) -> str:
    """The innermost readable reason of a requests error, without the pool's repr noise."""
    for e in reversed(_chain(exc)):
        text = str(e)
        if text and "HTTPConnectionPool" not in text and "HTTPSConnectionPool" not in text:
            return _one_line(f"{type(e).__name__}: {text}", 160)
    return type(exc).__name__


# -- every other Apprise URL -----------------------------------------------------------------


class AppriseChannel:
    """One Apprise URL (slack://, mailto://, discord://, ...): redirects off, the whole call
    within `timeout_s` (Apprise's own deadline), the body in the format the service renders."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import apprise

        self.url = url
        self.id = channel_id(url)
        self.timeout_s = timeout_s
        REDACTOR.add(url)
        _apprise_logger()
        self.asset = apprise.AppriseAsset(http_redirects=False)
        self.plugin: Any = apprise.Apprise.instantiate(
            url, asset=self.asset, suppress_exceptions=True
        )

    def markdown(self) -> bool:
        """Whether the service renders Markdown (or HTML, which Apprise makes from it)."""
        from apprise import NotifyFormat

        fmt = getattr(self.plugin, "notify_format", NotifyFormat.TEXT)
        return fmt in (NotifyFormat.MARKDOWN, NotifyFormat.HTML)

    def send(self, message: Message) -> Outcome:
        import apprise
        from apprise import NotifyFormat

        t0 = time.monotonic()
        if self.plugin is None:
            return Outcome(
                FAILED, f"not a valid Apprise URL ({self.id}) — check CAPCOVER_ALERT_URLS", 0.0
            )
        # A read may take as long as the call: Apprise's call deadline, not a socket timeout,
        # decides that no answer came (unknown); connecting has a shorter bound (failed).
        self.plugin.socket_connect_timeout = _connect_timeout(self.timeout_s)
        self.plugin.socket_read_timeout = self.timeout_s + 5
        logger = _apprise_logger()
        capture = _Capture()
        logger.addHandler(capture)
        try:
            ap = apprise.Apprise(asset=self.asset)
            ap.add(self.plugin)
            md = self.markdown()
            result = ap.notify(
                body=message.markdown if md else message.text,
                title=message.title,
                body_format=NotifyFormat.MARKDOWN if md else NotifyFormat.TEXT,
                timeout=self.timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; we report it
            return Outcome(
                FAILED, _one_line(f"{type(exc).__name__}: {one_line(exc)}"), time.monotonic() - t0
            )
        finally:
            logger.removeHandler(capture)
        took = time.monotonic() - t0
        status = getattr(result, "status", None)
        if bool(result):
            return Outcome(DELIVERED, "accepted by the service", took)
        if status is not None and status.name == "TIMEOUT":
            return Outcome(
                UNKNOWN,
                f"no answer within {self.timeout_s:g} s (CAPCOVER_ALERT_TIMEOUT_S); the "
                f"service may have it",
                took,
            )
        lines = list(capture.messages)
        for service in result or ():
            lines += [entry.message for entry in service.logs() if entry.message not in lines]
        reason = "; ".join(_one_line(m, 200) for m in lines) or "not accepted"
        return Outcome(FAILED, reason[:500], took)


# -- the Prefect event -----------------------------------------------------------------------


class PrefectEventChannel:
    """A Prefect event `capcover.coverage.<rule>` per alert, for Prefect automations (an
    event, not a message to a person: one per alert, whatever the digest)."""

    id = PREFECT_CHANNEL

    def __init__(self, emit: Callable[..., object]) -> None:
        self.emit = emit

    def send(self, message: Message) -> Outcome:
        t0 = time.monotonic()
        refused = []
        for a in message.alerts:
            try:
                event = self.emit(
                    event=f"capcover.coverage.{a.rule}",
                    resource={
                        "prefect.resource.id": f"capcover.scenario.{a.scenario}",
                        "prefect.resource.name": a.scenario,
                    },
                    payload={
                        "alert_id": a.alert_id,
                        "title": a.title,
                        "message": a.text.split("\n", 1)[0],
                        "body": a.text,
                    },
                )
            except Exception as exc:  # noqa: BLE001 - reported as the outcome
                event = None
                refused.append(_one_line(str(exc), 120))
            if event is None and not refused:
                refused.append("Prefect did not accept the event (events disabled or no API)")
        if refused:
            return Outcome(FAILED, refused[0], time.monotonic() - t0)
        return Outcome(DELIVERED, f"{len(message.alerts)} event(s) emitted", time.monotonic() - t0)


def channel_for(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Channel:
    """The channel for one Apprise URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in WEBHOOK_SCHEMES:
        try:
            return WebhookChannel(url, timeout_s=timeout_s)
        except DeliveryError:
            return AppriseChannel(url, timeout_s=timeout_s)
    return AppriseChannel(url, timeout_s=timeout_s)


def apprise_channels(urls: list, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Channel]:
    return [
        channel_for(
            u.get_secret_value() if hasattr(u, "get_secret_value") else u, timeout_s=timeout_s
        )
        for u in urls
    ]


def channels_for(settings: Settings, emit: Callable[..., object] | None = None) -> list[Channel]:
    """A channel per CAPCOVER_ALERT_URLS entry, plus the Prefect event when the run has an
    event emitter (the Prefect flow passes `prefect.events.emit_event`)."""
    channels: list[Channel] = list(
        apprise_channels(settings.alert_urls, timeout_s=settings.alert_timeout_s)
    )
    if emit is not None:
        channels.append(PrefectEventChannel(emit))
    return channels
