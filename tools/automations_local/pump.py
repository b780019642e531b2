"""The local pump: what AWS does between the functions, done here by polling moto.

- EventBridge Scheduler: a schedule of the group whose ``at(...)`` is due by the stack's clock invokes its
  target function with its ``Input``, then is deleted as ``ActionAfterCompletion`` says (retried with
  backoff when the function fails, then sent to the target's dead-letter queue). A schedule moved by
  ``UpdateSchedule`` fires at its new time with its new input: it is read again before it fires and before
  it is deleted, and one whose definition changed while its target ran is kept.
- Lambda's SQS event source mappings: each queue a function reads is drained into it as SQS batch events;
  the messages the function did not report in ``batchItemFailures`` are deleted.
- EventBridge rules: events put on the bus reach their function (through a target queue in moto).
- SES event publishing: each message moto's SES accepted becomes an outbox entry, and its events are
  published to the configuration set's SNS topic and delivered to the topic's subscribers.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from automations.adapters.clock import Clock
from automations.settings import Settings
from botocore.exceptions import ClientError

from automations_local.cfn import ACCOUNT
from automations_local.lambdas import FunctionLoadError, FunctionMissingError, Functions
from automations_local.log import LOG
from automations_local.provision import Provisioned, Queue
from automations_local.ses_simulator import (
    SentEmail,
    SesCapture,
    address_of,
    engagement_event,
    outcome_events,
    sns_record_event,
)
from automations_local.wiring import BusSource, QueueSource, Wiring

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
SCHEDULE_ATTEMPTS = 5
NOTIFICATION_ATTEMPTS = 3


def due_time(expression: str, timezone: str | None = "UTC") -> datetime | None:
    """The moment of a one-time schedule (``at(yyyy-mm-ddThh:mm:ss)`` in its time zone); None otherwise."""
    found = _AT.match(expression.strip())
    if found is None:
        return None
    local = datetime.fromisoformat(found.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return local.astimezone(UTC)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        binary = value.get("BinaryValue")
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": list(value.get("BinaryListValues", [])),
            "dataType": value.get("DataType", "String"),
        }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(result: Any, batch: list[str]) -> set[str]:
    """The messages to keep after a batch: those in ``batchItemFailures``, or all of them if it is malformed."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    ids = set()
    for failure in result["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch:
            return set(batch)  # what Lambda does with an unknown or empty identifier: the whole batch failed
        ids.add(str(identifier))
    return ids


@dataclass
class Work:
    """What one pass of the pump did."""

    schedules: int = 0
    messages: int = 0
    bus_events: int = 0
    emails: int = 0
    notifications: int = 0

    def add(self, other: Work) -> None:
        self.schedules += other.schedules
        self.messages += other.messages
        self.bus_events += other.bus_events
        self.emails += other.emails
        self.notifications += other.notifications

    @property
    def total(self) -> int:
        return self.schedules + self.messages + self.bus_events + self.emails + self.notifications


def revision(schedule: dict[str, Any]) -> tuple[str, ...]:
    """What identifies one definition of a schedule: updating it changes ``LastModificationDate`` (and the
    expression or input a full read shows), so a schedule moved to a new time is a new revision."""
    target = schedule.get("Target") or {}
    return (
        str(schedule.get("Name")),
        str(schedule.get("CreationDate")),
        str(schedule.get("LastModificationDate")),
        str(schedule.get("ScheduleExpression")),
        str(schedule.get("ScheduleExpressionTimezone")),
        str(schedule.get("State")),
        str(target.get("Arn")),
        str(target.get("Input")),
    )


@dataclass
class _Attempts:
    revision: tuple[str, ...] = ()
    count: int = 0
    next_at: float = 0.0


@dataclass
class _Notification:
    function: str
    topic_arn: str
    event: dict[str, Any]
    dead_letter: Queue | None
    label: str
    attempts: int = 0


class Outbox:
    """Every message SES accepted, kept in memory, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._emails: list[SentEmail] = []
        self._by_id: dict[str, SentEmail] = {}

    def add(self, sent: SentEmail) -> None:
        with self._lock:
            self._emails.append(sent)
            self._by_id[sent.id] = sent

    def get(self, message_id: str) -> SentEmail | None:
        with self._lock:
            return self._by_id.get(message_id)

    def newest_first(self) -> list[SentEmail]:
        with self._lock:
            return list(reversed(self._emails))


#: How many bus events GET /_local/bus keeps.
BUS_LOG_SIZE = 500


@dataclass
class Pump:
    functions: Functions
    wiring: Wiring
    provisioned: Provisioned
    settings: Settings
    client: Callable[[str], Any]
    clock: Clock
    capture: SesCapture
    outbox: Outbox = field(default_factory=Outbox)
    interval: float = 0.5
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _schedules: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=dict)
    _schedule_attempts: dict[str, _Attempts] = field(default_factory=dict)
    _fired_kept: set[tuple[str, ...]] = field(default_factory=set)
    _notifications: deque[_Notification] = field(default_factory=deque)
    _bus_targets: list[tuple[BusSource, Queue]] = field(default_factory=list)
    #: Messages a function reported as failed (and may have postponed): (queue URL, receipt handle).
    _postponed: list[tuple[str, str]] = field(default_factory=list)
    #: Every event put on the stack's buses (what GET /_local/bus shows), the latest last.
    bus_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BUS_LOG_SIZE))
    _bus_watch: list[str] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set)

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_until_quiet()
            except Exception:
                LOG.exception("pump: a pass failed")

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning(message, *args)

    def run_until_quiet(self, max_rounds: int = 25) -> Work:
        """Pass after pass until nothing is left to do now: a fired step may queue an email, which makes events."""
        done = Work()
        with self.lock:
            for _ in range(max_rounds):
                work = self._pass()
                done.add(work)
                if not work.total:
                    break
        return done

    def _pass(self) -> Work:
        work = Work()
        work.schedules = self.fire_due_schedules()
        work.bus_events = self.drain_buses()
        work.messages = self.drain_queues()
        work.emails = self.collect_sent()
        work.notifications = self.deliver_notifications()
        return work

    # --- schedules -------------------------------------------------------------------------------------------

    def function_for_arn(self, arn: str) -> str | None:
        """The function a target ARN names (``...:function:<FunctionName>[:qualifier]``)."""
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            return None
        for logical_id, folder in self.wiring.functions.items():
            declared = self.wiring.function_names.get(logical_id)
            name = self.provisioned.intrinsics.resolve(declared) if declared else None
            if parts[6] in (name, logical_id, folder):
                return folder
        return None

    def read_schedule(self, group: str, name: str) -> dict[str, Any] | None:
        """The schedule as it is now; None when it is gone."""
        try:
            found: dict[str, Any] = self.client("scheduler").get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self._forget(name)
            return None
        return found

    def _forget(self, name: str) -> None:
        self._schedules.pop(name, None)
        self._schedule_attempts.pop(name, None)

    def _schedule(self, group: str, summary: dict[str, Any]) -> dict[str, Any] | None:
        """The full schedule behind a listed one, read again whenever the listing shows it changed."""
        name = summary["Name"]
        listed = revision(summary)
        cached = self._schedules.get(name)
        if cached is not None and cached[0] == listed:
            return cached[1]
        found = self.read_schedule(group, name)
        if found is not None:
            self._schedules[name] = (listed, found)
        return found

    def pending_schedules(self) -> list[tuple[datetime, dict[str, Any]]]:
        """Every enabled one-time schedule of the group not fired yet, soonest first."""
        group = self.settings.schedule_group
        pending = []
        listed: set[str] = set()
        paginator = self.client("scheduler").get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=group):
            for summary in page.get("Schedules", []):
                listed.add(summary["Name"])
                if summary.get("State", "ENABLED") != "ENABLED":
                    continue
                schedule = self._schedule(group, summary)
                if schedule is None or revision(schedule) in self._fired_kept:
                    continue
                when = self._due(schedule)
                if when is not None:
                    pending.append((when, schedule))
        for name in set(self._schedules) - listed:
            self._forget(name)
        self._fired_kept = {kept for kept in self._fired_kept if kept[0] in listed}
        pending.sort(key=lambda pair: pair[0])
        return pending

    def _due(self, schedule: dict[str, Any]) -> datetime | None:
        when = due_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
        if when is None:
            self.warn_once(
                f"expr:{schedule['Name']}",
                "schedule %s: %s is not a one-time schedule; the local stack only fires at(...)",
                schedule["Name"],
                schedule["ScheduleExpression"],
            )
        return when

    def due_schedules(self) -> list[tuple[datetime, dict[str, Any]]]:
        now = self.clock.now()
        return [(when, schedule) for when, schedule in self.pending_schedules() if when <= now]

    def next_due_within(self, window: timedelta) -> datetime | None:
        """The soonest schedule due after now but within ``window`` (at(...) has whole seconds)."""
        with self.lock:
            now = self.clock.now()
            return next((when for when, _ in self.pending_schedules() if now < when <= now + window), None)

    def _still_due(self, listed: dict[str, Any]) -> tuple[datetime, dict[str, Any]] | None:
        """The schedule read again just before it fires, and its time: None when it was deleted, disabled,
        or moved to a time not due yet."""
        schedule = self.read_schedule(listed["GroupName"], listed["Name"])
        if schedule is None or schedule.get("State", "ENABLED") != "ENABLED":
            return None
        if revision(schedule) != revision(listed):
            self._schedules.pop(schedule["Name"], None)
            if revision(schedule) in self._fired_kept:
                return None
        when = self._due(schedule)
        if when is None or when > self.clock.now():
            return None
        return when, schedule

    def fire_due_schedules(self) -> int:
        fired = 0
        for _, listed in self.due_schedules():
            name = listed["Name"]
            waiting = self._schedule_attempts.get(name)
            if waiting is not None and waiting.next_at > time.monotonic():
                continue
            found = self._still_due(listed)
            if found is None:
                continue
            when, schedule = found
            attempts = self._schedule_attempts.get(name)
            if attempts is None or attempts.revision != revision(schedule):
                attempts = self._schedule_attempts[name] = _Attempts(revision(schedule))
            target = schedule.get("Target", {})
            function = self.function_for_arn(str(target.get("Arn", "")))
            if function is None:
                self.warn_once(f"target:{name}", "schedule %s targets %s: not a function of the stack", name, target)
                continue
            if not self.functions.ready(function):
                self.warn_once(f"missing:{function}", "%s is not there yet: due schedules wait for it", function)
                continue
            payload = json.loads(target.get("Input") or "{}")
            try:
                result = self.functions.invoke(function, payload)
            except (FunctionMissingError, FunctionLoadError):
                continue
            except Exception as exc:
                self._schedule_failed(schedule, function, attempts, exc)
                continue
            fired += 1
            self._schedule_attempts.pop(name, None)
            LOG.info("schedule %s (due %s) -> %s: %s", name, when.isoformat(), function, _summary(result))
            self._after_completion(schedule)
        return fired

    def _after_completion(self, schedule: dict[str, Any]) -> None:
        """Delete (or keep) the schedule that fired, unless it was updated since: that one fires at its new time."""
        name = schedule["Name"]
        current = self.read_schedule(schedule["GroupName"], name)
        if current is None:
            return
        if revision(current) != revision(schedule):
            self._schedules.pop(name, None)
            LOG.info("schedule %s was updated while it ran: kept for %s", name, current.get("ScheduleExpression"))
            return
        if schedule.get("ActionAfterCompletion") == "DELETE":
            try:
                self.client("scheduler").delete_schedule(Name=name, GroupName=schedule["GroupName"])
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
            self._forget(name)
        else:
            self._fired_kept.add(revision(schedule))

    def _schedule_failed(self, schedule: dict[str, Any], function: str, attempts: _Attempts, exc: Exception) -> None:
        attempts.count += 1
        name = schedule["Name"]
        if attempts.count < SCHEDULE_ATTEMPTS:
            delay = min(60.0, 2.0**attempts.count)
            attempts.next_at = time.monotonic() + delay
            LOG.error("schedule %s -> %s failed (%s); retry %d in %.0fs", name, function, exc, attempts.count, delay)
            return
        dead_letter = schedule.get("Target", {}).get("DeadLetterConfig", {}).get("Arn")
        queue = self.provisioned.queue_by_arn(str(dead_letter)) if dead_letter else None
        if queue is not None:
            self.client("sqs").send_message(QueueUrl=queue.url, MessageBody=schedule["Target"].get("Input") or "{}")
        LOG.error(
            "schedule %s -> %s failed %d times (%s); %s",
            name,
            function,
            attempts.count,
            exc,
            f"sent to {queue.name}" if queue else "dropped",
        )
        self._schedule_attempts.pop(name, None)
        self._after_completion(schedule)

    # --- queues ----------------------------------------------------------------------------------------------

    def drain_queues(self) -> int:
        return sum(self.drain_queue(source) for source in self.wiring.queues)

    def drain_queue(self, source: QueueSource, max_batches: int = 20) -> int:
        queue = self.provisioned.queues.get(source.queue)
        if queue is None:
            return 0
        if not self.functions.ready(source.function):
            self._report_waiting(source.function, queue)
            return 0
        sqs = self.client("sqs")
        handled = 0
        for _ in range(max_batches):
            got = sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=max(1, min(10, source.batch_size)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = got.get("Messages", [])
            if not messages:
                break
            handled += len(messages)
            event = {"Records": [sqs_record(m, queue.arn, self.settings.region) for m in messages]}
            batch = [m["MessageId"] for m in messages]
            try:
                result = self.functions.invoke(source.function, event)
            except Exception as exc:
                LOG.error(
                    "%s: batch of %d from %s failed (%s); retried when visible again",
                    source.function,
                    len(messages),
                    queue.name,
                    exc,
                )
                continue
            failed = failed_ids(result, batch) if source.report_failures else set()
            done = [m for m in messages if m["MessageId"] not in failed]
            self._postponed += [(queue.url, m["ReceiptHandle"]) for m in messages if m["MessageId"] in failed]
            for start in range(0, len(done), 10):
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:][:10])]
                sqs.delete_message_batch(QueueUrl=queue.url, Entries=entries)
            LOG.info(
                "%s <- %d message(s) from %s: %d done, %d failed%s",
                source.function,
                len(messages),
                queue.name,
                len(done),
                len(failed),
                " (retried when visible again)" if failed else "",
            )
        return handled

    def release_postponed(self) -> int:
        """Make the messages functions reported as failed visible again now: a function postpones a message by
        the queue's real time (SQS visibility), so moving the stack's clock past a backoff releases it here.
        Returns how many came back (a message deleted or received again meanwhile is skipped)."""
        released = 0
        held, self._postponed = self._postponed, []
        sqs = self.client("sqs")
        for url, receipt in held:
            try:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
            except ClientError:
                continue
            released += 1
        return released

    def _report_waiting(self, function: str, queue: Queue) -> None:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        waiting = int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))
        if waiting:
            self.warn_once(f"missing:{function}", "%s is not there yet: %s holds messages for it", function, queue.name)

    # --- the bus ---------------------------------------------------------------------------------------------

    def wire_buses(self) -> None:
        """Each rule of the template on the bus, with a moto queue as the target standing in for the function."""
        sqs, events = self.client("sqs"), self.client("events")
        stack = self.provisioned.intrinsics.stack_name
        for source in self.wiring.buses:
            bus = self.provisioned.buses.get(source.bus)
            if bus is None:
                continue
            attributes = {"VisibilityTimeout": "2"}
            dead_letter = self.provisioned.queues.get(source.dead_letter or "")
            if dead_letter is not None:
                policy = {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": 3}
                attributes["RedrivePolicy"] = json.dumps(policy)
            name = f"{stack}-{source.function}-{source.name}-target"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            pattern = self.provisioned.intrinsics.resolve(source.pattern)
            rule = f"{stack}-{source.name}"
            events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": source.function, "Arn": arn}])
            self._bus_targets.append((source, Queue(name, name, url, arn)))
        # One more rule per bus, for GET /_local/bus: every event of the account, into a queue read by the pump
        for bus in sorted(set(self.provisioned.buses.values())):
            name = f"{stack}-{bus}-watch"[:80]
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            rule = f"{stack}-watch"[:64]
            events.put_rule(
                Name=rule, EventBusName=bus, EventPattern=json.dumps({"account": [ACCOUNT]}), State="ENABLED"
            )
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "watch", "Arn": arn}])
            self._bus_watch.append(url)

    def drain_buses(self) -> int:
        handled = 0
        sqs = self.client("sqs")
        for url in self._bus_watch:
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    self.bus_log.append(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for source, queue in self._bus_targets:
            if not self.functions.ready(source.function):
                continue
            got = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            for message in got.get("Messages", []):
                handled += 1
                event = json.loads(message["Body"])
                event.setdefault("account", ACCOUNT)  # as EventBridge delivers it: moto's event leaves it out
                try:
                    result = self.functions.invoke(source.function, event)
                except Exception as exc:
                    LOG.error("bus event %s -> %s failed (%s); retried", event.get("id"), source.function, exc)
                    continue
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
                LOG.info(
                    "bus event %s (%s) -> %s: %s",
                    event.get("id"),
                    event.get("detail-type"),
                    source.function,
                    _summary(result),
                )
        return handled

    # --- SES -------------------------------------------------------------------------------------------------

    def collect_sent(self) -> int:
        """New messages of moto's SES: into the outbox, and their Send/Delivery/Bounce/Complaint published."""
        now = self.clock.now()
        fresh = self.capture.collect(now)
        for sent in fresh:
            self.outbox.add(sent)
            events = outcome_events(sent, now, self.settings.region)
            names = [str(event["eventType"]) for event in events if self.publish(sent, event)]
            LOG.info(
                "SES accepted %s to %s: %r%s",
                sent.id,
                ", ".join(address_of(a) for a in sent.destination),
                sent.subject,
                f" -> {', '.join(names)}" if names else "",
            )
        return len(fresh)

    def publish(self, sent: SentEmail, event: dict[str, Any]) -> bool:
        """Publish one SES event as the message's configuration set says; False when nothing listens."""
        kind = str(event["eventType"])
        destinations = [
            d
            for d in self.provisioned.event_destinations
            if d.configuration_set == sent.configuration_set and kind.lower() in d.event_types and d.topic_arn
        ]
        if not destinations:
            if not sent.configuration_set:
                self.warn_once(
                    "no-configuration-set",
                    "SES: message %s was sent without a configuration set, so SES publishes no events for it",
                    sent.id,
                )
            return False
        sent.events.append(kind)
        for destination in destinations:
            topic_arn = str(destination.topic_arn)
            message_id = self.client("sns").publish(TopicArn=topic_arn, Message=json.dumps(event))["MessageId"]
            envelope = sns_record_event(
                event, topic_arn=topic_arn, message_id=message_id, now=self.clock.now(), region=self.settings.region
            )
            for source in self.wiring.topics:
                if self.provisioned.topics.get(source.topic) != topic_arn:
                    continue
                dead_letter = self.provisioned.queues.get(source.dead_letter or "")
                label = f"{kind} of {sent.id}"
                self._notifications.append(_Notification(source.function, topic_arn, envelope, dead_letter, label))
        return True

    def engage(self, message_id: str, kind: str, link: str | None = None, user_agent: str = "") -> bool:
        """A recipient opened the message or clicked one of its links (from the outbox page)."""
        with self.lock:
            sent = self.outbox.get(message_id)
            if sent is None:
                return False
            now = self.clock.now()
            event = engagement_event(kind, sent, now, self.settings.region, link=link, user_agent=user_agent)
            if self.publish(sent, event):
                LOG.info("SES: %s of %s%s", kind, message_id, f" ({link})" if link else "")
            self.deliver_notifications()
        return True

    def deliver_notifications(self) -> int:
        """Give each published SNS message to its subscriber (when the function is there)."""
        delivered = 0
        kept: deque[_Notification] = deque()
        while self._notifications:
            note = self._notifications.popleft()
            if not self.functions.ready(note.function):
                self.warn_once(f"missing:{note.function}", "%s is not there yet: SES events wait for it", note.function)
                kept.append(note)
                continue
            try:
                result = self.functions.invoke(note.function, note.event)
            except (FunctionMissingError, FunctionLoadError):
                kept.append(note)
                continue
            except Exception as exc:
                note.attempts += 1
                if note.attempts < NOTIFICATION_ATTEMPTS:
                    LOG.error("%s -> %s failed (%s); retrying", note.label, note.function, exc)
                    kept.append(note)
                    continue
                self._dead_letter(note, exc)
                continue
            delivered += 1
            LOG.debug("%s -> %s: %s", note.label, note.function, _summary(result))
        self._notifications = kept
        return delivered

    def _dead_letter(self, note: _Notification, exc: Exception) -> None:
        if note.dead_letter is not None:
            body = json.dumps(note.event["Records"][0]["Sns"])
            self.client("sqs").send_message(QueueUrl=note.dead_letter.url, MessageBody=body)
        LOG.error(
            "%s -> %s failed %d times (%s); %s",
            note.label,
            note.function,
            note.attempts,
            exc,
            f"sent to {note.dead_letter.name}" if note.dead_letter else "dropped",
        )


def _summary(result: Any) -> str:
    """A short account of a function's answer for the log line."""
    if isinstance(result, dict):
        if "status" in result:
            reason = result.get("reason")
            return f"{result['status']}" + (f" ({reason})" if reason else "")
        if "statusCode" in result:
            return str(result["statusCode"])
        if "batchItemFailures" in result:
            return f"{len(result['batchItemFailures'])} failure(s)"
    return "ok" if result is None else str(result)[:120]
