"""Settings for tests that build them by hand: every setting without a default given (the names of a test stack,
and "" for the queue, the dead-letter queue and the configuration set, which such tests do without), changes on
top; and the environment that says the same, for the tests that read settings from one."""

from __future__ import annotations

from typing import Any

from automations.settings import ENVIRONMENT, Settings

REQUIRED: dict[str, Any] = {
    "automations_table": "automations-automations",
    "events_table": "automations-events",
    "runs_table": "automations-runs",
    "state_table": "automations-state",
    "messages_table": "automations-messages",
    "stats_table": "automations-stats",
    "contacts_table": "automations-contacts",
    "actions_table": "automations-actions",
    "keys_table": "automations-keys",
    "workspaces_table": "automations-workspaces",
    "email_queue_url": "",
    "schedule_group": "automations",
    "scheduler_role_arn": "arn:aws:iam::123456789012:role/automations-scheduler",
    "evaluate_step_arn": "arn:aws:lambda:us-east-1:123456789012:function:automations-evaluate-step",
    "scheduler_dlq_arn": "",
    "configuration_set": "",
    "region": "us-east-1",
}

#: A deployed function's environment: every variable the settings require, set.
ENVIRON: dict[str, str] = {
    **{variable: str(REQUIRED[field]) for variable, field in ENVIRONMENT.items() if REQUIRED.get(field)},
    "EMAIL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/automations-email",
    "SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:automations-scheduler-dlq",
    "CONFIGURATION_SET": "automations",
}


def settings_with(**changes: Any) -> Settings:
    """Settings with every required field given, and ``changes``."""
    return Settings(**{**REQUIRED, **changes})
