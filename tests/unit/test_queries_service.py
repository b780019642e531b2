"""What operators read, on the in-memory ports: statistics with their rates (over a range of days), runs by
automation and by person, a contact's addresses and suppressions, and an automation's versions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from automations.ports import EmailRecord, NotFoundError, Suppression
from automations.services import lifecycle, queries
from automations.services.queries import QueryError

from tests.support.services import WELCOME, World, automation, event

WAIT_3D: dict[str, Any] = {"id": "wait", "delay": "3d"}


@pytest.fixture
def world() -> World:
    return World()


# --- statistics -------------------------------------------------------------------------------------------


def test_statistics_read_back_what_the_runs_counted(world: World) -> None:
    # Given large-invoice reminders: two started (one still waiting), one event filtered out
    where = {"field": "data.total", "op": "gt", "value": 500}
    world.create(
        automation(
            "reminder", "invoice.overdue", WAIT_3D, WELCOME, trigger={"event": "invoice.overdue", "where": where}
        )
    )
    world.post(event("invoice.overdue", "evt_1", "ana", total=900), event("invoice.overdue", "evt_2", "bo", total=5))
    world.later(timedelta(days=3))
    world.post(event("invoice.overdue", "evt_3", "cy", total=700))
    # When the statistics are read
    found = queries.stats(world.deps, "reminder")
    # Then the totals count the runs started, completed and skipped, with no rate over nothing sent
    totals = found["totals"]
    assert (totals["runs_started"], totals["runs_completed"], totals["skipped_filter"]) == (2, 1, 1)
    assert totals["skipped"] == 1 and totals["sent"] == 0
    assert set(totals["rates"].values()) == {None}
    # And every step of the current version is listed, in order, with its kind
    assert [(s["step"], s["kind"]) for s in found["steps"]] == [("wait", "delay"), ("welcome", "send_email")]
    assert (found["automation_id"], found["version"], found["from"], found["to"]) == ("reminder", 1, None, None)


def test_step_statistics_have_their_rates_and_a_step_of_an_earlier_version_is_kept(world: World) -> None:
    # Given an automation whose email step was counted, and a step only an earlier version had
    world.create(automation("welcome", "lead.created"))
    world.deps.stats.increment("welcome", world.now, {"sent": 4, "delivered": 3, "opened_unique": 1}, step="welcome")
    world.deps.stats.increment("welcome", world.now, {"sent": 1, "bounced_hard": 1}, step="old-email")
    # When the statistics are read
    found = queries.stats(world.deps, "welcome")
    # Then each step has its counters and rates, the whole automation their sums
    steps = {s["step"]: s for s in found["steps"]}
    assert (steps["welcome"]["sent"], steps["welcome"]["rates"]["delivery_rate"]) == (4, 0.75)
    assert steps["welcome"]["rates"]["open_rate"] == round(1 / 3, 4)
    assert (steps["old-email"]["kind"], steps["old-email"]["bounced"]) == (None, 1)
    assert (found["totals"]["sent"], found["totals"]["rates"]["bounce_rate"]) == (5, 0.2)


def test_statistics_over_a_range_of_days_count_only_those_days(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    world.post(event("lead.created", "evt_1"))
    world.later(timedelta(days=2))
    world.post(event("lead.created", "evt_2"))
    today = world.now.date()
    assert queries.stats(world.deps, "welcome", start=today)["totals"]["runs_started"] == 1
    assert queries.stats(world.deps, "welcome", end=today - timedelta(days=1))["totals"]["runs_started"] == 1
    assert queries.stats(world.deps, "welcome", start=today - timedelta(days=2))["totals"]["runs_started"] == 2


def test_statistics_by_day_cover_every_day_of_the_range(world: World) -> None:
    # Given runs started two days ago and today
    world.create(automation("welcome", "lead.created"))
    world.post(event("lead.created", "evt_1"))
    world.later(timedelta(days=2))
    world.post(event("lead.created", "evt_2"), event("lead.created", "evt_3", "bo"))
    today = world.now.date()
    # When the statistics are read by day
    found = queries.stats(world.deps, "welcome", interval="day")
    # Then every day from the first counted to today is there, the empty one included
    assert [(d["day"], d["runs_started"]) for d in found["days"]] == [
        ((today - timedelta(days=2)).isoformat(), 1),
        ((today - timedelta(days=1)).isoformat(), 0),
        (today.isoformat(), 2),
    ]
    # And a range gives its own days; a series longer than a year is refused
    ranged = queries.stats(world.deps, "welcome", start=today - timedelta(days=1), end=today, interval="day")
    assert [d["runs_started"] for d in ranged["days"]] == [0, 2] and ranged["totals"]["runs_started"] == 2
    with pytest.raises(QueryError) as refused:
        queries.stats(world.deps, "welcome", start=today - timedelta(days=400), end=today, interval="day")
    assert [e.loc for e in refused.value.errors] == ["query.from"]
    assert "days" not in queries.stats(world.deps, "welcome")
    # And a range at the calendar's edge gives what it holds
    assert [d["day"] for d in queries.stats(world.deps, "welcome", end=date.min, interval="day")["days"]] == [
        date.min.isoformat()
    ]


def test_statistics_refuse_a_range_that_ends_before_it_starts(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    with pytest.raises(QueryError) as refused:
        queries.stats(world.deps, "welcome", start=date(2026, 11, 2), end=date(2026, 11, 1))
    assert [e.loc for e in refused.value.errors] == ["query.from"]
    with pytest.raises(NotFoundError):
        queries.stats(world.deps, "nope")


# --- runs ---------------------------------------------------------------------------------------------------


def test_runs_of_an_automation_of_a_person_or_of_both_newest_first(world: World) -> None:
    # Given runs of two automations for Ana and Bo, one minute apart
    world.create(automation("welcome", "lead.created"))
    world.create(automation("reminder", "lead.created", WAIT_3D, WELCOME))
    started: list[str] = []
    for n, person in enumerate(["ana", "bo", "ana"]):
        [result] = world.post(event("lead.created", f"evt_{n}", person))
        started += result.runs
        world.fakes.clock.advance(timedelta(minutes=1))
    # When runs are listed by automation, by person, by both, and with a limit
    of_welcome = queries.runs(world.deps, automation_id="welcome", person=None)
    of_ana = queries.runs(world.deps, automation_id=None, person="ana")
    of_both = queries.runs(world.deps, automation_id="reminder", person="ana")
    newest = queries.runs(world.deps, automation_id="welcome", person=None, limit=1)
    # Then each list is newest first, with each run's summary
    assert [r["person"] for r in of_welcome] == ["ana", "bo", "ana"]
    assert [r["event"]["id"] for r in of_welcome] == ["evt_2", "evt_1", "evt_0"]
    assert len(of_ana) == 4 and {r["person"] for r in of_ana} == {"ana"}
    assert [(r["automation_id"], r["status"], r["position"]) for r in of_both] == [("reminder", "waiting", "wait")] * 2
    assert [r["event"]["id"] for r in newest] == ["evt_2"]
    assert {r["id"] for r in of_welcome + of_both} <= set(started)
    assert of_welcome[0]["emails"] == 1 and of_both[0]["emails"] == 0


def test_a_runs_detail_has_its_timeline_and_its_emails(world: World) -> None:
    # Given a run that waited, then sent its email (recorded by the sender)
    world.create(automation("reminder", "invoice.overdue", WAIT_3D, WELCOME))
    [result] = world.post(event("invoice.overdue", "evt_1", "ana"))
    [run_id] = result.runs
    world.later(timedelta(days=3))
    record = EmailRecord.new(
        world.deps.messages.workspace,
        automation_id="reminder",
        version=1,
        run_id=run_id,
        step="welcome",
        address="ana@example.com",
        type_="transactional",
        state="sending",
        now=world.now,
        subject="Hello ANA",
    )
    world.deps.messages.claim(record)
    # When the run is read
    found = queries.run_detail(world.deps, run_id)
    # Then it has every decision in order, and its email with its state
    assert (found["id"], found["status"], found["event"]) == (
        run_id,
        "completed",
        {"id": "evt_1", "type": "invoice.overdue"},
    )
    assert [d["kind"] for d in found["timeline"]][:2] == ["started", "wait"]
    assert "resumed" in [d["kind"] for d in found["timeline"]]
    assert [(m["step"], m["address"], m["state"]) for m in found["messages"]] == [
        ("welcome", "ana@example.com", "sending")
    ]
    with pytest.raises(NotFoundError):
        queries.run_detail(world.deps, "run_unknown")


def test_runs_of_nobody_are_refused(world: World) -> None:
    with pytest.raises(QueryError):
        queries.runs(world.deps, automation_id=None, person=None)


# --- contacts and versions ------------------------------------------------------------------------------------


def test_a_contact_shows_what_each_of_their_addresses_still_receives(world: World) -> None:
    # Given Ana's run (her address from the event) and her unsubscribe from promotional email
    world.create(automation("welcome", "lead.created"))
    world.post(event("lead.created", "evt_1", "ana"))
    world.deps.suppressions.upsert(
        Suppression.new(
            "ana@example.com", "unsubscribe", reason="one-click", source="link", automation_id="welcome", now=world.now
        )
    )
    # When her contact is read
    found = queries.contact(world.deps, "ana")
    # Then her address still receives transactional email but not promotional, and her unsubscribe is listed
    [address] = found["addresses"]
    assert address["address"] == "ana@example.com"
    assert address["receives"]["transactional"] and not address["receives"]["promotional"]
    assert [(u["kind"], u["scope"], u["automation_id"]) for u in found["unsubscribed"]] == [
        ("unsubscribe", "promotional", "welcome")
    ]
    assert found["suppressions"] == [] and [r["automation_id"] for r in found["runs"]] == ["welcome"]


def test_the_versions_of_an_automation_mark_the_current_one(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    world.fakes.clock.advance(timedelta(hours=1))
    lifecycle.replace(world.deps, "welcome", {**automation("welcome", "lead.created"), "name": "Welcome v2"}, world.now)
    found = queries.versions(world.deps, "welcome")
    assert [(v["version"], v["name"], v["current"]) for v in found["versions"]] == [
        (1, "Welcome", False),
        (2, "Welcome v2", True),
    ]
