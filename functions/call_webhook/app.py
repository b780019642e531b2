"""call_webhook: the webhook queue's consumer. Each record is one webhook call of a run that waits on it (see
``automations.services.webhooks``): one signed attempt, recorded on the run's timeline. A call to be tried again
(5xx, 429, a timeout, a network failure) is kept invisible for its backoff delay and reported as a batch item
failure, so the queue gives it back then; the queue's dead-letter queue (alarmed) gets only what could not be
handled at all (a record that is not a webhook call, a workspace that does not exist). The other records of the
batch are processed either way.
"""

# No ``from __future__ import annotations`` here: the record model is built in this module (on first use), which may
# be loaded by its path (the local stack, the tests), where postponed annotations could not be resolved.
import functools
from typing import TYPE_CHECKING, Any

from automations.observability import logger, metrics
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

#: The name of the record model.
RECORD_MODEL = "WebhookQueueRecord"


@functools.cache
def record_model() -> "type[SqsRecordModel]":
    """The model of a record of the webhook queue, built on first use (with the services it reads)."""
    from automations.services import webhooks
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

    class WebhookQueueRecord(SqsRecordModel):
        """A record of the webhook queue: its body is the JSON of a webhook call (``WebhookCall.as_message()``)."""

        body: Json[webhooks.WebhookMessage]

    return WebhookQueueRecord


def __getattr__(name: str) -> Any:
    if name == RECORD_MODEL:
        return record_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WebhookLaterError(Exception):
    """A call to be made again later: the record goes back to the queue after its delay."""


def record_handler(record: Any, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """One record, parsed by :func:`record_model`: one attempt of its webhook call."""
    from automations.ports import UnknownWorkspaceError
    from automations.services import webhooks
    from automations.services.deps import get_deps

    logger.set_correlation_id(record.messageId)
    call = record.body.call()
    try:
        deps = get_deps(call.workspace)
    except UnknownWorkspaceError as exc:
        logger.error("webhook call of an unknown workspace", extra={"message_id": record.messageId, "reason": str(exc)})
        metrics.add_metric(name="WebhookMessagesInvalid", unit="Count", value=1)
        raise
    attempt = webhooks.deliver(deps, call, deps.clock.now())
    if attempt.state in ("retry", "waiting"):
        try:
            deps.webhook_queue.postpone(record.receiptHandle, attempt.delay, record.eventSourceARN)
        except Exception as exc:  # it comes back after the queue's own visibility timeout anyway
            logger.warning("could not postpone the webhook call", extra={"error": f"{type(exc).__name__}: {exc}"})
        raise WebhookLaterError(f"{attempt.reason}: again in {attempt.delay} s")
    if attempt.state == "stale":
        logger.info("webhook call not made", extra={"run": call.run_id, "step": call.step, "reason": attempt.reason})
    return attempt.as_dict()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = BatchProcessor(EventType.SQS, model=record_model(), raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
