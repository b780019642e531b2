"""The pump's pieces that stand in for AWS: one-time schedules, SQS records and partial batch failures."""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from automations.local.lambdas import FunctionLoadError, FunctionMissingError, Functions
from automations.local.pump import due_time, failed_ids, sqs_record


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


def test_a_function_that_does_not_import_is_reported_not_fatal(tmp_path: Path) -> None:
    write_handler(tmp_path, "broken", "import not_a_module_anywhere\n")
    functions = Functions(tmp_path, region="us-east-1")
    assert functions.available("broken") and not functions.ready("broken")
    with pytest.raises(FunctionLoadError):
        functions.invoke("broken", {})
