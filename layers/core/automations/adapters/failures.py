"""Which failures a retry may cure: the cloud's (throttling, timeouts, lost replies), never the product's."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from automations.ports import TransientError

#: What the AWS clients behind the adapters raise when a call failed: transient, whatever the call.
CLOUD_FAILURES = (BotoCoreError, ClientError, PynamoDBException)


class CloudUnavailableError(TransientError):
    """An AWS service refused part of a request for now (a partial batch failure): retry the whole."""


def is_transient(exc: BaseException) -> bool:
    """True for a failure of an AWS call: the whole request is retried (every step of it is idempotent).

    The predicate of the AWS adapters (:attr:`automations.ports.Ports.is_transient`): a port's
    :class:`~automations.ports.TransientError`, or any exception of the AWS clients. Anything else (a template
    that broke its bounds, a definition the engine cannot run, a bug) fails the same way on every retry, so it must
    end the one run it belongs to instead of blocking the others.
    """
    return isinstance(exc, (TransientError, *CLOUD_FAILURES))
