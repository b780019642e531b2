"""The product's main scenarios, played through the :class:`~tests.support.pipeline.Pipeline`, and the state
each must end in whatever failed on the way (DESIGN.md §6): every run in its final state, no lock left, each
email sent by SES exactly once, the counters equal to what the tables and SES say.

The checks read the tables directly (not through the product's stores), so they judge the product and never
share its mistakes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from automations.adapters.dynamodb import stats
from automations.adapters.dynamodb.tables import PackedJSONAttribute
from automations.ids import derived_id
from automations.ports import ContactPatch
from automations.services import deps as deps_module
from automations.services import lifecycle
from automations.services.deps import Deps
from aws_lambda_powertools.utilities import parameters
from boto3.dynamodb.types import TypeDeserializer

from tests.integration.conftest import START
from tests.support.aws import FixedClock, Stack, aws_stack
from tests.support.email import verify_sender
from tests.support.flows import activate, sample
from tests.support.pipeline import Pipeline
from tests.support.recorder import AwsTap

WORKSPACE = "default"
TABLES = (
    "automations_table",
    "events_table",
    "runs_table",
    "state_table",
    "messages_table",
    "stats_table",
    "contacts_table",
    "actions_table",
    "keys_table",
    "workspaces_table",
)
#: The counters whose value the final state fixes: runs by status, and emails by what became of them.
CHECKED_COUNTERS = (
    "runs_started",
    "runs_completed",
    "runs_cancelled",
    "runs_failed",
    "sent",
    "delivered",
    "bounced_hard",
    "suppressed",
    "send_failed",
    "send_unknown",
)

_DESERIALIZE = TypeDeserializer()


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run_id(event_id: str, automation_id: str) -> str:
    return derived_id("run", WORKSPACE, event_id, automation_id)


# --- the world: one moto account, cleaned between plays ----------------------------------------------------


@dataclass
class World:
    """A stack and its pipeline; :meth:`fresh` empties it for the next play (much cheaper than a new account)."""

    stack: Stack
    pipeline: Pipeline
    base: Deps

    @property
    def tap(self) -> AwsTap:
        return self.pipeline.tap

    def fresh(self) -> None:
        """Empty tables, schedules and queue; a new clock at the start; the process's caches forgotten."""
        client = self.stack.dynamodb
        for setting in TABLES:
            table = getattr(self.stack.settings, setting)
            keys = [
                {"pk": item["pk"], "sk": item["sk"]}
                for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk")
                for item in page["Items"]
            ]
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
                client.batch_write_item(RequestItems={table: requests})
        for schedule in self.stack.schedules():
            self.stack.scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
        self.stack.queued_emails(delete=True)
        clock = FixedClock(START)
        # A cold process: the stores' caches (versions, routes, parsed definitions, workspaces) and the secrets
        # cache start empty, so that every play makes the same requests in the same order.
        deps = replace(
            self.base,
            automations=replace(self.base.automations, _versions={}, _routes={}),
            clock=clock,
            _parsed={},
            _workspaces={},
        )
        parameters.clear_caches()
        deps_module._current = deps
        self.stack = replace(self.stack, deps=deps, clock=clock)
        self.pipeline.stack = self.stack
        self.pipeline.forget()


@contextmanager
def world(monkeypatch: pytest.MonkeyPatch, tap: AwsTap, bounces: frozenset[str]) -> Iterator[World]:
    """A moto account for the scenarios: one hard bounce is enough for the reputation guard to act."""
    with aws_stack(monkeypatch, START, min_sends_for_reputation=1) as stack:
        verify_sender()
        yield World(stack, Pipeline(stack, tap, bounces=bounces), stack.deps)


# --- what a scenario must end with -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The final state of a scenario, whatever failed on the way."""

    automation: str
    automation_status: str
    runs: Mapping[str, str]  # run id: final status
    reasons: Mapping[str, str] = field(default_factory=dict)  # run id: words its end reason has
    emails: Mapping[tuple[str, str, str], str] = field(default_factory=dict)  # (run, step, to): SES's last word
    suppressed: frozenset[str] = frozenset()  # addresses suppressed after a hard bounce
    state_kinds: frozenset[str] = frozenset()  # lock and counter items that stay: "freq" (a frequency window)
    events: tuple[str, ...] = ()  # stored, and processed
    points: Mapping[str, int] = field(default_factory=dict)  # person: their profile's points
    badges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # person: their profile's badges
    tasks: int = 0  # tasks made (one per run and step)
    claimed: Mapping[str, int] = field(default_factory=dict)  # coupon pool: codes claimed


def _items(stack: Stack, setting: str) -> list[dict[str, Any]]:
    client = stack.dynamodb
    table = getattr(stack.settings, setting)
    return [
        {k: _DESERIALIZE.deserialize(v) for k, v in item.items()}
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        for item in page["Items"]
    ]


def check(world: World, expected: Outcome) -> list[str]:
    """Every way the final state differs from the expected one (empty when consistent)."""
    stack, pipeline = world.stack, world.pipeline
    problems: list[str] = []

    # No lost run: each run exists and ended as expected, with its reason.
    runs = {}
    for item in _items(stack, "runs_table"):
        if "packed" in item:  # a run's state as the run store packs it
            state = PackedJSONAttribute().deserialize(bytes(item["packed"]))
        else:
            state = json.loads(item["state"]) if isinstance(item["state"], str) else item["state"]
        runs[state["id"]] = state
    for rid, status in expected.runs.items():
        found = runs.get(rid)
        if found is None:
            problems.append(f"lost run: {rid} does not exist")
        elif found["status"] != status:
            problems.append(f"run {rid} is {found['status']} ({found.get('end_reason')}), expected {status}")
        elif expected.reasons.get(rid, "") not in str(found.get("end_reason")):
            problems.append(f"run {rid} ended with {found.get('end_reason')!r}, expected {expected.reasons[rid]!r}")
    problems += [f"unexpected run {rid} ({state['status']})" for rid, state in runs.items() if rid not in expected.runs]

    # No lock left behind: no run key held for an ended run, nothing without an expiry.
    ended = {rid for rid, state in runs.items() if state["status"] not in ("waiting", "running")}
    kinds: Counter[str] = Counter()
    for item in _items(stack, "state_table"):
        kind = item["sk"]
        kinds[kind] += 1
        if kind == "runkey" and (item.get("run_id") in ended or item.get("run_id") not in runs):
            problems.append(f"run-key lock left behind by ended run {item.get('run_id')}: {item['pk']}")
        elif kind not in expected.state_kinds and kind != "runkey":
            problems.append(f"{kind} item left behind: {item['pk']}")
        if item.get("expires_at") is None:
            problems.append(f"{kind} item without an expiry: {item['pk']}")
    problems += [f"no {kind} item" for kind in expected.state_kinds if not kinds[kind]]

    # Each email reached SES exactly once: never twice, never lost.
    sent = Counter(s.key for s in pipeline.ses_sends)
    for key in expected.emails:
        if sent[key] == 0:
            problems.append(f"lost email: SES never got {key}")
        elif sent[key] > 1:
            problems.append(f"duplicate email: SES got {key} {sent[key]} times")
    problems += [f"unexpected email {key}" for key in sent if key not in expected.emails]

    # Each message record holds its final state, and SES's last word on it.
    records = {}
    for item in _items(stack, "messages_table"):
        records[(item["run_id"], item["step"], str(item["address"]).lower())] = item
    for key, status in expected.emails.items():
        record = records.get(key)
        if record is None:
            problems.append(f"no message record for {key}")
        elif (record.get("state"), record.get("status")) != ("sent", status):
            state = f"state={record.get('state')} status={record.get('status')} reason={record.get('reason')!r}"
            problems.append(f"message {key}: {state}, expected state=sent status={status}")

    # The counters equal the final state: runs by status, emails by what became of them.
    states = Counter(str(r.get("state")) for r in records.values() if not r.get("test"))
    statuses = Counter(str(r.get("status")) for r in records.values() if not r.get("test"))
    final = {
        "runs_started": len(runs),
        "runs_completed": sum(s["status"] in ("completed", "skipped") for s in runs.values()),
        "runs_cancelled": sum(s["status"] == "cancelled" for s in runs.values()),
        "runs_failed": sum(s["status"] == "failed" for s in runs.values()),
        "sent": len(pipeline.ses_sends),
        "delivered": statuses["delivered"],
        "bounced_hard": statuses["bounced"],
        "suppressed": states["skipped"],
        "send_failed": states["failed"],
        "send_unknown": states["unknown"],
    }
    counters = stats.read(WORKSPACE, expected.automation)[stats.WHOLE]
    got = {name: counters.get(name, 0) for name in CHECKED_COUNTERS}
    wrong = {name: (got[name], final[name]) for name in CHECKED_COUNTERS if got[name] != final[name]}
    if wrong:
        shown = ", ".join(f"{name}={value} (final state: {want})" for name, (value, want) in wrong.items())
        problems.append(f"counters differ from the final state: {shown}")

    # Nothing left to do: no schedule waiting, no email queued.
    problems += [f"schedule left: {s['Name']}" for s in stack.schedules()]

    # The events are stored, and processed; the automation and the suppressions are as expected.
    events = {item["pk"].split("#event#", 1)[1]: item for item in _items(stack, "events_table")}
    for event_id in expected.events:
        if event_id not in events:
            problems.append(f"event {event_id} not stored")
        elif events[event_id].get("status") != "processed":
            problems.append(f"event {event_id} is {events[event_id].get('status')}, not processed")
    heads = {item["sk"]: item for item in _items(stack, "automations_table") if item["pk"].endswith("#automations")}
    head = heads.get(expected.automation)
    if head is None or head["status"] != expected.automation_status:
        shown = None if head is None else f"{head['status']} ({head.get('status_reason')})"
        problems.append(f"automation {expected.automation} is {shown}, expected {expected.automation_status}")
    contacts = _items(stack, "contacts_table")
    profiles = {str(i["pk"]).split("#person#", 1)[1]: i for i in contacts if i["sk"] == "profile"}
    for person, points in expected.points.items():
        profile = profiles.get(person)
        got = None if profile is None else int(profile.get("points") or 0)
        if got != points:
            problems.append(f"{person} has {got} points, expected {points} (never awarded twice, never lost)")
    for person, badges in expected.badges.items():
        profile = profiles.get(person)
        got_badges = () if profile is None else tuple(sorted(profile.get("badges") or ()))
        if got_badges != badges:
            problems.append(f"{person} has the badges {got_badges}, expected {badges}")
    made = len(stack.deps.tasks.list(limit=100)[0])
    if made != expected.tasks:
        problems.append(f"{made} tasks made, expected {expected.tasks} (one per run and step)")
    for pool, claimed in expected.claimed.items():
        got_claimed = stack.deps.coupons.counts(pool).claimed
        if got_claimed != claimed:
            problems.append(f"{got_claimed} codes of {pool} claimed, expected {claimed} (one per run and step)")
    suppressed = {str(i["address"]) for i in contacts if i["sk"] == "suppressed#bounce"}
    if suppressed != set(expected.suppressed):
        problems.append(f"suppressed after a bounce: {sorted(suppressed)}, expected {sorted(expected.suppressed)}")
    return problems


# --- the scenarios -----------------------------------------------------------------------------------------


class Scenario:
    """A scenario: what is set up (outside the handlers), what happens, and what it must end with."""

    name = ""
    bounces: frozenset[str] = frozenset()

    def setup(self, stack: Stack) -> None:
        raise NotImplementedError

    def play(self, pipeline: Pipeline) -> None:
        raise NotImplementedError

    def expected(self) -> Outcome:
        raise NotImplementedError


class DelayEmailFeedback(Scenario):
    """An overdue invoice: the run waits three days, emails the client and the owner; SES delivers the first
    and the second hard-bounces, which suppresses the owner and (one bounce in two emails) makes the reputation
    guard deactivate the automation."""

    name = "delay-email-feedback"
    automation = "overdue-invoice-reminder"
    bounces = frozenset({"owner@acme.example"})

    def setup(self, stack: Stack) -> None:
        activate(stack, self.automation)

    def play(self, pipeline: Pipeline) -> None:
        now = pipeline.stack.clock.now()
        pipeline.post(sample(self.automation, "evt_overdue", occurred_at=at(now)))
        pipeline.settle()

    def expected(self) -> Outcome:
        run = run_id("evt_overdue", self.automation)
        return Outcome(
            automation=self.automation,
            automation_status="inactive",
            runs={run: "completed"},
            emails={
                (run, "reminder-with-owner", "ana@example.com"): "delivered",
                (run, "reminder-with-owner", "owner@acme.example"): "bounced",
            },
            suppressed=frozenset({"owner@acme.example"}),
            events=("evt_overdue",),
        )


class CancelOn(Scenario):
    """An overdue invoice paid a day later: ``cancel_on`` ends the waiting run, and its schedule goes."""

    name = "cancel-on"
    automation = "overdue-invoice-reminder"

    def setup(self, stack: Stack) -> None:
        activate(stack, self.automation)

    def play(self, pipeline: Pipeline) -> None:
        clock = pipeline.stack.clock
        pipeline.post(sample(self.automation, "evt_overdue", occurred_at=at(clock.now())))
        pipeline.settle(schedules=False)
        clock.offset += timedelta(days=1)
        paid = sample(self.automation, "evt_paid", type="invoice.paid", occurred_at=at(clock.now()))
        pipeline.post(paid)
        pipeline.settle()

    def expected(self) -> Outcome:
        run = run_id("evt_overdue", self.automation)
        return Outcome(
            automation=self.automation,
            automation_status="active",
            runs={run: "cancelled"},
            reasons={run: "invoice.paid (evt_paid)"},
            events=("evt_overdue", "evt_paid"),
        )


class AfterSilence(Scenario):
    """Two check-ins two days apart: the second restarts the 30-day countdown (the schedule moves), and when
    it is over the run starts from the second event and sends the "we miss you" email, delivered."""

    name = "after-silence"
    automation = "we-miss-you"

    def setup(self, stack: Stack) -> None:
        activate(stack, self.automation)

    def play(self, pipeline: Pipeline) -> None:
        clock = pipeline.stack.clock
        pipeline.post(sample(self.automation, "evt_checkin_1", occurred_at=at(clock.now())))
        pipeline.settle(schedules=False)
        clock.offset += timedelta(days=2)
        pipeline.post(sample(self.automation, "evt_checkin_2", occurred_at=at(clock.now())))
        pipeline.settle()

    def expected(self) -> Outcome:
        run = run_id("evt_checkin_2", self.automation)
        return Outcome(
            automation=self.automation,
            automation_status="active",
            runs={run: "completed"},
            emails={(run, "miss-you", "ana@example.com"): "delivered"},
            state_kinds=frozenset({"freq"}),
            events=("evt_checkin_1", "evt_checkin_2"),
        )


class Reward(Scenario):
    """A check-in rewarded a day later: a badge and 100 points (the profile changed once however often the step
    is retried), then an email that shows the new balance, delivered."""

    name = "reward"
    automation = "checkin-reward"

    def setup(self, stack: Stack) -> None:
        email = {
            "id": "congrats",
            "send_email": {
                "to": {"trigger_contact": True},
                "subject": "You have {{ contact.points }} points",
                "html": "<p>Thank you, {{ contact.first_name }}! Your code: {{ steps.coupon.code }}</p>",
            },
        }
        coupon = {"id": "coupon", "issue_coupon": {"pool": "thanks"}}
        task = {"id": "call", "create_task": {"title": "Call {{ contact.first_name }}", "due": "1d"}}
        award = {
            "id": "award",
            "update_contact": {"add_points": 100, "add_badges": ["regular"], "remove_labels": ["new"]},
        }
        definition = {
            "id": self.automation,
            "name": "Reward a check-in",
            "status": "active",
            "trigger": {"event": "checkin.created"},
            "steps": [{"delay": "1d"}, award, coupon, task, email],
        }
        stack.deps.coupons.load("thanks", ["T-1", "T-2", "T-3"], stack.clock.now())
        lifecycle.create(stack.deps, definition, stack.clock.now())
        stack.deps.contacts.apply("c_42", ContactPatch(labels_add=["new"]), stack.clock.now())

    def play(self, pipeline: Pipeline) -> None:
        now = pipeline.stack.clock.now()
        contact = {"id": "c_42", "email": "ana@example.com", "first_name": "Ana"}
        pipeline.post({"id": "evt_checkin", "type": "checkin.created", "occurred_at": at(now), "contact": contact})
        pipeline.settle()

    def expected(self) -> Outcome:
        run = run_id("evt_checkin", self.automation)
        return Outcome(
            automation=self.automation,
            automation_status="active",
            runs={run: "completed"},
            emails={(run, "congrats", "ana@example.com"): "delivered"},
            events=("evt_checkin",),
            points={"c_42": 100},
            badges={"c_42": ("regular",)},
            tasks=1,
            claimed={"thanks": 1},
        )


class ThankKnownClient(Scenario):
    """A paid invoice of a client whose profile exists already, with the overdue reminder active (its cancel_on
    looks for the invoice's run and finds none): the event is stored with the thank-you run's creation, marked
    processed there, and the email is delivered once."""

    name = "thank-known-client"
    automation = "invoice-paid-thank-you"

    def setup(self, stack: Stack) -> None:
        activate(stack, self.automation)
        activate(stack, "overdue-invoice-reminder")
        contact = sample(self.automation, "evt_setup")["contact"]
        stack.deps.contacts.upsert_from_event(contact["id"], contact, stack.clock.now())

    def play(self, pipeline: Pipeline) -> None:
        now = pipeline.stack.clock.now()
        pipeline.post(sample(self.automation, "evt_paid", occurred_at=at(now)))
        pipeline.settle()

    def expected(self) -> Outcome:
        run = run_id("evt_paid", self.automation)
        return Outcome(
            automation=self.automation,
            automation_status="active",
            runs={run: "completed"},
            emails={(run, "thank-you", "ana@example.com"): "delivered"},
            events=("evt_paid",),
        )


SCENARIOS: tuple[Scenario, ...] = (DelayEmailFeedback(), CancelOn(), AfterSilence(), Reward(), ThankKnownClient())
