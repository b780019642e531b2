"""EventBridge Scheduler: one-time schedules that call ``evaluate_step`` back when a delay is over.

Schedules go by the names of :func:`automations.ports.schedule_name`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.observability import logger
from automations.settings import Settings


def at_expression(moment: datetime) -> str:
    """``at(yyyy-mm-ddThh:mm:ss)`` in UTC, rounded up to the next second so it never fires early."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({utc.strftime('%Y-%m-%dT%H:%M:%S')})"


@dataclass
class Scheduler:
    """Creates and deletes the stack's one-time schedules in its schedule group."""

    client: Any
    settings: Settings

    def _definition(self, due_at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        """Everything of a schedule but its name: a one-time call of ``evaluate_step`` with the payload."""
        target: dict[str, Any] = {
            "Arn": self.settings.evaluate_step_arn,
            "RoleArn": self.settings.scheduler_role_arn,
            "Input": json.dumps(payload, separators=(",", ":")),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
        }
        if self.settings.scheduler_dlq_arn:
            target["DeadLetterConfig"] = {"Arn": self.settings.scheduler_dlq_arn}
        return {
            "GroupName": self.settings.schedule_group,
            "ScheduleExpression": at_expression(due_at),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "State": "ENABLED",
            "Target": target,
        }

    def create(self, name: str, due_at: datetime, payload: dict[str, Any]) -> bool:
        """Create a schedule; False when one of that name already exists (a retry), which is fine."""
        try:
            self.client.create_schedule(Name=name, **self._definition(due_at, payload))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConflictException":
                logger.info("schedule already exists", extra={"schedule": name})
                return False
            raise
        return True

    def replace(self, name: str, due_at: datetime, payload: dict[str, Any], *, existing: bool = False) -> None:
        """Create the schedule, or move an existing one to a new time and input (after_silence): one request when
        ``existing`` says rightly whether it is there."""
        if not existing and self.create(name, due_at, payload):
            return
        try:
            self.client.update_schedule(Name=name, **self._definition(due_at, payload))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self.create(name, due_at, payload)  # not there (it fired and was deleted, or was never made)

    def delete(self, name: str) -> bool:
        """Delete a schedule; False when it was already gone (fired, or deleted before)."""
        try:
            self.client.delete_schedule(Name=name, GroupName=self.settings.schedule_group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise
        return True
