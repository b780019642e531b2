"""The handlers wired as AWS wires them, played by hand under moto: what happens between the functions.

- an app posts trigger events to ``POST /v1/events`` and retries the same request when the answer is an error;
- EventBridge Scheduler invokes ``evaluate_step`` with a due schedule's input (the clock moves to its time),
  invokes it again with the same input when the invocation fails, and deletes the schedule once it succeeded;
- Lambda's SQS event source hands the email queue to ``send_email`` and deletes the records it did not report
  as failed; the others come back (their backoff skipped);
- SES accepts each ``SendEmail`` and publishes its events (a Delivery, or a hard Bounce for the addresses told
  to bounce: the configuration set publishes no Send) through SNS to ``stats_webhook``, which gets the same
  notification again when it fails.

Each hop is retried a few times at most; one that keeps failing raises :class:`UndeliveredError`, as AWS would
give up and keep the message in a dead-letter queue. Requests the pipeline makes itself (receiving messages,
listing schedules, reading tables) are not the handlers' and are never failed by the tap.
"""

from __future__ import annotations

import email
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from functools import cache
from typing import Any

from automations.ports import EmailRecord
from automations.services import feedback
from automations.services.deps import get_deps
from automations_local.pump import due_time
from aws_lambda_powertools.utilities import parameters

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import receive_event, sns_event
from tests.support.recorder import AwsCall, AwsTap

FUNCTIONS = ("ingest_trigger", "evaluate_step", "send_email", "stats_webhook", "manage_api")

Handler = Callable[[Any, Any], Any]


@cache
def handlers() -> dict[str, Handler]:
    """Each function's handler, loaded once (a warm Lambda container keeps its module too)."""
    return {name: load_handler(name).handler for name in FUNCTIONS}


class UndeliveredError(Exception):
    """A hop failed on every attempt: AWS would give up (and keep the message in a dead-letter queue)."""


@dataclass(frozen=True)
class SesSend:
    """An email SES accepted: its MessageId and the request, as the handler sent it."""

    ses_message_id: str
    params: Mapping[str, Any]

    @property
    def tags(self) -> dict[str, str]:
        return {tag["Name"]: tag["Value"] for tag in self.params.get("EmailTags", [])}

    @property
    def recipient(self) -> str:
        return str(self.params["Destination"]["ToAddresses"][0])

    @property
    def key(self) -> tuple[str, str, str]:
        """(run, step, recipient): what is sent at most once."""
        return self.tags.get("run", ""), self.tags.get("step", ""), self.recipient.lower()

    def mime(self) -> email.message.EmailMessage:
        raw = self.params["Content"]["Raw"]["Data"]
        message: email.message.EmailMessage = email.message_from_bytes(
            raw if isinstance(raw, bytes) else str(raw).encode(), policy=policy.default
        )
        return message


@dataclass
class Pipeline:
    """AWS's part between the handlers, for one stack; ``bounces`` are the addresses that hard-bounce."""

    stack: Stack
    tap: AwsTap
    bounces: frozenset[str] = frozenset()
    attempts: int = 4
    #: Each invocation in a new process, as each function has its own: no cache shared between functions.
    cold: bool = False
    ses_sends: list[SesSend] = field(default_factory=list)
    published: int = 0
    failures: list[str] = field(default_factory=list)
    _notifications: int = 0

    def __post_init__(self) -> None:
        self.tap.on_applied.append(self._seen_by_ses)

    def _seen_by_ses(self, call: AwsCall, response: Any) -> None:
        if call.service == "sesv2" and call.operation == "SendEmail":
            self.ses_sends.append(SesSend(str(response["MessageId"]), call.params))

    def forget(self) -> None:
        """Start over (a new scenario on a cleaned stack)."""
        self.ses_sends = []
        self.published = 0
        self.failures = []
        self._notifications = 0

    # --- one hop, with AWS's retries ----------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> Any:
        if self.cold:
            parameters.clear_caches()
            get_deps().forget_workspaces()
        return handlers()[function](event, LambdaContextStub())

    def deliver(self, function: str, event: Any, what: str, ok: Callable[[Any], bool] = lambda _: True) -> Any:
        """Invoke a handler until it succeeds (``ok`` says whether an answer is a success)."""
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self.invoke(function, event)
            except Exception as exc:
                self.failures.append(f"{what}: attempt {attempt} raised {type(exc).__name__}: {exc}")
                continue
            if ok(answer):
                return answer
            self.failures.append(f"{what}: attempt {attempt} answered {str(answer)[:300]}")
        raise UndeliveredError(f"{what} failed {self.attempts} times: {self.failures[-1]}")

    # --- the app ------------------------------------------------------------------------------------------

    def post(self, *events: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/events`` with one event (or a batch), retried whole while the answer is an error."""
        request = load_event("apigw_post_event.json")
        body = events[0] if len(events) == 1 else {"events": list(events)}
        request["body"] = json.dumps(body)
        ids = ", ".join(e["id"] for e in events)
        response = self.deliver(
            "ingest_trigger", request, f"POST /v1/events ({ids})", ok=lambda r: int(r["statusCode"]) < 500
        )
        assert int(response["statusCode"]) == 202, response
        answer: dict[str, Any] = json.loads(response["body"])
        return answer

    def http(
        self,
        function: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        authorizer: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request through API Gateway (REST proxy event) to a function: its status and its body
        (parsed when JSON). ``body`` is sent as JSON, or as is when it is a string; ``authorizer`` is the
        context the authorizer answered (none: the request has no authorizer context)."""
        request = load_event("apigw_post_event.json")
        request.update(
            httpMethod=method,
            path=path,
            resource=path,
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
            body=body if isinstance(body, str) or body is None else json.dumps(body),
        )
        if isinstance(body, str):
            request["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
            request["multiValueHeaders"]["Content-Type"] = ["application/x-www-form-urlencoded"]
        request["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=path)
        if authorizer is not None:
            request["requestContext"]["authorizer"] = authorizer
        response = self.invoke(function, request)
        text = response.get("body") or ""
        content_type = (response.get("multiValueHeaders") or {}).get("Content-Type", [""])[0]
        return int(response["statusCode"]), json.loads(text) if content_type == "application/json" else text

    def keyed(
        self,
        workspace: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        scopes: str = "admin",
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One API request with the authorizer's context of a key of ``workspace`` (``""``: the root key, with
        ``scopes="root"``), to manage_api (ingest_trigger for ``POST /v1/events``): its status and JSON body."""
        function = "ingest_trigger" if path == "/v1/events" else "manage_api"
        context = {"workspace": workspace, "scopes": scopes, "key_id": "k_test"}
        return self.http(function, method, path, body, query=query, authorizer=context)

    # --- EventBridge Scheduler ----------------------------------------------------------------------------

    def fire_next(self) -> bool:
        """Fire the earliest schedule, the clock moved on to its time if it is not due yet; False if none."""
        schedules = self.stack.schedules()
        if not schedules:
            return False
        schedule = min(schedules, key=_due)
        due = _due(schedule)
        now = self.stack.clock.now()
        if due > now:
            self.stack.clock.offset += due - now
        name, group = schedule["Name"], schedule["GroupName"]
        self.deliver("evaluate_step", schedule["Input"], f"schedule {name}")
        # ActionAfterCompletion DELETE: the schedule goes once its target took the event (unless it was moved
        # to a new time and input meanwhile, which makes it a schedule still to fire).
        current = [s for s in self.stack.schedules() if s["Name"] == name]
        if current and current[0]["Target"]["Input"] == schedule["Target"]["Input"]:
            self.stack.scheduler.delete_schedule(Name=name, GroupName=group)
        return True

    # --- the email queue ----------------------------------------------------------------------------------

    def drain(self) -> bool:
        """Hand the queued email requests to send_email until the queue is empty; False if it was empty."""
        handed = False
        while True:
            event = receive_event(self.stack)
            if not event["Records"]:
                return handed
            handed = True
            what = f"email messages {[r['messageId'][:8] for r in event['Records']]}"
            try:
                answer = self.invoke("send_email", event)
                failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            except Exception as exc:
                self.failures.append(f"{what}: raised {type(exc).__name__}: {exc}")
                failed = {r["messageId"] for r in event["Records"]}
            queue = self.stack.settings.email_queue_url
            for record in event["Records"]:
                if record["messageId"] not in failed:
                    self.stack.sqs.delete_message(QueueUrl=queue, ReceiptHandle=record["receiptHandle"])
                    continue
                received = int(record["attributes"]["ApproximateReceiveCount"])
                self.failures.append(f"{what}: {record['messageId'][:8]} comes back (receive {received})")
                if received >= self.attempts:
                    raise UndeliveredError(f"email message failed {received} times: {record['body'][:300]}")
                self.stack.sqs.change_message_visibility(
                    QueueUrl=queue, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )

    # --- SES and SNS --------------------------------------------------------------------------------------

    def publish(self) -> bool:
        """SES's events for each email accepted since the last call, through SNS; False if there were none."""
        if self.published == len(self.ses_sends):
            return False
        while self.published < len(self.ses_sends):
            sent = self.ses_sends[self.published]
            self.published += 1
            outcome = "Bounce" if sent.recipient.lower() in self.bounces else "Delivery"
            for kind in (outcome,):
                record = self.ses_record(sent, kind)
                self._notifications += 1
                notification = sns_event(record, message_id=f"95df01b4-ee98-5cb9-9903-4c22{self._notifications:08d}")
                self.deliver("stats_webhook", notification, f"SES {kind} of {sent.recipient} ({sent.tags.get('step')})")
        return True

    def ses_record(self, sent: SesSend, kind: str) -> dict[str, Any]:
        """The event-publishing record SES makes for an email it accepted (tags and ids from the request)."""
        tags = sent.tags
        message = EmailRecord(
            workspace=tags["workspace"],
            automation_id=tags["automation"],
            version=int(tags.get("version") or 0),
            run_id=tags["run"],
            step=tags["step"],
            message_id=tags["message"],
            address=sent.recipient,
            type=tags.get("type", "transactional"),
            test=tags.get("test") == "true",
            subject=str(sent.mime()["Subject"]),
            ses_message_id=sent.ses_message_id,
            state="sent",
            created_at=self.stack.clock.now(),
            updated_at=self.stack.clock.now(),
        )
        return feedback.simulated_record(
            message,
            kind,
            self.stack.clock.now(),
            sender=str(sent.params["FromEmailAddress"]),
            configuration_set=str(sent.params.get("ConfigurationSetName") or ""),
        )

    # --- all of it ----------------------------------------------------------------------------------------

    def settle(self, *, schedules: bool = True) -> None:
        """Let AWS do its part until nothing is left: queue, feedback, then due schedules (clock moving on)."""
        while self.drain() or self.publish() or (schedules and self.fire_next()):
            pass


def _due(schedule: Mapping[str, Any]) -> datetime:
    found = due_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
    assert found is not None, schedule["ScheduleExpression"]
    return found
