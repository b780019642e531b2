"""send_email: the email queue's consumer. Each record is one rendered email request; each recipient is sent
at most once (see ``automations.services.sending``). A record SES could not take now is reported as a batch
item failure and kept invisible for a backoff delay. A record that is not an email request (not JSON, or not
of the expected shape) is logged, counted and reported as a batch item failure too: after the queue's
retries it lands in the dead-letter queue (alarmed) with its body, never dropped. The other records of the
batch are processed either way.

Powertools' batch processor parses each record with :class:`EmailQueueRecord` (the SQS record, its body an
:class:`~automations.services.sending.EmailMessage`) before the record handler sees it; a record the model
refuses is the batch item failure of a message that is not an email request. Each record's log lines carry
its SQS message id as their correlation id.

Sends are paced to the stack's share of the SES sending rate, and a recipient is taken only while one more
SES call fits in the invocation's remaining time: the records (and recipients) left when time runs short are
reported as batch item failures and come back, instead of being cut off mid-send by the function's timeout.
"""

# No ``from __future__ import annotations`` here: the record model is built in this module (on first use), which may
# be loaded by its path (the local stack, the tests), where postponed annotations could not be resolved.
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from automations import settings as stack_settings
from automations.observability import logger, metrics
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    ExceptionInfo,
    FailureResponse,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json, ValidationError

if TYPE_CHECKING:
    from automations.services import sending
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

# Every email carries a signed unsubscribe link: a function deployed without the secret fails at start.
stack_settings.require("UNSUBSCRIBE_SECRET_ARN")

_METRICS = {
    "sent": "EmailsSent",
    "skipped": "EmailsSuppressed",
    "failed": "EmailsFailed",
    "unknown": "EmailsUnknown",
    "done": "EmailsAlreadyHandled",
}


#: The name of the record model, which its validation errors carry as their title.
RECORD_MODEL = "EmailQueueRecord"


@functools.cache
def record_model() -> "type[SqsRecordModel]":
    """The model of a record of the email queue, built on first use (with the services it reads)."""
    from automations.services import sending
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

    class EmailQueueRecord(SqsRecordModel):
        """A record of the email queue: its body is the JSON of an email request (``EmailRequest.as_message()``)."""

        body: Json[sending.EmailMessage]

    return EmailQueueRecord


def __getattr__(name: str) -> Any:
    if name == RECORD_MODEL:
        return record_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class EmailBatchProcessor(BatchProcessor):
    """Powertools' batch processor for the email queue: a record :func:`record_model` refuses fails, and is
    logged and counted first."""

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        error = exception[1]
        if isinstance(error, ValidationError) and error.title == RECORD_MODEL:
            _refused(record, error)
        return super().failure_handler(record, exception)


def _refused(record: SQSRecord, error: ValidationError) -> None:
    from automations.services import sending

    # No retry can fix it, but it is not ours to delete: it goes back, then to the dead-letter queue.
    attributes = record.raw_event.get("attributes") or {}  # the record itself may be what the model refused
    logger.set_correlation_id(record.message_id)
    logger.error(
        "invalid email message kept for the dead-letter queue",
        extra={
            "message_id": record.message_id,
            "reason": sending.reason_of(error),
            "receive_count": attributes.get("ApproximateReceiveCount"),
        },
    )
    metrics.add_metric(name="EmailMessagesInvalid", unit="Count", value=1)


def _count(deliveries: "list[sending.Delivery]", test: bool) -> None:
    if test:
        return
    for delivery in deliveries:
        metrics.add_metric(name=_METRICS.get(delivery.state, "EmailsOther"), unit="Count", value=1)


def _seconds_left(context: LambdaContext | None) -> Callable[[], float] | None:
    if context is None:
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000


def record_handler(record: Any, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """One record, parsed by :func:`record_model`: its email request sent to each recipient."""
    from automations.ports import UnknownWorkspaceError
    from automations.services import sending
    from automations.services.deps import get_deps

    logger.set_correlation_id(record.messageId)
    request = record.body.request()
    try:
        deps = get_deps(request.workspace)  # the workspace's stores, sender and unsubscribe links
    except UnknownWorkspaceError as exc:
        # No retry can make the workspace exist: it goes back, then to the dead-letter queue (alarmed).
        logger.error(
            "email message of an unknown workspace", extra={"message_id": record.messageId, "reason": str(exc)}
        )
        metrics.add_metric(name="EmailMessagesInvalid", unit="Count", value=1)
        raise
    try:
        deliveries = sending.send_request(
            deps, request, deps.clock.now(), pace=sending.pacer(deps), time_left=_seconds_left(lambda_context)
        )
    except sending.OutOfTimeError as exc:
        # Not taken (or not finished): it comes back after the queue's visibility timeout.
        logger.warning(
            "email message left for a later invocation",
            extra={"message_id": record.messageId, "reason": str(exc), "handled": len(exc.deliveries)},
        )
        _count(exc.deliveries, request.test)
        metrics.add_metric(name="EmailMessagesDeferred", unit="Count", value=1)
        raise
    except sending.TransientSendError as exc:
        receive_count = int(record.attributes.ApproximateReceiveCount or 1)
        delay = sending.postpone(deps, record.receiptHandle, receive_count, record.eventSourceARN)
        logger.warning(
            "email message goes back to the queue",
            extra={
                "message_id": record.messageId,
                "reason": exc.reason,
                "receive_count": receive_count,
                "delay": delay,
            },
        )
        _count(exc.deliveries, request.test)
        metrics.add_metric(name="EmailsThrottled", unit="Count", value=1)
        raise
    _count(deliveries, request.test)
    return {"status": "processed", "deliveries": [d.as_dict() for d in deliveries]}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # One processor per invocation: it holds the batch it works on (its records, successes and failures).
    processor = EmailBatchProcessor(EventType.SQS, model=record_model(), raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
