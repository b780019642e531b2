"""Time in the language: the automation's time zone and locale, send windows (on the automation or on one action),
and delays to a local time of day (``delay: {after: 1d, at: "09:00"}``) across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from automations.engine import RunStatus, ScheduleStep, advance, start_run
from automations.errors import DefinitionError, FieldError
from automations.language import load_definition
from automations.language.loader import dump_definition
from automations.language.model import describe_days
from automations.services.runner import run_schedule_name
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.services import QUEUE, SENDER, WELCOME, World, automation, event
from tests.support.settings import settings_with

OFFICE_HOURS: dict[str, Any] = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 in New York, 15:00 in Lisbon
MONDAY_9_NEW_YORK = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def world_at(moment: datetime, **changes: Any) -> World:
    """A world whose clock shows ``moment``, with these settings changed (the workspace's zone and locale)."""
    world = World(settings=settings_with(sender_address=SENDER, email_queue_url=QUEUE, **changes))
    world.fakes.clock.moment = moment
    return world


def booking(event_id: str = "evt_1", person: str = "c_1", zone: str | None = None, **data: Any) -> dict[str, Any]:
    body = event("booking.created", event_id, person, **data)
    if zone is not None:
        body["contact"]["timezone"] = zone
    return body


# --- send windows ---------------------------------------------------------------------------------------------


def test_a_reminder_reached_on_saturday_waits_until_monday_9_in_the_contacts_zone() -> None:
    # Given a reminder sent on weekdays from 09:00 to 18:00 in the contact's time zone
    world = world_at(SATURDAY)
    world.create(automation("reminder", "booking.created", send_window=OFFICE_HOURS))
    # When a contact in New York books on a Saturday
    [result] = world.post(booking(zone="America/New_York"))
    [run] = world.runs_of(result)
    # Then nothing is sent: the run waits on the email itself until Monday 09:00 in New York, called back then
    assert world.emails() == []
    assert (run.status, run.position, run.due_at, run.window_wait) == (
        RunStatus.WAITING,
        "welcome",
        MONDAY_9_NEW_YORK,
        True,
    )
    assert world.schedules()[run_schedule_name(run.id, "welcome")][0] == MONDAY_9_NEW_YORK
    # And the timeline says why
    window = [d for d in run.log if d.kind == "window"]
    assert [d.reason for d in window] == [
        "outside the send window (Mon-Fri 09:00-18:00 America/New_York): waiting until 2026-11-30T14:00:00+00:00"
    ]
    assert window[0].details == {
        "due_at": "2026-11-30T14:00:00+00:00",
        "window": "Mon-Fri 09:00-18:00 America/New_York",
    }
    # When Monday 09:00 comes in New York (not yet 09:00 in Lisbon's or UTC's sense of it: later)
    world.later(MONDAY_9_NEW_YORK - SATURDAY - timedelta(minutes=1))
    assert world.emails() == []
    world.later(timedelta(minutes=1))
    # Then the email goes, once, and the run ends
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    run = world.run(run.id)
    assert (run.status, run.visited, run.window_wait) == (RunStatus.COMPLETED, ["welcome"], False)
    assert [d.kind for d in run.log] == ["started", "window", "resumed", "email", "finished"]
    assert run.log[2].reason == "send window open"
    # And a late second delivery of the schedule does nothing
    assert world.fire({"kind": "step", "run": run.id, "step": "welcome", "workspace": run.workspace}).status == "noop"
    assert world.emails() == []


def test_an_action_inside_its_window_runs_at_once() -> None:
    # Given the same reminder, and a contact in Lisbon on a Monday at 10:00 local
    world = world_at(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    world.create(automation("reminder", "booking.created", send_window=OFFICE_HOURS))
    [result] = world.post(booking(zone="Europe/Lisbon"))
    # Then the email goes at once
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    assert world.runs_of(result)[0].status is RunStatus.COMPLETED


def test_a_contact_without_a_zone_uses_the_automations_then_the_workspaces() -> None:
    # Given a Monday at 07:30 UTC (08:30 in Berlin: closed; 09:30 in Helsinki: open), a workspace in Helsinki's
    # time, and two automations in office hours: one in Berlin's time, one without a zone of its own
    monday = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
    world = world_at(monday, timezone="Europe/Helsinki")
    world.create(automation("own-zone", "booking.created", send_window=OFFICE_HOURS, timezone="Europe/Berlin"))
    world.create(automation("workspace-zone", "booking.created", WELCOME, send_window=OFFICE_HOURS))
    # When a contact without a time zone books
    [result] = world.post(booking())
    runs = {run.automation_id: run for run in world.runs_of(result)}
    # Then the automation with its own zone waits for 09:00 in Berlin; the other one, in Helsinki, sends now
    assert runs["own-zone"].due_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert runs["own-zone"].context["automation"]["timezone"] == "Europe/Berlin"
    assert runs["workspace-zone"].status is RunStatus.COMPLETED
    assert runs["workspace-zone"].context["automation"]["timezone"] == "Europe/Helsinki"
    assert world.emails() == [("workspace-zone", "welcome", ("c_1@example.com",))]


def test_a_steps_own_window_replaces_the_automations_and_may_run_over_midnight() -> None:
    # Given an automation open on weekdays, whose second email has its own night window in UTC
    night = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": "22:00",
        "to": "06:00",
        "timezone": "UTC",
    }
    second = {**WELCOME, "id": "night", "send_window": night}
    world = world_at(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # a Monday, 12:00 UTC
    world.create(automation("two", "booking.created", WELCOME, second, send_window=OFFICE_HOURS))
    # When a contact in Lisbon books at noon
    [result] = world.post(booking(zone="Europe/Lisbon"))
    [run] = world.runs_of(result)
    # Then the first email goes; the second waits for 22:00 UTC
    assert world.emails() == [("two", "welcome", ("c_1@example.com",))]
    assert (run.position, run.due_at) == ("night", datetime(2026, 11, 30, 22, 0, tzinfo=UTC))
    assert run.log[-1].reason.startswith("outside the send window (every day 22:00-06:00 UTC)")
    # When the night comes, it goes
    world.later(timedelta(hours=10))
    assert world.emails() == [("two", "night", ("c_1@example.com",))]
    assert world.run(run.id).status is RunStatus.COMPLETED


def test_a_window_after_a_delay_waits_again_from_where_the_delay_ends() -> None:
    # Given a delay of 1 day then an email in office hours, started on a Friday at 17:00 UTC (Lisbon)
    world = world_at(datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    world.create(automation("follow-up", "booking.created", {"delay": "1d"}, WELCOME, send_window=OFFICE_HOURS))
    [result] = world.post(booking(zone="Europe/Lisbon"))
    # When the delay ends on Saturday
    world.later(timedelta(days=1))
    # Then the email waits for Monday 09:00 in Lisbon
    run = world.runs_of(result)[0]
    assert (run.position, run.due_at, run.window_wait) == ("welcome", datetime(2026, 11, 30, 9, 0, tzinfo=UTC), True)
    assert [d.kind for d in run.log] == ["started", "wait", "resumed", "window"]
    world.later(timedelta(days=2, hours=16))
    assert world.emails() == [("follow-up", "welcome", ("c_1@example.com",))]


def test_the_window_is_checked_again_when_it_was_to_open() -> None:
    # Given a run that waits for office hours in New York
    auto = load_definition(automation("reminder", "booking.created", send_window=OFFICE_HOURS))
    body = {**booking(zone="America/New_York"), "occurred_at": SATURDAY.isoformat()}
    outcome = start_run(auto, 1, body, now=SATURDAY, run_id="run_1", workspace="default")
    assert outcome.effects == [ScheduleStep("default", "run_1", "welcome", MONDAY_9_NEW_YORK)]
    # When the contact has moved to Los Angeles meanwhile (the profile is read again at each step)
    state = outcome.state.model_copy(deep=True)
    state.context["contact"]["timezone"] = "America/Los_Angeles"
    later = advance(auto, state, now=MONDAY_9_NEW_YORK)
    # Then the email waits again, for 09:00 in Los Angeles, and is not sent twice meanwhile
    assert later.state.due_at == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert later.state.visited == []
    assert [type(e).__name__ for e in later.effects] == ["ScheduleStep"]


# --- delays to a time of day ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "due"),
    [
        # Lisbon leaves summer time on 25 October 2026: 09:00 is 08:00 UTC before, 09:00 UTC after
        ("Europe/Lisbon", datetime(2026, 10, 24, 7, 0, tzinfo=UTC), datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
        # and enters it on 29 March 2026: 09:00 is 09:00 UTC before, 08:00 UTC after
        ("Europe/Lisbon", datetime(2026, 3, 28, 9, 30, tzinfo=UTC), datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # New York leaves it on 1 November 2026: 09:00 is 13:00 UTC before, 14:00 UTC after
        ("America/New_York", datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
        # and enters it on 8 March 2026: 09:00 is 14:00 UTC before, 13:00 UTC after
        ("America/New_York", datetime(2026, 3, 7, 12, 0, tzinfo=UTC), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
    ],
)
def test_a_delay_at_9_lands_at_9_local_across_a_daylight_saving_change(
    zone: str, start: datetime, due: datetime
) -> None:
    # Given "at least a day, then the next 09:00 in the contact's time zone"
    world = world_at(start)
    world.create(automation("morning", "booking.created", {"delay": {"after": "1d", "at": "09:00"}}, WELCOME))
    # When a contact of that zone books the day before the clocks change
    [result] = world.post(booking(zone=zone))
    [run] = world.runs_of(result)
    # Then the run waits until 09:00 local after the change
    assert run.due_at == due
    assert due.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:00"
    assert world.schedules()[run_schedule_name(run.id, "step-1")][0] == due
    # And the email goes then, not a minute before
    world.later(due - start - timedelta(minutes=1))
    assert world.emails() == []
    world.later(timedelta(minutes=1))
    assert world.emails() == [("morning", "welcome", ("c_1@example.com",))]


@pytest.mark.parametrize(
    ("at", "zone", "due"),
    [
        # 02:30 does not exist in New York on 8 March 2026 (02:00 -> 03:00): the moment the clocks jump
        ("02:30", "America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        # 01:30 happens twice in New York on 1 November 2026: the first time (summer time)
        ("01:30", "America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        # 01:30 does not exist in Lisbon on 29 March 2026 (01:00 -> 02:00)
        ("01:30", "Europe/Lisbon", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # 01:30 happens twice in Lisbon on 25 October 2026
        ("01:30", "Europe/Lisbon", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_local_time_that_does_not_exist_moves_forward_and_a_repeated_one_takes_the_first(
    at: str, zone: str, due: datetime
) -> None:
    # Given a delay to a time of day in a named zone, reached the evening before the change
    auto = load_definition(automation("night", "booking.created", {"delay": {"at": at, "timezone": zone}}, WELCOME))
    start = due.replace(hour=0, minute=0) - timedelta(hours=6)
    outcome = start_run(auto, 1, booking(), now=start, run_id="run_1", workspace="default")
    # Then it waits until the rule's instant
    assert outcome.state.due_at == due


def test_a_delay_at_uses_the_automations_zone_for_a_contact_without_one() -> None:
    # Given an automation in Tokyo's time and a contact without a zone, on 24 November at 10:00 UTC (19:00 Tokyo)
    world = world_at(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    world.create(automation("morning", "booking.created", {"delay": {"at": "09:00"}}, WELCOME, timezone="Asia/Tokyo"))
    [result] = world.post(booking())
    # Then the run waits until the next 09:00 in Tokyo: 00:00 UTC on the 25th
    assert world.runs_of(result)[0].due_at == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


PROPERTY_ZONES = ("Europe/Lisbon", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC")
IN_2026 = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))


@given(start=IN_2026, zone=st.sampled_from(PROPERTY_ZONES))
@settings(max_examples=60, deadline=None)
def test_a_delay_at_always_lands_on_the_local_time_at_least_after_its_duration(start: datetime, zone: str) -> None:
    auto = load_definition(automation("m", "booking.created", {"delay": {"after": "1d", "at": "09:00"}}, WELCOME))
    due = start_run(auto, 1, booking(zone=zone), now=start, run_id="run_1", workspace="default").state.due_at
    assert due is not None and start + timedelta(days=1) <= due < start + timedelta(days=2, hours=1)
    assert due.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:00"  # 09:00 exists every day in these zones


@given(start=IN_2026, zone=st.sampled_from(PROPERTY_ZONES), night=st.booleans())
@settings(max_examples=60, deadline=None)
def test_an_action_runs_inside_its_window_or_waits_for_an_instant_inside_it(
    start: datetime, zone: str, night: bool
) -> None:
    window = {"days": ["mon", "wed", "sat"], "from": "22:00", "to": "06:00"} if night else OFFICE_HOURS
    auto = load_definition(automation("w", "booking.created", send_window=window))
    outcome = start_run(auto, 1, booking(zone=zone), now=start, run_id="run_1", workspace="default")
    local = auto.send_window.local(ZoneInfo(zone)) if auto.send_window else None
    assert local is not None
    if local.contains(start):
        assert outcome.state.status is RunStatus.COMPLETED
    else:
        due = outcome.state.due_at
        assert due is not None and due > start and local.contains(due) and outcome.state.window_wait
        assert not local.contains(due - timedelta(minutes=1)) or due - timedelta(minutes=1) <= start


# --- the automation's time zone and locale --------------------------------------------------------------------


def test_templates_format_in_the_automations_zone_and_locale_unless_the_contact_has_its_own() -> None:
    # Given an email that shows a time, by an automation in Berlin's time and German
    email = {
        **WELCOME,
        "send_email": {**WELCOME["send_email"], "subject": "{{ data.starts | datetime('EEEE HH:mm') }}"},
    }
    world = world_at(datetime(2026, 11, 24, 10, 0, tzinfo=UTC), timezone="America/New_York", locale="fr")
    world.create(automation("berlin", "booking.created", email, timezone="Europe/Berlin", locale="de"))
    world.create(automation("workspace", "booking.created", {**email, "id": "other"}))
    # When one contact without settings and one in Lisbon speaking Portuguese book
    world.post(booking("evt_1", "c_1", starts="2026-11-24T10:00:00Z"))
    plain = {m["automation_id"]: m["subject"] for m in world.fakes.email_queue.drain()}
    lisbon = booking("evt_2", "c_2", zone="Europe/Lisbon", starts="2026-11-24T10:00:00Z")
    lisbon["contact"]["locale"] = "pt-PT"
    world.post(lisbon)
    own = {m["automation_id"]: m["subject"] for m in world.fakes.email_queue.drain()}
    # Then the first reads Berlin's time in German (the automation's), or New York's in French (the workspace's)
    assert plain == {"berlin": "Dienstag 11:00", "workspace": "mardi 05:00"}
    # And the contact's own zone and language win over both
    assert own == {"berlin": "terça-feira 10:00", "workspace": "terça-feira 10:00"}


# --- refused at save --------------------------------------------------------------------------------------------


def errors(definition: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(definition)
    return caught.value.errors


def with_window(window: dict[str, Any], where: str = "automation") -> dict[str, Any]:
    if where == "automation":
        return automation("a", "booking.created", send_window=window)
    return automation("a", "booking.created", {**WELCOME, "send_window": window})


@pytest.mark.parametrize(
    ("window", "loc", "message"),
    [
        ({**OFFICE_HOURS, "days": []}, "days", "a send window needs at least one day"),
        (
            {**OFFICE_HOURS, "days": ["mon", "funday"]},
            "days[1]",
            "input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
        ),
        (
            {**OFFICE_HOURS, "from": "9am"},
            "from",
            "expected a time of day as HH:MM (00:00 to 23:59), such as 09:00; got '9am'",
        ),
        (
            {**OFFICE_HOURS, "to": "24:00"},
            "to",
            "expected a time of day as HH:MM (00:00 to 23:59), such as 09:00; got '24:00'",
        ),
        (
            {**OFFICE_HOURS, "to": 1080},  # YAML's reading of an unquoted 18:00
            "to",
            'expected a time of day in quotes, such as "18:00" (YAML reads an unquoted 18:00 as a number)',
        ),
        (
            {**OFFICE_HOURS, "to": "09:00"},
            "",
            "'from' and 'to' are the same time: a window needs a start and a later end (or an earlier one, to run "
            "over midnight)",
        ),
        (
            {**OFFICE_HOURS, "timezone": "Mars/Olympus"},
            "timezone",
            "unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Lisbon",
        ),
        ({**OFFICE_HOURS, "hours": 3}, "hours", "unknown field"),
        ({"days": ["mon"], "from": "09:00"}, "to", "field required"),
    ],
)
@pytest.mark.parametrize("where", ["automation", "step"])
def test_a_bad_send_window_is_refused_with_its_location(
    window: dict[str, Any], loc: str, message: str, where: str
) -> None:
    prefix = "send_window" if where == "automation" else "steps[0].send_window"
    assert errors(with_window(window, where)) == [FieldError(f"{prefix}.{loc}" if loc else prefix, message)]


def test_an_unquoted_yaml_time_is_refused_with_a_hint() -> None:
    source = """
id: a
name: A
trigger: {event: booking.created}
send_window: {days: [mon], from: "09:00", to: 18:00}
steps:
  - send_email: {to: {trigger_contact: true}, subject: Hi, html: <p>Hi</p>}
"""
    [error] = errors_of_text(source)
    assert error.loc == "send_window.to" and "in quotes" in error.message


def errors_of_text(source: str) -> list[FieldError]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(source)
    return caught.value.errors


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"timezone": "Europe/Lisbn"},
            FieldError("timezone", "unknown time zone 'Europe/Lisbn': use an IANA name such as Europe/Lisbon"),
        ),
        (
            {"locale": "xx-nope"},
            FieldError("locale", "unknown locale 'xx-nope': use a BCP 47 tag such as en, de-CH or pt-BR"),
        ),
        (
            {"steps": [{"delay": "1d", "send_window": OFFICE_HOURS}, WELCOME]},
            FieldError("steps[0]", "'send_window' belongs to an action step, not to a delay"),
        ),
        (
            {"steps": [{"delay": {"after": "1d", "at": "9:00"}}, WELCOME]},
            FieldError(
                "steps[0].delay.at", "expected a time of day as HH:MM (00:00 to 23:59), such as 09:00; got '9:00'"
            ),
        ),
        (
            {"steps": [{"delay": {"after": "1d"}}, WELCOME]},
            FieldError("steps[0].delay.at", "field required"),
        ),
        (
            {"steps": [{"delay": {"at": "09:00", "timezone": "Nowhere/City"}}, WELCOME]},
            FieldError(
                "steps[0].delay.timezone", "unknown time zone 'Nowhere/City': use an IANA name such as Europe/Lisbon"
            ),
        ),
        (
            {"steps": [{"delay": {"after": "0m", "at": "09:00"}}, WELCOME]},
            FieldError("steps[0].delay.after", "invalid duration '0m': must be longer than zero"),
        ),
    ],
)
def test_bad_time_settings_are_refused_with_their_location(change: dict[str, Any], error: FieldError) -> None:
    assert errors({**automation("a", "booking.created"), **change}) == [error]


def test_time_settings_are_kept_and_dumped_with_their_names() -> None:
    source = {
        **automation("a", "booking.created", {"delay": {"after": "1d", "at": "09:00"}}, WELCOME),
        "timezone": "Europe/Lisbon",
        "locale": "pt-PT",
        "send_window": {**OFFICE_HOURS, "timezone": "contact"},
    }
    loaded = load_definition(source)
    assert loaded.send_window is not None and loaded.send_window.from_ == "09:00"
    assert (loaded.timezone, loaded.locale) == ("Europe/Lisbon", "pt-PT")
    dumped = dump_definition(loaded)
    assert dumped["send_window"] == {**OFFICE_HOURS, "timezone": "contact"}
    assert dumped["steps"][0] == {"delay": {"after": "1d", "at": "09:00", "timezone": "contact"}}
    assert load_definition(dumped) == loaded


def test_days_are_described_as_people_write_them() -> None:
    assert describe_days(["mon", "tue", "wed", "thu", "fri"]) == "Mon-Fri"
    assert describe_days(["fri", "mon", "wed"]) == "Mon, Wed, Fri"
    assert describe_days(["sat", "sun"]) == "Sat, Sun"
    assert describe_days(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]) == "every day"
