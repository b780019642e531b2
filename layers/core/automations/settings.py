"""Settings of the stack, read once from the environment that the SAM template defines."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

#: Every environment variable the code reads, and the setting it fills. The template test checks that
#: each function that reads one has it defined.
ENVIRONMENT = {
    "WORKSPACE": "workspace",
    "RUN_STATE_FORMAT": "run_state_format",
    "AUTOMATIONS_TABLE": "automations_table",
    "EVENTS_TABLE": "events_table",
    "RUNS_TABLE": "runs_table",
    "STATE_TABLE": "state_table",
    "MESSAGES_TABLE": "messages_table",
    "STATS_TABLE": "stats_table",
    "CONTACTS_TABLE": "contacts_table",
    "ACTIONS_TABLE": "actions_table",
    "KEYS_TABLE": "keys_table",
    "WORKSPACES_TABLE": "workspaces_table",
    "EMAIL_QUEUE_URL": "email_queue_url",
    "WEBHOOK_QUEUE_URL": "webhook_queue_url",
    "WEBHOOK_SECRET_PREFIX": "webhook_secret_prefix",
    "WEBHOOKS_ALLOW_LOOPBACK": "webhooks_allow_loopback",
    "SCHEDULE_GROUP": "schedule_group",
    "SCHEDULER_ROLE_ARN": "scheduler_role_arn",
    "EVALUATE_STEP_ARN": "evaluate_step_arn",
    "SCHEDULER_DLQ_ARN": "scheduler_dlq_arn",
    "EVENT_BUS_NAME": "event_bus_name",
    "SENDER_ADDRESS": "sender_address",
    "ALLOWED_SENDERS": "allowed_senders",
    "CONFIGURATION_SET": "configuration_set",
    "UNSUBSCRIBE_BASE_URL": "unsubscribe_base_url",
    "UNSUBSCRIBE_SECRET_ARN": "unsubscribe_secret_arn",
    "ROOT_SECRET_ARN": "root_secret_arn",
    "MAX_SEND_RATE": "max_send_rate",
    "SENDING_CONCURRENCY": "sending_concurrency",
    "MAX_EVENT_BYTES": "max_event_bytes",
    "AUTOMATION_CACHE_SECONDS": "automation_cache_seconds",
    "MIN_SENDS_FOR_REPUTATION": "min_sends_for_reputation",
    "HARD_BOUNCE_RATE_LIMIT": "hard_bounce_rate_limit",
    "COMPLAINT_RATE_LIMIT": "complaint_rate_limit",
    "AWS_ENDPOINT_URL": "endpoint_url",
    "AWS_REGION": "region",
}


class Settings(BaseModel):
    """The stack's configuration; one instance per process, from :func:`get_settings`.

    A field without a default names a resource of the stack that the template gives every function: it has no
    stand-in value, and settings without it are refused, naming its variable (read from the environment, a
    variable that is set but empty counts as missing).
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    workspace: str = "default"
    automations_table: str
    events_table: str
    runs_table: str
    state_table: str
    messages_table: str
    stats_table: str
    contacts_table: str
    actions_table: str
    keys_table: str
    workspaces_table: str
    email_queue_url: str
    #: The queue of webhook calls (the functions that run steps send to it).
    webhook_queue_url: str = ""
    #: The name prefix of the workspaces' webhook signing secrets in Secrets Manager (``<prefix>/<workspace>``).
    webhook_secret_prefix: str = "automations/webhook-secret"
    #: Whether webhooks may call loopback addresses, over plain http too (the local stack only).
    webhooks_allow_loopback: bool = False
    schedule_group: str
    scheduler_role_arn: str
    evaluate_step_arn: str
    scheduler_dlq_arn: str
    configuration_set: str
    #: The event bus of the stack (no code sends to it yet).
    event_bus_name: str = ""
    sender_address: str = ""
    #: The display name of the sender address ("" for the address alone).
    sender_name: str = ""
    #: The workspace's default time zone and locale (a contact's own win), and the brand on the preferences page.
    timezone: str = "UTC"
    locale: str = "en"
    brand_name: str = ""
    #: Other From addresses an email's ``from`` may use, comma-separated; ``*`` matches any characters (as the
    #: ``ses:FromAddress`` condition of the functions' SES permission does).
    allowed_senders: str = ""
    unsubscribe_base_url: str = ""
    unsubscribe_secret_arn: str = ""
    #: The Secrets Manager secret whose value is the stack's root key (the authorizer alone reads it).
    root_secret_arn: str = ""
    #: Emails per second for the whole stack: 0 is the account's SES maximum send rate (read from SES); None
    #: (the variable not set: tests, tools) sends without pacing.
    max_send_rate: float | None = None
    #: The most send_email instances at once: each one sends at ``max_send_rate / sending_concurrency``.
    sending_concurrency: int = 1
    max_event_bytes: int = 64 * 1024
    automation_cache_seconds: float = 5.0
    #: How runs' states are saved: ``packed`` (compressed, about half the write units) or ``plain`` (JSON, what
    #: code from before packed states reads: for the first deploy of an upgrade, see docs/operations.md).
    run_state_format: Literal["packed", "plain"] = "packed"
    min_sends_for_reputation: int = 100
    hard_bounce_rate_limit: float = 0.05
    complaint_rate_limit: float = 0.001
    endpoint_url: str | None = None
    region: str

    @model_validator(mode="before")
    @classmethod
    def _required_are_given(cls, values: Any, info: ValidationInfo) -> Any:
        """Every field without a default, and the variables a function requires (``context["required"]``, set and
        not empty): one error naming each variable that is missing."""
        if not isinstance(values, Mapping):
            return values
        missing = [name for name, field in ENVIRONMENT.items() if field in REQUIRED_FIELDS and field not in values]
        also = (info.context or {}).get("required", ())
        missing += [name for name in also if name not in missing and not values.get(ENVIRONMENT[name])]
        if missing:
            reasons = "; ".join(f"{name} is not set ({REQUIRED_REASONS.get(name, 'required')})" for name in missing)
            them = "it" if len(missing) == 1 else "them"
            raise ValueError(f"{reasons}: define {them} in infra/template.yaml for this function")
        return values

    @field_validator("unsubscribe_secret_arn", "root_secret_arn")
    @classmethod
    def _an_arn_not_a_value(cls, value: str, info: ValidationInfo) -> str:
        # Only the secret's ARN belongs in the environment: never its value.
        if value and not (value.startswith("arn:") and ":secretsmanager:" in value):
            variable = next(name for name, field in ENVIRONMENT.items() if field == info.field_name)
            raise ValueError(f"{variable} must be the ARN of a Secrets Manager secret")
        return value

    @field_validator("max_send_rate")
    @classmethod
    def _not_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("MAX_SEND_RATE must be 0 (the account's rate) or a positive number of emails per second")
        return value

    @field_validator("sending_concurrency")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("SENDING_CONCURRENCY must be at least 1")
        return value

    def for_workspace(
        self,
        workspace: str,
        *,
        sender_address: str,
        sender_name: str,
        timezone: str,
        locale: str,
        brand_name: str,
        hard_bounce_rate_limit: float | None = None,
        complaint_rate_limit: float | None = None,
    ) -> Settings:
        """The settings of one workspace of the stack: its sender, defaults and limits over the stack's.

        A workspace may send from its own address and from the stack's allowed senders of the same domain (the
        functions' SES permission allows no other), never from another workspace's address.
        """
        domain = sender_address.rpartition("@")[2].lower()
        allowed = [s for s in self.senders() if s.rpartition("@")[2].lower() == domain]
        return self.model_copy(
            update={
                "workspace": workspace,
                "sender_address": sender_address,
                "sender_name": sender_name,
                "timezone": timezone,
                "locale": locale,
                "brand_name": brand_name,
                "allowed_senders": ",".join(allowed),
                # a workspace's limits are above 0 when given (Workspace.new refuses others): None is the stack's
                "hard_bounce_rate_limit": hard_bounce_rate_limit or self.hard_bounce_rate_limit,
                "complaint_rate_limit": complaint_rate_limit or self.complaint_rate_limit,
            }
        )

    def senders(self) -> tuple[str, ...]:
        """The From addresses emails may use: the sender address, then the allowed senders (patterns)."""
        listed = [self.sender_address, *self.allowed_senders.split(",")]
        return tuple(dict.fromkeys(s.strip() for s in listed if s.strip()))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], required: Collection[str] = ()) -> Settings:
        """The settings the environment defines; ``required`` names variables that must be set (and not empty)."""
        unknown = sorted(set(required) - set(ENVIRONMENT))
        if unknown:
            raise KeyError(f"not a setting: {', '.join(unknown)}")
        values = {field: environ[name] for name, field in ENVIRONMENT.items() if environ.get(name)}
        return cls.model_validate(values, context={"required": tuple(required)})


#: The fields that have no default: every function needs them, and there is nothing to fall back to.
REQUIRED_FIELDS = frozenset(name for name, field in Settings.model_fields.items() if field.is_required())

#: What a required variable names, for the message of a function deployed without it.
REQUIRED_REASONS = {
    "AUTOMATIONS_TABLE": "the name of the automations table",
    "EVENTS_TABLE": "the name of the events table",
    "RUNS_TABLE": "the name of the runs table",
    "STATE_TABLE": "the name of the state table",
    "MESSAGES_TABLE": "the name of the messages table",
    "STATS_TABLE": "the name of the stats table",
    "CONTACTS_TABLE": "the name of the contacts table",
    "ACTIONS_TABLE": "the name of the actions table (tasks and coupon pools)",
    "KEYS_TABLE": "the name of the keys table",
    "WORKSPACES_TABLE": "the name of the workspaces table",
    "EMAIL_QUEUE_URL": "the URL of the email queue",
    "SCHEDULE_GROUP": "the name of the schedule group",
    "SCHEDULER_ROLE_ARN": "the ARN of the role that EventBridge Scheduler invokes evaluate_step as",
    "EVALUATE_STEP_ARN": "the ARN of the evaluate_step function",
    "SCHEDULER_DLQ_ARN": "the ARN of the schedules' dead-letter queue",
    "CONFIGURATION_SET": "the name of the SES configuration set that publishes the email events",
    "AWS_REGION": "the region, which Lambda sets",
    "UNSUBSCRIBE_SECRET_ARN": "the ARN of the Secrets Manager secret that signs and reads unsubscribe links",
    "ROOT_SECRET_ARN": "the ARN of the Secrets Manager secret that holds the stack's root key",
}


def in_lambda(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is a Lambda function (not a test, the CLI or the local stack)."""
    return bool((os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME"))


def require(*variables: str, environ: Mapping[str, str] | None = None) -> None:
    """Called by a function when it starts: in Lambda, fail at once, naming each variable that is missing, when
    one it cannot work without is (every field without a default, and ``variables``). Elsewhere the settings come
    from the tests or the local stack, and a missing one of ``variables`` fails where it is used, with the same
    name."""
    env = os.environ if environ is None else environ
    if in_lambda(env):
        Settings.from_environ(env, required=variables)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings.from_environ(dict(os.environ))
