"""The shapes of the API's bodies, as pydantic models: validation in, OpenAPI document out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from automations.addresses import EmailAddress
from automations.events import MAX_BATCH, TriggerEvent


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldErrorOut(BaseModel):
    loc: str = Field(description="Where: steps[2].then[0].send_email.subject, body.name, query.from, ...")
    message: str


class ErrorOut(BaseModel):
    message: str
    errors: list[FieldErrorOut] | None = Field(default=None, description="Every problem, each with its place.")
    reasons: list[str] | None = Field(default=None, description="Why an automation cannot be activated.")
    request_id: str | None = Field(
        default=None, description="A server error's request id: the correlation id of the request's log lines."
    )


class AutomationSummary(BaseModel):
    id: str
    name: str
    status: str = Field(description="draft | active | inactive")
    version: int = Field(description="The current version; every replace makes a new one.")
    trigger: str = Field(description="The trigger's event type.")
    description: str | None = None
    status_reason: str | None = Field(default=None, description="Why it was last deactivated, if it was.")
    created_at: str
    updated_at: str


class AutomationOut(AutomationSummary):
    definition: dict[str, Any] = Field(description="The definition of the version asked for (the current one).")
    definition_version: int


class AutomationList(BaseModel):
    automations: list[AutomationSummary]


class VersionOut(BaseModel):
    version: int
    created_at: str
    name: str
    trigger: str
    current: bool


class VersionList(BaseModel):
    automation_id: str
    versions: list[VersionOut]


class RenameIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class DuplicateIn(_In):
    id: str | None = Field(default=None, description="The copy's id (default: <id>-copy, <id>-copy-2, ...).")
    name: str | None = Field(default=None, max_length=200, description='Default: "Copy of <name>".')


class TemplateWarning(BaseModel):
    loc: str = Field(description="The step, e.g. steps[0]")
    message: str


class Validated(BaseModel):
    valid: bool = Field(description="Always true: an invalid definition is a 422 naming every wrong place.")
    definition: dict[str, Any] = Field(description="The definition as it would be stored (step ids derived).")
    activation_problems: list[str] = Field(description="What would stop it from being activated; empty if nothing.")
    warnings: list[TemplateWarning] = Field(
        default_factory=list,
        description="With a sample event: each template value it leaves empty (it renders as nothing), at its step.",
    )


class Deleted(BaseModel):
    id: str
    deleted: bool
    runs_ended: int = Field(description="Waiting runs that were ended, each with the reason 'automation deleted'.")


class Rates(BaseModel):
    delivery_rate: float | None = Field(description="delivered / sent")
    open_rate: float | None = Field(description="unique opens / delivered")
    click_rate: float | None = Field(description="unique clicks / delivered")
    bounce_rate: float | None = Field(description="bounced (hard and soft) / sent")
    hard_bounce_rate: float | None = Field(description="hard bounces / sent")
    complaint_rate: float | None = Field(description="complained / delivered")
    unsubscribe_rate: float | None = Field(description="unsubscribed / delivered")


class Figures(BaseModel):
    """Counters of an automation or a step; rates are null when their denominator is 0."""

    model_config = ConfigDict(extra="allow")

    runs_started: int
    runs_completed: int
    runs_cancelled: int
    runs_failed: int
    skipped: int = Field(
        description="skipped_filter + skipped_frequency + skipped_run_key + skipped_no_person + skipped_no_run_key"
    )
    skipped_filter: int
    skipped_frequency: int
    skipped_run_key: int
    skipped_no_person: int = Field(default=0, description="Events without the person's field (automation.person)")
    skipped_no_run_key: int = Field(default=0, description="Events without the run_key's field")
    sent: int
    delivered: int
    opened: int
    opened_unique: int
    clicked: int
    clicked_unique: int
    bounced: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    unsubscribed: int
    suppressed: int
    rates: Rates


class StepFigures(Figures):
    step: str
    kind: str | None = Field(description="delay | if | send_email; null for a step of an earlier version")
    loc: str | None


class DayFigures(Figures):
    day: str = Field(description="The day (UTC), YYYY-MM-DD.")


class StatsOut(BaseModel):
    automation_id: str
    version: int
    from_: str | None = Field(alias="from")
    to: str | None
    totals: Figures
    steps: list[StepFigures]
    days: list[DayFigures] | None = Field(
        default=None, description="With interval=day: the automation's figures of each day of the range, oldest first."
    )


class RunEventOut(BaseModel):
    id: str | None
    type: str | None


class RunSummary(BaseModel):
    id: str
    automation_id: str
    version: int
    person: str | None
    run_key: str | None
    status: str = Field(description="running | waiting | completed | skipped | cancelled | failed")
    position: str | None = Field(description="The step the run waits on, while waiting.")
    due_at: str | None
    started_at: str
    updated_at: str
    ended_at: str | None
    end_reason: str | None
    event: RunEventOut = Field(description="The trigger event that started the run.")
    emails: int = Field(description="Emails requested so far.")


class RunList(BaseModel):
    runs: list[RunSummary]


class DecisionOut(BaseModel):
    at: str
    kind: str = Field(description="started, branch, wait, resumed, past, email, email_skipped, finished, ...")
    reason: str
    step: str | None
    details: dict[str, Any]


class MessageOut(BaseModel):
    message_id: str
    step: str
    address: str
    type: str
    subject: str | None
    test: bool
    state: str = Field(description="sending | retrying | sent | unknown | failed | skipped")
    status: str | None = Field(description="SES's latest: delivered, opened, clicked, bounced, complained, ...")
    reason: str | None
    bounce_type: str | None
    ses_message_id: str | None
    created_at: str | None
    sent_at: str | None
    delivered_at: str | None
    opened_at: str | None
    clicked_at: str | None
    opens: int
    clicks: int


class RunDetail(RunSummary):
    timeline: list[DecisionOut]
    context: dict[str, Any] = Field(description="What conditions and templates see: event, contact, data, run.")
    messages: list[MessageOut] = Field(description="The run's emails, one per recipient, with SES's feedback.")


class TemplateOut(BaseModel):
    id: str
    title: str
    description: str
    category: str
    trigger: str
    name: str
    definition: dict[str, Any]
    sample_event: dict[str, Any] | None


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class SuppressionOut(BaseModel):
    address: str
    kind: str = Field(description="bounce | complaint | unsubscribe")
    scope: str = Field(
        description="all (every type of mail) | promotional | non_essential (all but business-critical mail)"
    )
    reason: str
    source: str
    automation_id: str | None
    at: str


class AddressOut(BaseModel):
    address: str
    receives: dict[str, bool] = Field(description="Per email type (promotional, transactional, business_critical).")


class ProfileOut(BaseModel):
    id: str = Field(description="The person's id (the events' contact.id).")
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Lisbon.")
    locale: str | None = Field(default=None, description="BCP 47 language tag, e.g. de-CH.")
    labels: list[str] = Field(description="The person's labels, sorted.")
    points: int = Field(description="The points balance (never below 0).")
    badges: list[str] = Field(description="The person's badges, sorted.")
    lead_status: str | None = None
    attributes: dict[str, Any] = Field(description="Fields of your own (at most 16 KB).")
    subscriptions: dict[str, bool] = Field(description="promotional and transactional: whether the person gets them.")
    created_at: str
    updated_at: str
    version: int = Field(description="Increases with every change.")


class ContactChangeOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="contact.label_added, contact.points_changed, ...: the type of its event.")
    event: str = Field(description="The id of the event the change emitted (through the bus, to ingest).")


class ContactChangedOut(BaseModel):
    profile: ProfileOut
    changes: list[ContactChangeOut] = Field(description="What the change did, each change with its event.")


class ContactListOut(BaseModel):
    contacts: list[ProfileOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last one.")


class ContactOut(BaseModel):
    person: str = Field(description="The person's id (contact.id by default) or an email address.")
    profile: ProfileOut | None = Field(description="The person's contact profile; null when there is none.")
    addresses: list[AddressOut] = Field(description="The person's known addresses, and what each still gets.")
    suppressions: list[SuppressionOut] = Field(description="Hard bounces and complaints: no mail of any type.")
    unsubscribed: list[SuppressionOut] = Field(description="Unsubscribes: no promotional mail.")
    runs: list[RunSummary] = Field(description="The person's recent runs, newest first.")


class TaskOut(BaseModel):
    id: str
    title: str
    description: str | None = None
    assignee: str | None = Field(default=None, description="Who should do it (as the automation named them).")
    due_at: str | None = Field(default=None, description="When it is due (ISO 8601), if the step said.")
    status: Literal["open", "done"]
    person: str | None = Field(default=None, description="The contact the task is about (its run's person).")
    automation_id: str | None = Field(default=None, description="The automation whose step made it.")
    run_id: str | None = None
    step: str | None = None
    created_at: str
    updated_at: str


class TaskListOut(BaseModel):
    tasks: list[TaskOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last one.")


class TaskStatusIn(_In):
    status: str = Field(description="open or done")


class CouponCodesIn(_In):
    codes: list[str] = Field(description="1 to 1000 codes of 1 to 128 printable characters (any the pool has: skipped)")


class CouponCountsOut(BaseModel):
    pool: str
    left: int = Field(description="Codes left to claim.")
    claimed: int = Field(description="Codes claimed by automations (each by one run's step).")


class CouponLoadOut(CouponCountsOut):
    added: int = Field(description="Codes this request added (the others were in the pool already).")


class CouponPoolListOut(BaseModel):
    pools: list[CouponCountsOut] = Field(description="Every pool of the workspace, by name.")


class EmailTestIn(_In):
    to: EmailAddress = Field(description="Where to send it.")
    event: dict[str, Any] = Field(default_factory=dict, description="A sample trigger event.")
    step: str | None = Field(default=None, description="The send_email step (default: the first one).")


# --- trigger events (POST /v1/events, served by ingest_trigger) ---------------------------------------------


class EventBatchIn(_In):
    events: list[TriggerEvent] = Field(min_length=1, max_length=MAX_BATCH, description="1 to 100 events.")


class SkippedOut(BaseModel):
    """Why an event started no run of one automation that listens to its type."""

    automation: str
    reason: str = Field(
        description="filtered out by trigger.where | no person: field … is missing | no run key: field … is missing "
        "| frequency: … | run_key busy: … | not the nth: … | after_silence: …"
    )


class EventResultOut(BaseModel):
    """One event's answer; further fields may say why no run started, per automation considered."""

    id: str | None = Field(default=None, description="The event's id; absent for an invalid event without one.")
    status: Literal["accepted", "duplicate", "invalid"]
    runs: list[str] = Field(default_factory=list, description="The runs it started; a duplicate: the first one's.")
    errors: list[FieldErrorOut] | None = Field(default=None, description="Why it is invalid, each with its place.")
    skipped: list[SkippedOut] | None = Field(
        default=None, description="Per automation of the event's type that started no run: why (absent when none)."
    )


class IngestOut(BaseModel):
    events: list[EventResultOut] = Field(description="One answer per event, in the order they were posted.")


# --- Segment's format (POST /v1/track, /v1/identify, /v1/batch, served by ingest_trigger) -------------------
# What the document shows of a Segment message: the fields read (docs/segment.md); any other field is allowed
# and left unread, as Segment's SDKs send more (integrations, context.library...).

_SEGMENT_TIME = "ISO-8601; the first of timestamp, originalTimestamp, sentAt, receivedAt is the event's time."


class _SegmentIn(BaseModel):
    model_config = ConfigDict(extra="allow")


class SegmentContext(_SegmentIn):
    traits: dict[str, Any] | None = Field(
        default=None,
        description="The person's traits: email, firstName/first_name, lastName/last_name, phone, timezone, locale; "
        "any other kept as a contact field.",
    )
    locale: str | None = Field(default=None, description="The contact's locale when the traits give none.")
    timezone: str | None = Field(default=None, description="The contact's time zone when the traits give none.")


class _SegmentMessage(_SegmentIn):
    messageId: str | None = Field(default=None, description="The event's id: the same message again is a duplicate.")
    userId: str | None = Field(default=None, description="The person (contact.id); anonymousId when absent.")
    anonymousId: str | None = Field(default=None, description="The person when there is no userId.")
    context: SegmentContext | None = None
    timestamp: str | None = Field(default=None, description=_SEGMENT_TIME)
    originalTimestamp: str | None = None
    sentAt: str | None = None
    receivedAt: str | None = None


class SegmentTrackIn(_SegmentMessage):
    event: str = Field(
        description="The event type: kept when it is one, else made one (Order Completed: order_completed)."
    )
    properties: dict[str, Any] | None = Field(default=None, description="The event's data.")


class SegmentIdentifyIn(_SegmentMessage):
    traits: dict[str, Any] | None = Field(default=None, description="The person's traits, over context.traits.")


class SegmentMessageIn(_SegmentMessage):
    type: str = Field(description="track or identify; page, screen, group and alias are answered ignored.")
    event: str | None = Field(default=None, description="A track call's event name.")
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None


class SegmentBatchIn(_SegmentIn):
    batch: list[SegmentMessageIn] = Field(min_length=1, max_length=MAX_BATCH, description="1 to 100 messages.")
    context: SegmentContext | None = Field(default=None, description="Applies to each message, under its own.")


class SegmentResultOut(BaseModel):
    """One message's answer."""

    id: str | None = Field(default=None, description="The event's id; absent when it could not be read.")
    status: Literal["accepted", "duplicate", "invalid", "ignored"]
    type: str | None = Field(default=None, description="The event's type (an accepted or duplicate message).")
    runs: list[str] = Field(default_factory=list, description="The runs it started; a duplicate: the first one's.")
    errors: list[FieldErrorOut] | None = Field(default=None, description="Why it is invalid, in Segment's names.")
    reason: str | None = Field(default=None, description="Why it is ignored (page, screen, group, alias calls).")


class SegmentOut(BaseModel):
    success: bool = Field(description="Always true: the request was read (Segment's answer).")
    events: list[SegmentResultOut] = Field(description="One answer per message, in the order they were posted.")
