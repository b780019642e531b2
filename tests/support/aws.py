"""An AWS account in moto: the template's tables, the email queue and the schedule group, and handlers."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from automations.adapters.clock import Clock
from automations.bootstrap import build_access, build_deps
from automations.services import deps as deps_module
from automations.services.deps import Deps
from automations.settings import Settings
from automations_local.provision import create_tables
from automations_local.template import load_template
from moto import mock_aws

from tests.support.settings import settings_with

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
#: The value of the unsubscribe secret that ``aws_stack`` creates in Secrets Manager.
UNSUBSCRIBE_SECRET = "test-secret"
#: The value of the root key's secret that ``aws_stack`` creates in Secrets Manager.
ROOT_KEY = "test-root-key-0123456789abcdefghijklmnopqrstuvwxyz"
#: The name prefix of the webhook signing secrets: the template's (WEBHOOK_SECRET_PREFIX) with its default Stage.
WEBHOOK_SECRET_PREFIX = "automations/dev/webhook-secret"


class FixedClock(Clock):
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.moment = start

    def now(self) -> datetime:
        return self.moment + self.offset


@dataclass
class Stack:
    deps: Deps
    settings: Settings
    clock: FixedClock
    sqs: Any
    scheduler: Any
    dynamodb: Any

    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule in the group, with its target input parsed."""
        out = []
        paginator = self.scheduler.get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.settings.schedule_group):
            for summary in page["Schedules"]:
                full = self.scheduler.get_schedule(Name=summary["Name"], GroupName=self.settings.schedule_group)
                full["Input"] = json.loads(full["Target"]["Input"])
                out.append(full)
        return out

    def queued_emails(self, delete: bool = True) -> list[dict[str, Any]]:
        """Drain the email queue: every message body, parsed."""
        bodies: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.settings.email_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                if delete:
                    self.sqs.delete_message(
                        QueueUrl=self.settings.email_queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )


def _environment(monkeypatch: Any) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@contextmanager
def provisioned(start: datetime, endpoint_url: str | None = None, **overrides: Any) -> Iterator[Stack]:
    """The template's tables, the email and webhook queues, the schedule group and the secret, settings pointing at
    them and fresh deps, on moto (in process, or the server at ``endpoint_url``)."""
    endpoint = {"endpoint_url": endpoint_url} if endpoint_url else {}
    sqs = boto3.client("sqs", region_name=REGION, **endpoint)
    queue_url = sqs.create_queue(QueueName="automations-test-email")["QueueUrl"]
    webhook_queue_url = sqs.create_queue(QueueName="automations-test-webhook")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="automations-test-scheduler-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    scheduler = boto3.client("scheduler", region_name=REGION, **endpoint)
    scheduler.create_schedule_group(Name="automations-test")
    secrets = boto3.client("secretsmanager", region_name=REGION, **endpoint)
    secret = secrets.create_secret(Name="automations-test-unsubscribe", SecretString=UNSUBSCRIBE_SECRET)
    root = secrets.create_secret(Name="automations-test-root", SecretString=ROOT_KEY)
    boto3.client("events", region_name=REGION, **endpoint).create_event_bus(Name="automations-test")
    values: dict[str, Any] = {
        "event_bus_name": "automations-test",
        "automations_table": "test-automations",
        "events_table": "test-events",
        "runs_table": "test-runs",
        "state_table": "test-state",
        "messages_table": "test-messages",
        "stats_table": "test-stats",
        "contacts_table": "test-contacts",
        "actions_table": "test-actions",
        "keys_table": "test-keys",
        "workspaces_table": "test-workspaces",
        "email_queue_url": queue_url,
        "webhook_queue_url": webhook_queue_url,
        "webhook_secret_prefix": WEBHOOK_SECRET_PREFIX,
        "schedule_group": "automations-test",
        "scheduler_dlq_arn": dlq_arn,
        "sender_address": "hello@acme.example",
        "configuration_set": "automations-test",
        "unsubscribe_base_url": "https://api.acme.example/u",
        "unsubscribe_secret_arn": secret["ARN"],
        "root_secret_arn": root["ARN"],
        "automation_cache_seconds": 0.0,
        "region": REGION,
        **endpoint,
    }
    values.update(overrides)
    settings = settings_with(**values)
    dynamodb = boto3.client("dynamodb", region_name=REGION, **endpoint)
    create_tables(load_template(TEMPLATE), settings, dynamodb)
    clock = FixedClock(start)
    deps = build_deps(settings, the_clock=clock)
    deps_module._current = deps
    deps_module._access = build_access(settings, the_clock=clock)
    try:
        yield Stack(deps, settings, clock, sqs, scheduler, dynamodb)
    finally:
        deps_module._current = None
        deps_module._access = None


@contextmanager
def aws_stack(monkeypatch: Any, start: datetime, **overrides: Any) -> Iterator[Stack]:
    """Inside ``mock_aws``: resources created from the template, settings pointing at them, fresh deps."""
    _environment(monkeypatch)
    with mock_aws(), provisioned(start, **overrides) as stack:
        yield stack


def load_handler(name: str) -> ModuleType:
    """The handler module of ``functions/<name>/app.py`` (each function has its own ``app``)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LambdaContextStub:
    """The attributes of a Lambda context that Powertools reads."""

    function_name = "automations-test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:automations-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000
