"""Settings of the stack, read once from the environment that the SAM template defines."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

#: Every environment variable the code reads, and the setting it fills. The template test checks that
#: each function that reads one has it defined.
ENVIRONMENT = {
    "WORKSPACE": "workspace",
    "AUTOMATIONS_TABLE": "automations_table",
    "EVENTS_TABLE": "events_table",
    "RUNS_TABLE": "runs_table",
    "STATE_TABLE": "state_table",
    "MESSAGES_TABLE": "messages_table",
    "STATS_TABLE": "stats_table",
    "CONTACTS_TABLE": "contacts_table",
    "EMAIL_QUEUE_URL": "email_queue_url",
    "SCHEDULE_GROUP": "schedule_group",
    "SCHEDULER_ROLE_ARN": "scheduler_role_arn",
    "EVALUATE_STEP_ARN": "evaluate_step_arn",
    "SCHEDULER_DLQ_ARN": "scheduler_dlq_arn",
    "EVENT_BUS_NAME": "event_bus_name",
    "SENDER_ADDRESS": "sender_address",
    "CONFIGURATION_SET": "configuration_set",
    "UNSUBSCRIBE_BASE_URL": "unsubscribe_base_url",
    "UNSUBSCRIBE_SECRET": "unsubscribe_secret",
    "MAX_EVENT_BYTES": "max_event_bytes",
    "AUTOMATION_CACHE_SECONDS": "automation_cache_seconds",
    "MIN_SENDS_FOR_REPUTATION": "min_sends_for_reputation",
    "HARD_BOUNCE_RATE_LIMIT": "hard_bounce_rate_limit",
    "COMPLAINT_RATE_LIMIT": "complaint_rate_limit",
    "AWS_ENDPOINT_URL": "endpoint_url",
    "AWS_REGION": "region",
}


class Settings(BaseModel):
    """The stack's configuration; one instance per process, from :func:`get_settings`."""

    model_config = ConfigDict(frozen=True)

    workspace: str = "default"
    automations_table: str = "automations-automations"
    events_table: str = "automations-events"
    runs_table: str = "automations-runs"
    state_table: str = "automations-state"
    messages_table: str = "automations-messages"
    stats_table: str = "automations-stats"
    contacts_table: str = "automations-contacts"
    email_queue_url: str = ""
    schedule_group: str = "automations"
    scheduler_role_arn: str = "arn:aws:iam::123456789012:role/automations-scheduler"
    evaluate_step_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:automations-evaluate-step"
    scheduler_dlq_arn: str = ""
    event_bus_name: str = "automations"
    sender_address: str = ""
    configuration_set: str = ""
    unsubscribe_base_url: str = ""
    unsubscribe_secret: str = Field(default="local-unsubscribe-secret", repr=False)
    max_event_bytes: int = 64 * 1024
    automation_cache_seconds: float = 5.0
    min_sends_for_reputation: int = 100
    hard_bounce_rate_limit: float = 0.05
    complaint_rate_limit: float = 0.001
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Settings:
        values = {field: environ[name] for name, field in ENVIRONMENT.items() if environ.get(name)}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    import os

    return Settings.from_environ(dict(os.environ))
