"""The pump's pieces that stand in for AWS: one-time schedules, SQS records and partial batch failures."""

from __future__ import annotations

import copy
import os
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from automations.adapters.clock import Clock
from automations.adapters.scheduler import Scheduler
from automations_local.cfn import Intrinsics
from automations_local.lambdas import FunctionLoadError, FunctionMissingError, Functions
from automations_local.provision import Provisioned
from automations_local.pump import Pump, due_time, failed_ids, sqs_record
from automations_local.ses_simulator import SesCapture
from automations_local.wiring import Wiring
from botocore.exceptions import ClientError

from tests.support.settings import settings_with


def test_a_one_time_schedule_is_due_at_its_moment_in_its_time_zone() -> None:
    assert due_time("at(2026-11-27T10:00:00)") == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert due_time("at(2026-07-01T10:00:00)", "Europe/Lisbon") == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert due_time("rate(5 minutes)") is None
    assert due_time("cron(0 10 * * ? *)") is None


def test_an_sqs_message_becomes_a_lambda_sqs_record() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "email"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000"},
        "messageAttributes": {
            "kind": {
                "stringValue": "email",
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def test_partial_batch_failures_keep_only_the_failed_messages() -> None:
    batch = ["a", "b", "c"]
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, batch) == {"b"}
    # An identifier that is not in the batch fails the whole batch, as Lambda does
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, batch) == set(batch)
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == set(batch)


def write_handler(root: Path, name: str, body: str) -> Path:
    path = root / "functions" / name / "app.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


def test_functions_are_loaded_by_path_invoked_with_a_context_and_reloaded_when_changed(tmp_path: Path) -> None:
    functions = Functions(tmp_path, region="us-east-1")
    assert not functions.available("echo")
    with pytest.raises(FunctionMissingError):
        functions.invoke("echo", {})
    path = write_handler(tmp_path, "echo", "def handler(event, context):\n    return [event, context.function_name]\n")
    assert functions.invoke("echo", {"a": 1}) == [{"a": 1}, "automations-local-echo"]
    path.write_text("def handler(event, context):\n    return 'v2'\n")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert functions.invoke("echo", {}) == "v2"


def test_invocations_run_in_parallel_as_separate_lambda_instances_do(tmp_path: Path) -> None:
    # Given a function whose invocations wait for each other
    write_handler(
        tmp_path,
        "meet",
        """
        import threading

        BOTH = threading.Barrier(2)

        def handler(event, context):
            BOTH.wait(5)
            return event
        """,
    )
    functions = Functions(tmp_path, region="us-east-1")
    # When it is invoked twice at the same time
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda i: functions.invoke("meet", {"i": i}), range(2)))
    # Then both invocations ran at once (one after the other, the first would wait in vain)
    assert answers == [{"i": 0}, {"i": 1}]


def test_a_function_that_does_not_import_is_reported_not_fatal(tmp_path: Path) -> None:
    write_handler(tmp_path, "broken", "import not_a_module_anywhere\n")
    functions = Functions(tmp_path, region="us-east-1")
    assert functions.available("broken") and not functions.ready("broken")
    with pytest.raises(FunctionLoadError):
        functions.invoke("broken", {})


# --- schedules moved by UpdateSchedule ----------------------------------------------------------------------

GROUP = "automations-test"
EVALUATE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automations-evaluate-step"


class FakeScheduler:
    """The EventBridge Scheduler calls of the pump and of the Scheduler adapter, in memory.

    Listings show what AWS's ``ListSchedules`` shows (no expression, no input): only a full read does.
    """

    def __init__(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.after_listing: Callable[[], None] | None = None
        self._ticks = 0

    def _stamp(self) -> datetime:
        self._ticks += 1
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self._ticks)

    @staticmethod
    def _error(code: str, operation: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, operation)

    def create_schedule(self, *, Name: str, **definition: Any) -> dict[str, Any]:
        if Name in self.schedules:
            raise self._error("ConflictException", "CreateSchedule")
        stamp = self._stamp()
        self.schedules[Name] = {"Name": Name, **definition, "CreationDate": stamp, "LastModificationDate": stamp}
        return {"ScheduleArn": f"arn:aws:scheduler:::schedule/{GROUP}/{Name}"}

    def update_schedule(self, *, Name: str, **definition: Any) -> dict[str, Any]:
        if Name not in self.schedules:
            raise self._error("ResourceNotFoundException", "UpdateSchedule")
        created = self.schedules[Name]["CreationDate"]
        self.schedules[Name] = {
            "Name": Name,
            **definition,
            "CreationDate": created,
            "LastModificationDate": self._stamp(),
        }
        return {"ScheduleArn": f"arn:aws:scheduler:::schedule/{GROUP}/{Name}"}

    def get_schedule(self, *, Name: str, GroupName: str) -> dict[str, Any]:
        if Name not in self.schedules:
            raise self._error("ResourceNotFoundException", "GetSchedule")
        return copy.deepcopy(self.schedules[Name])

    def delete_schedule(self, *, Name: str, GroupName: str) -> dict[str, Any]:
        if self.schedules.pop(Name, None) is None:
            raise self._error("ResourceNotFoundException", "DeleteSchedule")
        self.deleted.append(Name)
        return {}

    def get_paginator(self, operation: str) -> FakeScheduler:
        assert operation == "list_schedules"
        return self

    def paginate(self, *, GroupName: str) -> Iterator[dict[str, Any]]:
        keys = ("Name", "GroupName", "State", "CreationDate", "LastModificationDate")
        summaries = [{k: s[k] for k in keys} | {"Target": {"Arn": s["Target"]["Arn"]}} for s in self.schedules.values()]
        yield {"Schedules": summaries}
        if self.after_listing is not None:
            self.after_listing()


class FakeFunctions:
    """Records each invocation; ``during`` runs inside one, as a concurrent request would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.during: Callable[[], None] | None = None

    def ready(self, name: str) -> bool:
        return True

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.calls.append((name, event))
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return {"status": "advanced"}


@dataclass
class SchedulerSetup:
    pump: Pump
    scheduler: Scheduler
    fake: FakeScheduler
    functions: FakeFunctions
    clock: Clock

    def countdown(self, event_id: str, after: timedelta) -> None:
        """What a new event of an after_silence trigger does: (re)start the person's countdown."""
        due = self.clock.now() + after
        self.scheduler.replace("silence-we-miss-you-c_42", due, {"kind": "silence", "event": event_id})

    def fired(self) -> list[str]:
        return [str(event["event"]) for _, event in self.functions.calls]


@pytest.fixture
def scheduling() -> SchedulerSetup:
    settings = settings_with(schedule_group=GROUP, evaluate_step_arn=EVALUATE_ARN)
    fake, functions, clock = FakeScheduler(), FakeFunctions(), Clock()
    pump = Pump(
        functions=cast(Functions, functions),
        wiring=Wiring(
            functions={"EvaluateStepFunction": "evaluate_step"},
            function_names={"EvaluateStepFunction": "automations-evaluate-step"},
        ),
        provisioned=Provisioned(Intrinsics({})),
        settings=settings,
        client=lambda service: fake,
        clock=clock,
        capture=cast(SesCapture, None),
    )
    return SchedulerSetup(pump, Scheduler(fake, settings), fake, functions, clock)


def test_a_countdown_restarted_by_update_schedule_fires_at_its_new_time_with_its_new_input(
    scheduling: SchedulerSetup,
) -> None:
    # Given a one-hour countdown the pump has seen
    scheduling.countdown("evt_1", timedelta(hours=1))
    assert scheduling.pump.fire_due_schedules() == 0
    # When a new event restarts it half an hour later (UpdateSchedule: same name, same creation date)
    scheduling.clock.advance(timedelta(minutes=30))
    scheduling.countdown("evt_2", timedelta(hours=1))
    # Then nothing fires at the old time, and the schedule is still there
    scheduling.clock.advance(timedelta(minutes=45))
    assert scheduling.pump.fire_due_schedules() == 0
    assert scheduling.fired() == [] and list(scheduling.fake.schedules) == ["silence-we-miss-you-c_42"]
    # And it fires once at the new time, with the new input, and is deleted then
    scheduling.clock.advance(timedelta(minutes=30))
    assert scheduling.pump.fire_due_schedules() == 1
    assert scheduling.fired() == ["evt_2"]
    assert scheduling.fake.schedules == {} and scheduling.fake.deleted == ["silence-we-miss-you-c_42"]
    assert scheduling.pump.fire_due_schedules() == 0


def test_a_schedule_updated_while_its_target_runs_is_kept_and_fires_at_its_new_time(
    scheduling: SchedulerSetup,
) -> None:
    # Given a countdown that is due
    scheduling.countdown("evt_1", timedelta(hours=1))
    scheduling.clock.advance(timedelta(hours=1, seconds=1))
    # When a new event restarts it while evaluate_step runs for the old one
    scheduling.functions.during = lambda: scheduling.countdown("evt_2", timedelta(hours=1))
    assert scheduling.pump.fire_due_schedules() == 1
    # Then the restarted countdown is not deleted with the one that fired
    assert scheduling.fake.deleted == []
    assert "evt_2" in scheduling.fake.schedules["silence-we-miss-you-c_42"]["Target"]["Input"]
    assert scheduling.pump.fire_due_schedules() == 0
    # And it fires at its own time
    scheduling.clock.advance(timedelta(hours=1, seconds=2))
    assert scheduling.pump.fire_due_schedules() == 1
    assert scheduling.fired() == ["evt_1", "evt_2"]
    assert scheduling.fake.deleted == ["silence-we-miss-you-c_42"]


def test_a_schedule_moved_later_between_the_listing_and_its_firing_waits(scheduling: SchedulerSetup) -> None:
    # Given a countdown that is due when the pump lists the schedules
    scheduling.countdown("evt_1", timedelta(hours=1))
    scheduling.clock.advance(timedelta(hours=1, seconds=1))
    # When a new event restarts it right after the listing
    scheduling.fake.after_listing = lambda: scheduling.countdown("evt_2", timedelta(hours=1))
    # Then the old countdown does not fire: the schedule is read again before it fires
    assert scheduling.pump.fire_due_schedules() == 0
    scheduling.fake.after_listing = None
    assert scheduling.fired() == [] and scheduling.fake.deleted == []
    scheduling.clock.advance(timedelta(hours=1, seconds=2))
    assert scheduling.pump.fire_due_schedules() == 1
    assert scheduling.fired() == ["evt_2"]
