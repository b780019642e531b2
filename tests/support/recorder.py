"""Every AWS request a handler makes, seen where every botocore client sends it, and attributed to the handler.

boto3's clients, pynamodb's shared connection and Powertools' parameter providers all send their requests
through ``botocore.client.BaseClient._make_api_call``. :class:`AwsTap` wraps that method for one test: each
request made while a handler of ``functions/<name>/app.py`` is on the stack becomes an :class:`AwsCall`
(numbered, with the function's folder name), is shown to the observers, and may be made to fail
(:class:`Fault`): before it reaches AWS, or after AWS applied it with its reply lost. Requests made by the
test itself (setting a stack up, reading a table) are not counted and never fail.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from tests.support.aws import ROOT

FUNCTIONS = ROOT / "functions"
_PREFIX = str(FUNCTIONS) + "/"

Mode = Literal["before", "after"]


@dataclass(frozen=True)
class AwsCall:
    """One request: its rank among the handlers' requests, the handler making it, and what it asks."""

    index: int
    function: str  # the folder under functions/: ingest_trigger, evaluate_step, send_email...
    service: str  # botocore's service name: dynamodb, sqs, scheduler, sesv2, secretsmanager...
    operation: str  # PutItem, SendMessageBatch, CreateSchedule...
    params: Mapping[str, Any]
    region: str

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"

    def describe(self) -> str:
        return f"#{self.index} {self.function} {self.name}{_target(self)}"


def _target(call: AwsCall) -> str:
    """A short hint of what a request touches (a table, the items of a transaction, a schedule)."""
    params = call.params
    if "TransactItems" in params:
        parts = []
        for item in params["TransactItems"]:
            for kind, body in item.items():
                parts.append(f"{kind} {body.get('TableName')}")
        return f" [{', '.join(parts)}]"
    for key in ("TableName", "Name", "QueueUrl", "SecretId"):
        if key in params:
            return f" [{params[key]}]"
    return ""


@dataclass
class Fault:
    """Make the ``at``-th request fail: ``before`` it is sent (never applied) or ``after`` (applied, reply lost).

    ``name`` counts only the requests of that name (``sesv2:SendEmail``); ``error`` replaces the default
    failure: a connection that could not be made (before), a read that timed out (after).
    """

    at: int
    mode: Mode
    error: Callable[[AwsCall], Exception] | None = None
    name: str | None = None

    def exception(self, call: AwsCall, endpoint: str) -> Exception:
        if self.error is not None:
            return self.error(call)
        failure: Exception
        if self.mode == "before":
            failure = EndpointConnectionError(endpoint_url=endpoint)
        else:
            failure = ReadTimeoutError(endpoint_url=endpoint)
        return failure


def throttled(call: AwsCall) -> Exception:
    """A refusal of the service: too many requests (a ClientError, as AWS answers it)."""
    response: Any = {
        "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
        "ResponseMetadata": {"HTTPStatusCode": 429},
    }
    refusal: Exception = ClientError(response, call.operation)
    return refusal


def running_function(frame: FrameType | None) -> str | None:
    """The folder of the handler (``functions/<name>/app.py``) that is on the stack, if one is."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_PREFIX) and filename.endswith("/app.py"):
            return filename[len(_PREFIX) :].split("/", 1)[0]
        frame = frame.f_back
    return None


Observer = Callable[[AwsCall, Any], None]


@dataclass
class AwsTap:
    """The handlers' AWS requests of one test: counted, observed, and failed on demand."""

    calls: list[AwsCall] = field(default_factory=list)
    fault: Fault | None = None
    fired: AwsCall | None = None
    _matched: int = 0
    #: Called with each request before it is sent (the response is None then).
    on_request: list[Observer] = field(default_factory=list)
    #: Called with each request that AWS applied, and its response.
    on_applied: list[Observer] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = BaseClient._make_api_call
        tap = self

        def _make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = running_function(sys._getframe(1))
            if function is None:
                return original(client, operation_name, api_params)
            return tap._intercept(original, client, function, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", _make_api_call)

    def reset(self, fault: Fault | None = None) -> None:
        """Forget the requests counted so far; the next ones may meet ``fault``."""
        self.calls = []
        self.fault, self.fired, self._matched = fault, None, 0

    @contextmanager
    def failing(self, fault: Fault) -> Iterator[Fault]:
        """Inject one fault in the requests made inside the block (counted from the block's start)."""
        self.fault, self.fired, self._matched = fault, None, 0
        try:
            yield fault
        finally:
            self.fault = None

    def _intercept(
        self, original: Any, client: BaseClient, function: str, operation: str, params: dict[str, Any]
    ) -> Any:
        call = AwsCall(
            index=len(self.calls) + 1,
            function=function,
            service=client.meta.service_model.service_name,
            operation=operation,
            params=params,
            region=client.meta.region_name,
        )
        self.calls.append(call)
        for observer in self.on_request:
            observer(call, None)
        fault = None
        if self.fault is not None and self.fault.name in (None, call.name):
            self._matched += 1
            fault = self.fault if self._matched == self.fault.at else None
        if fault is not None:
            self.fired = call
            if fault.mode == "before":
                raise fault.exception(call, client.meta.endpoint_url)
        try:
            response = original(client, operation, params)
        except Exception:
            if fault is not None:  # applied (as a refusal), and that answer is lost too
                raise fault.exception(call, client.meta.endpoint_url) from None
            raise
        for observer in self.on_applied:
            observer(call, response)
        if fault is not None:
            raise fault.exception(call, client.meta.endpoint_url)
        return response
