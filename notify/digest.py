"""One message per run per channel: a digest of the alerts the channel has not received yet.

Alerts are grouped by report date and scenario; each group names its alerts once each, then
says "why it moved" once (the paragraph the movement alerts share) and the numbers behind it
once. The text body keeps its line breaks; the Markdown body says the same with every text
from outside escaped (model/text.py), so a coin symbol never becomes a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from capcover.model.text import escape_controls, md_text
from capcover.notify.channels import EventAlert, Message

WHY = ". Why: "
# Inputs repeated by the alert lines themselves, or not for a person (model/alerts.py `_inputs`).
SKIPPED_INPUTS = ("report date", "scenario", "coverage ratio", "run", "why it moved")


@dataclass(frozen=True)
class DigestAlert:
    """One alert as a digest shows it."""

    alert_id: str
    report_date: date
    scenario: str
    rule: str
    level: str
    message: str  # as stored: may end with ". Why: <paragraph>"
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def what(self) -> str:
        return self.message.split(WHY, 1)[0]

    @property
    def why(self) -> str | None:
        parts = self.message.split(WHY, 1)
        return parts[1] if len(parts) == 2 else None

    @property
    def title(self) -> str:
        return f"capcover {self.rule.replace('_', ' ')}: {self.scenario}"

    def text(self) -> str:
        lines = [self.message, ""] + [f"{k}: {v}" for k, v in self.inputs.items()]
        return escape_controls("\n".join(lines).rstrip(), keep_newlines=True)


# The order a person reads a scenario's alerts in: did it cross, how far it moved, how stale.
RULE_ORDER = {"threshold_crossed": 0, "relative_change": 1, "stale_data": 2}


def _groups(alerts: Sequence[DigestAlert]) -> list[tuple[tuple[date, str], list[DigestAlert]]]:
    out: dict[tuple[date, str], list[DigestAlert]] = {}
    order = sorted(
        alerts, key=lambda a: (a.report_date, a.scenario, RULE_ORDER.get(a.rule, 9), a.level)
    )
    for a in order:
        out.setdefault((a.report_date, a.scenario), []).append(a)
    return list(out.items())


def digest_title(alerts: Sequence[DigestAlert]) -> str:
    days = sorted({a.report_date for a in alerts})
    when = str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]}"
    n = len(alerts)
    return escape_controls(
        f"capcover: {n} alert{'s' if n != 1 else ''} for {when}"
        if n != 1
        else f"capcover: {alerts[0].rule.replace('_', ' ')} of {alerts[0].scenario}, {when}"
    )


def digest(alerts: Sequence[DigestAlert], *, run_id: str, undelivered_hint: str) -> Message:
    """The message carrying `alerts` to one channel."""
    text: list[str] = []
    md: list[str] = []
    for (day, scenario), group in _groups(alerts):
        head = f"{scenario} (report {day})"
        text += [escape_controls(head)]
        md += [f"**{md_text(scenario)}** (report {day})", ""]
        for a in group:
            text.append(f"- {escape_controls(a.what)}")
            md.append(f"- {md_text(a.what)}")
        why = next((a.why for a in group if a.why), None)
        if why:
            text.append(f"Why it moved: {escape_controls(why)}")
            md += ["", f"_Why it moved:_ {md_text(why)}"]
        inputs: dict[str, str] = {}
        for a in group:
            for k, v in a.inputs.items():
                if k not in SKIPPED_INPUTS:
                    inputs.setdefault(k, v)
        if inputs:
            text += [f"  {escape_controls(k)}: {escape_controls(v)}" for k, v in inputs.items()]
            md += [""] + [f"- {md_text(k)}: {md_text(v)}" for k, v in inputs.items()]
        text.append("")
        md.append("")
    footer = f"run {run_id}; {undelivered_hint}"
    text.append(escape_controls(footer))
    md.append(f"_{md_text(footer)}_")
    events = tuple(EventAlert(a.alert_id, a.rule, a.scenario, a.title, a.text()) for a in alerts)
    return Message(digest_title(alerts), "\n".join(text), "\n".join(md), events)


def channel_test_message(channel: str, at: str) -> Message:
    """What `capcover alerts test` sends: clearly a test, saying nothing about the market."""
    lines = [
        "This is a test message from `capcover alerts test`: it says nothing about the market",
        "and no alert fired. If you can read this, the channel works.",
        "",
        f"channel: {channel}",
        f"sent: {at}",
    ]
    text = "\n".join(line.replace("`", "") for line in lines)
    markdown = "\n".join(
        [f"**{md_text(lines[0].replace('`', ''))}**", md_text(lines[1]), ""]
        + [f"- {md_text(line)}" for line in lines[3:]]
    )
    return Message("capcover TEST alert (not a market signal)", text, markdown)
