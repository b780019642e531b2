"""The automation definition (DESIGN.md §3) as pydantic models. Unknown keys are errors everywhere."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from automations.addresses import EmailAddress
from automations.addresses import field_value as check_address_field
from automations.errors import DurationError, TemplateError
from automations.language import localized
from automations.language.durations import parse_duration
from automations.language.instants import parse_instant
from automations.language.localtime import WEEKDAYS
from automations.language.localtime import SendWindow as LocalWindow
from automations.language.templates import check_template, known_zone, parse_locale
from automations.language.webhooks import WebhookRefusedError, check_headers, parse_url

SLUG = r"^[a-z0-9][a-z0-9_-]{0,79}$"
PATH = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"
EVENT_TYPE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

Operator = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains",
    "starts_with", "ends_with", "exists", "not_exists", "is_empty", "is_not_empty", "before", "after",
]  # fmt: skip
UNARY_OPERATORS = frozenset({"exists", "not_exists", "is_empty", "is_not_empty"})
LIST_OPERATORS = frozenset({"in", "not_in"})
INSTANT_OPERATORS = frozenset({"before", "after"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any, *, signed: bool = False) -> str:
    try:
        parse_duration(value, signed=signed)
    except DurationError as exc:
        raise PydanticCustomError("duration", str(exc)) from None
    return str(value).strip()


def _check_duration(value: Any) -> str:
    return _duration(value)


def _check_offset(value: Any) -> str:
    return _duration(value, signed=True)


def _no_newlines(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PydanticCustomError("header", "must be on one line")
    return value


Duration = Annotated[str, BeforeValidator(_check_duration), Field(examples=["15m", "2h", "3d", "1w", "1d12h"])]
Offset = Annotated[str, BeforeValidator(_check_offset), Field(examples=["-1d", "2h"])]
FieldPath = Annotated[str, Field(pattern=PATH, max_length=256, examples=["data.invoice.total"])]
HeaderText = Annotated[str, Field(max_length=256), AfterValidator(_no_newlines)]


# --- conditions ---------------------------------------------------------------------------------------------


class Leaf(Strict):
    """``{field, op, value}``: one comparison of a field of the run's context."""

    field: FieldPath = Field(description="A dotted path into the run's context (data.invoice.total, contact.labels).")
    op: Operator = Field(
        description="The comparison. A missing field is false for every operator but not_exists and is_empty."
    )
    value: Any = Field(
        default=None,
        validate_default=True,
        description="What the field is compared with: a list for in and not_in, an ISO-8601 timestamp for before and "
        "after, nothing for exists, not_exists, is_empty and is_not_empty.",
    )

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return value
        if op in UNARY_OPERATORS:
            if value is not None:
                raise PydanticCustomError("operator", "operator '{op}' takes no value", {"op": op})
        elif op in LIST_OPERATORS:
            if not isinstance(value, list):
                raise PydanticCustomError("operator", "operator '{op}' needs a list value", {"op": op})
        elif value is None:
            raise PydanticCustomError("operator", "operator '{op}' needs a value", {"op": op})
        elif op in INSTANT_OPERATORS and parse_instant(value) is None:
            raise PydanticCustomError("operator", "operator '{op}' needs an ISO-8601 timestamp value", {"op": op})
        return value


class All(Strict):
    all: list[Condition] = Field(min_length=1, description="True when every condition of the list is true.")


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1, description="True when at least one condition of the list is true.")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "all" in value:
            return "all"
        if "any" in value:
            return "any"
        return "leaf"
    if isinstance(value, All):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    if isinstance(value, Leaf):
        return "leaf"
    return None


Condition = Annotated[
    Annotated[Leaf, Tag("leaf")] | Annotated[All, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="expected a condition: {field, op, value}, {all: [...]} or {any: [...]}",
    ),
]
All.model_rebuild()
AnyOf.model_rebuild()


# --- trigger, frequency, cancel_on ------------------------------------------------------------------------


class Trigger(Strict):
    event: str = Field(pattern=EVENT_TYPE, description="The event type the app posts.")
    where: Condition | None = Field(
        default=None, description="Start a run only for the events that meet this condition (as in an if step)."
    )
    nth: int | None = Field(default=None, ge=1, le=1_000_000, description="Run on the person's nth event.")
    after_silence: Duration | None = Field(
        default=None, description="Run this long after the person's last event of this type."
    )

    @model_validator(mode="after")
    def _one_variant(self) -> Trigger:
        if self.nth is not None and self.after_silence is not None:
            raise PydanticCustomError("trigger", "'nth' and 'after_silence' cannot be combined")
        return self


class EveryWindow(Strict):
    once_per_person_every: Duration = Field(
        description="At most one run per person in this long (24h), counted from the start of the last one."
    )


def _frequency_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "simple"
    if isinstance(value, dict | EveryWindow):
        return "window"
    return None


Frequency = Annotated[
    Annotated[Literal["unlimited", "once_per_person"], Tag("simple")] | Annotated[EveryWindow, Tag("window")],
    Discriminator(
        _frequency_kind,
        custom_error_type="frequency",
        custom_error_message="expected unlimited, once_per_person or {once_per_person_every: <duration>}",
    ),
]


class CancelOn(Strict):
    event: str = Field(pattern=EVENT_TYPE, description="The event type that ends a waiting run (invoice.paid).")
    key: FieldPath = Field(description="Field of the cancelling event compared with the run's run_key.")


class RescheduleOn(Strict):
    """An event that moves a waiting run of the same key: its data (and contact fields) are merged into the run's,
    and the delay the run waits on is computed again from them."""

    event: str = Field(pattern=EVENT_TYPE, description="The event type that moves a waiting run (booking.moved).")
    key: FieldPath = Field(description="Field of the event compared with the run's run_key.")


# --- time: zones, locales, times of day, send windows ---------------------------------------------------------

_TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
#: What a ``timezone`` of a send window or a delay may say besides an IANA name: the contact's own zone.
CONTACT_ZONE = "contact"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _check_time_of_day(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "time_of_day",
            'expected a time of day in quotes, such as "18:00" (YAML reads an unquoted 18:00 as a number)',
        )
    if not isinstance(value, str) or not re.match(_TIME_OF_DAY, value.strip()):
        raise PydanticCustomError(
            "time_of_day",
            "expected a time of day as HH:MM (00:00 to 23:59), such as 09:00; got {value}",
            {"value": repr(value)},
        )
    return value.strip()


def _check_zone(value: str) -> str:
    if not known_zone(value):
        raise PydanticCustomError(
            "timezone", "unknown time zone '{zone}': use an IANA name such as Europe/Lisbon", {"zone": value}
        )
    return value


def _check_zone_or_contact(value: str) -> str:
    return value if value == CONTACT_ZONE else _check_zone(value)


def _check_locale(value: str) -> str:
    if parse_locale(value) is None:
        raise PydanticCustomError(
            "locale", "unknown locale '{locale}': use a BCP 47 tag such as en, de-CH or pt-BR", {"locale": value}
        )
    return value


TimeOfDay = Annotated[
    str,
    BeforeValidator(_check_time_of_day),
    Field(examples=["09:00", "18:30"], json_schema_extra={"pattern": _TIME_OF_DAY}),
]
ZoneName = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Europe/Lisbon", "America/New_York"]), AfterValidator(_check_zone)
]
LocaleTag = Annotated[str, Field(min_length=1, max_length=64, examples=["en", "de-CH"]), AfterValidator(_check_locale)]
LocalZone = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["contact", "Europe/Lisbon"]),
    AfterValidator(_check_zone_or_contact),
]
_LOCAL_ZONE = (
    "The time zone of the local times: contact (the default: the contact's own, else the automation's timezone, "
    "else the workspace's, else UTC) or an IANA name (Europe/Lisbon)."
)


def _time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class SendWindow(Strict):
    """When actions may be done: some days of the week, from one local time to another. An action reached outside
    the window waits for its next opening."""

    days: list[Weekday] = Field(
        max_length=7,
        json_schema_extra={"minItems": 1},
        description="The days it opens on: mon, tue, wed, thu, fri, sat, sun.",
    )
    from_: TimeOfDay = Field(alias="from", description='It opens at this local time, HH:MM in quotes ("09:00").')
    to: TimeOfDay = Field(
        description='It closes at this local time, HH:MM in quotes ("18:00"). A time before `from` runs over midnight: '
        "from 22:00 to 06:00 is open from 22:00 on each of the days to 06:00 the day after."
    )
    timezone: LocalZone = Field(default=CONTACT_ZONE, description=_LOCAL_ZONE)

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[str]) -> list[str]:
        if not value:
            raise PydanticCustomError("send_window", "a send window needs at least one day")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.from_ == self.to:
            raise PydanticCustomError(
                "send_window",
                "'from' and 'to' are the same time: a window needs a start and a later end (or an earlier one, to run "
                "over midnight)",
            )
        return self

    def local(self, zone: ZoneInfo) -> LocalWindow:
        """The window in a zone, for the arithmetic of :mod:`automations.language.localtime`."""
        return LocalWindow(frozenset(self.days), _time(self.from_), _time(self.to), zone)

    def describe(self, zone: str) -> str:
        """``Mon-Fri 09:00-18:00 Europe/Lisbon``."""
        return f"{describe_days(self.days)} {self.from_}-{self.to} {zone}"


def describe_days(days: Sequence[str]) -> str:
    """Days as people write them: ``Mon-Fri``, ``Mon, Wed, Fri``, ``every day``."""
    indexes = sorted({WEEKDAYS.index(day) for day in days})
    if len(indexes) == len(WEEKDAYS):
        return "every day"
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts: list[str] = []
    for run in runs:
        if len(run) > 2:
            parts.append(f"{WEEKDAYS[run[0]].capitalize()}-{WEEKDAYS[run[-1]].capitalize()}")
        else:
            parts.extend(WEEKDAYS[index].capitalize() for index in run)
    return ", ".join(parts)


# --- steps ------------------------------------------------------------------------------------------------


class DelayUntil(Strict):
    """Until a moment computed from a timestamp of the run's context."""

    until: FieldPath = Field(description="A field holding an ISO-8601 timestamp.")
    offset: Offset | None = Field(default=None, description="Added to the timestamp: -1d is a day before it.")
    if_past: Literal["skip", "run_now"] = Field(
        default="skip",
        description="When the moment has passed already (also when reschedule_on moves it into the past): end the "
        "run (skip) or go on at once (run_now).",
    )

    @property
    def offset_delta(self) -> timedelta:
        return parse_duration(self.offset, signed=True) if self.offset else timedelta(0)


class DelayAt(Strict):
    """At least ``after``, then until the next ``at`` local time (the next 09:00 in the contact's time zone)."""

    after: Duration | None = Field(
        default=None, description="Wait at least this long first (1d); without it, until the next `at`."
    )
    at: TimeOfDay = Field(
        description='Then until this local time, HH:MM in quotes ("09:00"). On a day the clocks jump over it, the '
        "moment they jump; on a day it happens twice, the first time."
    )
    timezone: LocalZone = Field(default=CONTACT_ZONE, description=_LOCAL_ZONE)

    @property
    def after_delta(self) -> timedelta:
        return parse_duration(self.after) if self.after else timedelta(0)

    @property
    def at_time(self) -> time:
        return _time(self.at)


def _delay_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "relative"
    if isinstance(value, DelayAt) or (
        isinstance(value, dict) and "until" not in value and {"at", "after"} & set(value)
    ):
        return "at"
    if isinstance(value, dict | DelayUntil):
        return "until"
    return None


Delay = Annotated[
    Annotated[Duration, Tag("relative")] | Annotated[DelayUntil, Tag("until")] | Annotated[DelayAt, Tag("at")],
    Discriminator(
        _delay_kind,
        custom_error_type="delay",
        custom_error_message="expected a duration (3d), {until: <field>, offset: -1d, if_past: skip} or {after: 1d, "
        'at: "09:00"}',
    ),
]


def _address_or_template(value: Any) -> Any:
    """An additional recipient: an address, or a template that renders one (``{{ data.staff.email }}``)."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        if len(value) > 500 or "\n" in value or "\r" in value:
            raise PydanticCustomError("recipient", "a recipient template is one line of at most 500 characters")
        _template(value, html=False)
        return value
    return check_address_field(value)


AdditionalRecipient = Annotated[
    str,
    BeforeValidator(_address_or_template),
    WithJsonSchema({"type": "string", "maxLength": 500, "description": "An address, or a template of one."}),
]


class Recipients(Strict):
    trigger_contact: bool = Field(default=False, description="Send to the event's contact.email.")
    additional: list[AdditionalRecipient] = Field(
        default_factory=list,
        max_length=50,
        description="Other recipients: addresses, or templates that render one ({{ data.staff.email }}); one "
        "that renders no valid address is skipped for that run, with the reason on its timeline.",
    )

    @model_validator(mode="after")
    def _someone(self) -> Recipients:
        if not self.trigger_contact and not self.additional:
            raise PydanticCustomError(
                "recipients", "an email needs at least one recipient (trigger_contact or additional)"
            )
        return self


def _template(value: str, *, html: bool) -> str:
    try:
        check_template(value, html=html)
    except TemplateError as exc:
        raise PydanticCustomError("template", str(exc)) from None
    return value


def _html_template(value: str) -> str:
    return _template(value, html=True)


def _text_template(value: str) -> str:
    return _template(value, html=False)


HtmlTemplate = Annotated[str, Field(min_length=1, max_length=200_000), AfterValidator(_html_template)]
TextTemplate = Annotated[str, Field(min_length=1, max_length=200_000), AfterValidator(_text_template)]
SubjectTemplate = Annotated[
    str, Field(min_length=1, max_length=998), AfterValidator(_no_newlines), AfterValidator(_text_template)
]


# --- texts by locale (DESIGN.md §3 "Time and language"; checked in automations.language.localized) ---------

_BY_LOCALE = (
    "The same text by locale: {en: ..., es: ..., de-DE: ...}. The run uses the contact's locale, else its language "
    "(de-AT: de), else the automation's locale, else the first one given. Every map by locale of one action gives "
    "the same locales."
)


_T = TypeVar("_T")
#: A map by locale of one kind of text (each value checked as the plain text is, by ``localized.by_locale``).
ByLocale = Annotated[
    dict[Annotated[str, Field(pattern=f"^{localized.KEY_PATTERN}$")], _T],
    Field(min_length=1, description=_BY_LOCALE, json_schema_extra={"additionalProperties": False}),
]

LocalizedSender = Annotated[HeaderText | ByLocale[HeaderText], WrapValidator(localized.by_locale(HeaderText))]
LocalizedSubject = Annotated[
    SubjectTemplate | ByLocale[SubjectTemplate], WrapValidator(localized.by_locale(SubjectTemplate))
]
LocalizedHtml = Annotated[HtmlTemplate | ByLocale[HtmlTemplate], WrapValidator(localized.by_locale(HtmlTemplate))]
LocalizedText = Annotated[TextTemplate | ByLocale[TextTemplate], WrapValidator(localized.by_locale(TextTemplate))]


class Localizable(Strict):
    """An action whose texts may each be a map by locale (:mod:`automations.language.localized`): every map of it
    gives the same locales, and :meth:`in_locale` is the action as it speaks in one of them."""

    #: Its fields that may be maps by locale, and how: a text, a mapping of texts (headers), a JSON object.
    LOCALIZED: ClassVar[dict[str, localized.FieldKind]] = {}

    def _localized_fields(self) -> list[tuple[str, localized.FieldKind, Any]]:
        return [(name, kind, getattr(self, name)) for name, kind in self.LOCALIZED.items()]

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales its maps give, as the first map names them, in its order; empty when it has no map."""
        maps = localized.maps_of(self._localized_fields())
        return tuple(maps[0][1]) if maps else ()

    def in_locale(self, locale: str) -> Self:
        """The action with each map by locale replaced by its text in ``locale`` (one of :attr:`locales`)."""
        name = localized.canonical(locale)
        if name is None or not self.locales:
            return self
        return self.model_copy(
            update={field: localized.pick(value, kind, name) for field, kind, value in self._localized_fields()}
        )

    @model_validator(mode="after")
    def _same_locales(self) -> Self:
        localized.same_locales(localized.maps_of(self._localized_fields()))
        return self


#: The types of email (DESIGN.md §3 "Email"); what each one means is the engine's (``automations.engine.email``).
EmailType = Literal["promotional", "transactional", "business_critical"]


class SendEmail(Localizable):
    """Send an email; its subject, HTML, text and sender's name may each be a map by locale."""

    LOCALIZED: ClassVar[dict[str, localized.FieldKind]] = {
        "from_name": "text",
        "subject": "text",
        "html": "text",
        "text": "text",
    }

    type: EmailType = Field(
        default="transactional",
        description="promotional (only to contacts subscribed to promotional email, with an unsubscribe link), "
        "transactional (unless the contact keeps essential email only) or business_critical (always sent).",
    )
    from_name: LocalizedSender | None = Field(
        default=None, description="The sender's display name (Acme Studio), or a map by locale of names."
    )
    from_: EmailAddress | None = Field(
        default=None,
        alias="from",
        description="The sender's address (default: the workspace's sender); one the stack may send from "
        "(SenderAddress or AllowedSenders).",
    )
    reply_to: EmailAddress | None = Field(default=None, description="The address replies go to.")
    to: Recipients = Field(description="Who gets it: the event's contact, other addresses, or both.")
    subject: LocalizedSubject = Field(description="The subject (a template on one line), or a map by locale of them.")
    html: LocalizedHtml = Field(description="The HTML body (a template), or a map by locale of them.")
    text: LocalizedText | None = Field(
        default=None,
        description="The text part (a template), or a map by locale of them; derived from html when absent.",
    )


Label = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]
#: The profile fields an update_contact may set (labels, points and badges have their own fields).
SettableField = Literal["email", "phone", "first_name", "last_name", "timezone", "locale", "lead_status"]
MAX_POINTS_CHANGE = 1_000_000_000


class UpdateContact(Strict):
    """Change the person's contact profile: at most once per run and step, however often the step is retried."""

    add_labels: list[Label] = Field(default_factory=list, max_length=100, description="Labels to give the person.")
    remove_labels: list[Label] = Field(default_factory=list, max_length=100, description="Labels to take away.")
    add_points: int = Field(
        default=0,
        ge=-MAX_POINTS_CHANGE,
        le=MAX_POINTS_CHANGE,
        description="Points to add; negative takes them, and the balance never goes below 0.",
    )
    add_badges: list[Label] = Field(default_factory=list, max_length=100, description="Badges to give the person.")
    set: dict[SettableField, Annotated[str, StringConstraints(max_length=256)] | None] = Field(
        default_factory=dict, description="Profile fields to set (null clears one), e.g. {lead_status: won}."
    )
    set_attributes: dict[AttributeName, Any] = Field(
        default_factory=dict, max_length=100, description="Attributes of your own to set."
    )
    unset_attributes: list[AttributeName] = Field(
        default_factory=list, max_length=100, description="Attributes of your own to remove."
    )
    on_failure: Literal["stop", "continue"] = Field(
        default="stop", description="When the change cannot be made: end the run (stop) or go on (continue)."
    )

    @model_validator(mode="after")
    def _a_change(self) -> UpdateContact:
        if not (
            self.add_labels
            or self.remove_labels
            or self.add_points
            or self.add_badges
            or self.set
            or self.set_attributes
            or self.unset_attributes
        ):
            raise PydanticCustomError("update_contact", "update_contact changes nothing: give at least one change")
        both = sorted(set(self.add_labels) & set(self.remove_labels))
        if both:
            raise PydanticCustomError(
                "update_contact", "labels both added and removed: {labels}", {"labels": ", ".join(both)}
            )
        zone = self.set.get("timezone")
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise PydanticCustomError("update_contact", "unknown time zone {zone!r}", {"zone": zone}) from None
        return self


LineTemplate = Annotated[
    str, Field(min_length=1, max_length=500), AfterValidator(_no_newlines), AfterValidator(_text_template)
]
OnFailure = Literal["stop", "continue"]
_ON_FAILURE = "When the action cannot be done: end the run (stop) or go on (continue)."


def _positive_duration(value: str) -> str:
    if parse_duration(value) <= timedelta(0):
        raise PydanticCustomError("duration", "must be after the task is created: a positive duration such as 2d")
    return value


LocalizedLine = Annotated[LineTemplate | ByLocale[LineTemplate], WrapValidator(localized.by_locale(LineTemplate))]


class CreateTask(Localizable):
    """Create a task for someone of the business (listed at GET /v1/tasks); its id is ``steps.<id>.id``."""

    LOCALIZED: ClassVar[dict[str, localized.FieldKind]] = {"title": "text", "description": "text"}

    title: LocalizedLine = Field(
        description="The task, e.g. 'Call {{ contact.first_name }} about the quote', or a map by locale of them."
    )
    description: LocalizedText | None = Field(
        default=None, description="More about the task (a template), or a map by locale of them."
    )
    assignee: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, description="Who does it (an email address or a name)."
    )
    due: Annotated[Duration, AfterValidator(_positive_duration)] | None = Field(
        default=None, description="When it is due, after the task is created (2d)."
    )
    on_failure: OnFailure = Field(default="stop", description=_ON_FAILURE)


class IssueCoupon(Strict):
    """Give the person one unused code of a pool (loaded with POST /v1/coupon-pools/{pool}/codes): the same code
    however often the step is retried, never one another run got. The code is ``steps.<id>.code``."""

    pool: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The coupon pool's name.")
    on_failure: OnFailure = Field(default="stop", description=_ON_FAILURE)


def _check_object(value: dict[str, Any], loc: str) -> None:
    """A webhook's body or a bus event's detail: one JSON object, or one by locale (each checked the same way)."""
    if localized.is_object_by_locale(value):
        localized.objects_by_locale(value, loc)
        for key, item in value.items():
            _check_detail(item, f"{loc}.{key}")
    else:
        _check_detail(value, loc)


_OBJECT_BY_LOCALE = (
    " It may be one object by locale instead ({en: {...}, es: {...}}: two locale names or more as its only keys, "
    "each holding an object), chosen as texts by locale are."
)


def _check_detail(value: Any, loc: str = "detail", depth: int = 0) -> None:
    """Every text of a bus event's detail is a template: refused at save when it cannot compile."""
    if depth > 10:
        raise PydanticCustomError("put_event", "{loc}: nested more than 10 levels", {"loc": loc})
    if isinstance(value, str):
        try:
            check_template(value, html=False)
        except TemplateError as exc:
            raise PydanticCustomError("template", "{loc}: {problem}", {"loc": loc, "problem": str(exc)}) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_detail(item, f"{loc}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_detail(item, f"{loc}[{index}]", depth + 1)


class PutEvent(Localizable):
    """Put an event on the stack's bus (source ``automations``), for EventBridge rules and API destinations to
    turn into a chat message, a push, an SMS, a spreadsheet row. Each text of ``detail`` is a template."""

    LOCALIZED: ClassVar[dict[str, localized.FieldKind]] = {"detail": "object"}

    detail_type: str = Field(pattern=EVENT_TYPE, description="The event's type, e.g. chat.message.requested.")
    detail: dict[str, Any] = Field(
        default_factory=dict, description="What the event says; texts are templates." + _OBJECT_BY_LOCALE
    )
    on_failure: OnFailure = Field(default="stop", description=_ON_FAILURE)

    @field_validator("detail")
    @classmethod
    def _templates(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_object(value, "detail")
        return value


_TEMPLATE_START = re.compile(r"\{[{%#]")
#: The longest JSON body a webhook may render to.
MAX_WEBHOOK_BODY = 100_000


def _webhook_url(value: str) -> str:
    _template(value, html=False)
    start = _TEMPLATE_START.search(value)
    if start is not None and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#{]+[/?]", value[: start.start()]):
        raise PydanticCustomError("webhook", "templates are allowed in a webhook URL's path and query only")
    literal = re.sub(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", "x", value)
    try:
        # plain http passes here only to a loopback address literal (checked by parse_url) or a name
        target = parse_url(literal, allow_loopback_http=True)
    except WebhookRefusedError as exc:
        raise PydanticCustomError("webhook", "{problem}", {"problem": str(exc)}) from None
    if target.scheme == "http" and target.literal is None and target.host.lower() != "localhost":
        problem = "a webhook URL starts with https:// (plain http:// only to a loopback address)"
        raise PydanticCustomError("webhook", "{problem}", {"problem": problem})
    return value


def _webhook_headers(value: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
    """Names and values as HTTP takes them; every value (of every locale, for a map by locale) a template."""
    texts: list[tuple[str, str | None, str]] = []
    for name, each in value.items():
        texts += [(name, key, text) for key, text in each.items()] if isinstance(each, dict) else [(name, None, each)]
    problems = check_headers({name: "" if isinstance(each, dict) else each for name, each in value.items()})
    for name, key, text in texts:
        if key is not None:
            problems += [found for found in check_headers({name: text}) if found not in problems]
    if problems:
        raise PydanticCustomError("webhook", "{problem}", {"problem": "; ".join(problems)})
    for name, key, text in texts:
        try:
            check_template(text, html=False)
        except TemplateError as exc:
            problem = {"name": name if key is None else f"{name} ({key})", "problem": str(exc)}
            raise PydanticCustomError("template", "header {name}: {problem}", problem) from None
    return value


LocalizedHeaderValue = Annotated[str | ByLocale[str], WrapValidator(localized.by_locale(str))]


class Webhook(Localizable):
    """Call a URL of your own (a CRM, an order system): a JSON request signed the Standard Webhooks way with the
    workspace's secret, carrying ``Idempotency-Key: <run>:<step>``. The run waits for it: 5xx, 429 and network
    failures are tried again for up to 24 hours, any other 4xx fails the step at once. The response's status and
    JSON body (up to 64 KB) are ``steps.<id>.status`` and ``steps.<id>.body``."""

    LOCALIZED: ClassVar[dict[str, localized.FieldKind]] = {"headers": "texts", "body": "object"}

    url: Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_webhook_url)] = Field(
        description="https:// only; templates are allowed in the path and the query "
        "(https://crm.example.com/hooks/{{ data.quote.id }})."
    )
    method: Literal["POST", "PUT", "PATCH"] = Field(default="POST", description="The HTTP method.")
    headers: Annotated[dict[str, LocalizedHeaderValue], AfterValidator(_webhook_headers)] = Field(
        default_factory=dict,
        description="Headers of your own; values are templates (or maps by locale of them). No line breaks, and "
        "none of the names the product sets itself (Host, Content-Length, the webhook-* signature headers, "
        "Idempotency-Key).",
    )
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="The JSON body; each text in it is a template ({{ contact.id }})." + _OBJECT_BY_LOCALE,
    )
    on_failure: OnFailure = Field(default="stop", description=_ON_FAILURE)

    @field_validator("body")
    @classmethod
    def _templates(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_object(value, "body")
        return value


STEP_KINDS = (
    "delay", "if", "send_email", "update_contact", "create_task", "issue_coupon", "webhook", "put_event",
)  # fmt: skip
#: The steps that act (a send window applies to them): all but ``delay`` and ``if``.
ACTION_KINDS = tuple(kind for kind in STEP_KINDS if kind not in ("delay", "if"))
#: The actions whose result the steps after them read (``steps.<id>``): the run waits for them.
RESULT_ACTIONS = ("create_task", "issue_coupon")


class Step(Strict):
    """One step: exactly one of ``delay``, ``if`` (with ``then``/``else``) or an action."""

    id: str | None = Field(
        default=None,
        pattern=SLUG,
        description="The step's id, unique in the automation (default: from its position, step-3 or "
        "step-2-then-1); the steps after it read its result as steps.<id>.",
    )
    delay: Delay | None = Field(
        default=None,
        description='Wait: a duration (3d), {until: <field>, offset: -1d, if_past: skip} or {after: 1d, at: "09:00"}.',
    )
    if_: Condition | None = Field(
        default=None, alias="if", description="A condition: the run goes on with then when it is true, else with else."
    )
    then: list[Step] | None = Field(default=None, description="Beside if: the steps when the condition is true.")
    else_: list[Step] | None = Field(
        default=None, alias="else", description="Beside if: the steps when the condition is false."
    )
    send_email: SendEmail | None = Field(default=None, description="Send an email.")
    update_contact: UpdateContact | None = Field(default=None, description="Change the person's contact profile.")
    create_task: CreateTask | None = Field(default=None, description="Create a task for someone of the business.")
    issue_coupon: IssueCoupon | None = Field(default=None, description="Give the person one code of a coupon pool.")
    webhook: Webhook | None = Field(default=None, description="Call a URL of your own with a signed JSON request.")
    put_event: PutEvent | None = Field(default=None, description="Put an event on the stack's event bus.")
    send_window: SendWindow | None = Field(
        default=None,
        description="Beside an action only: when it may be done, instead of the automation's send_window. Reached "
        "outside it, the run waits for its next opening.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, "if_" if k == "if" else k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise PydanticCustomError(
                "step",
                "a step needs exactly one of {kinds} (found: {found})",
                {"kinds": ", ".join(STEP_KINDS), "found": found},
            )
        if kinds[0] != "if" and (self.then is not None or self.else_ is not None):
            raise PydanticCustomError("step", "'then' and 'else' belong to an 'if' step")
        if self.send_window is not None and kinds[0] not in ACTION_KINDS:
            raise PydanticCustomError(
                "step", "'send_window' belongs to an action step, not to a {kind}", {"kind": kinds[0]}
            )
        return self

    @property
    def kind(self) -> str:
        for k in STEP_KINDS:
            if getattr(self, "if_" if k == "if" else k) is not None:
                return k
        raise AssertionError("validated steps have a kind")


Step.model_rebuild()


class Automation(Strict):
    """One automation: a trigger, then steps."""

    id: str = Field(pattern=SLUG, description="Slug, unique in the workspace.")
    name: str = Field(min_length=1, max_length=200, description="What it does, for people (the console, the CLI).")
    description: str | None = Field(default=None, max_length=2000, description="More about it, for people.")
    status: Literal["draft", "active", "inactive"] = Field(
        default="draft", description="Only an active automation starts runs; draft and inactive ones start none."
    )
    trigger: Trigger = Field(description="The event that starts a run, and which ones of it.")
    person: FieldPath = Field(default="contact.id", description="Field identifying the person.")
    frequency: Frequency = Field(
        default="unlimited",
        description="How often one person may start a run: unlimited, once_per_person, or "
        "{once_per_person_every: <duration>}.",
    )
    run_key: FieldPath | None = Field(default=None, description="At most one active run per value.")
    cancel_on: list[CancelOn] = Field(
        default_factory=list,
        max_length=10,
        description="Events that end this key's waiting run (the invoice was paid). Needs run_key.",
    )
    reschedule_on: list[RescheduleOn] = Field(
        default_factory=list,
        max_length=10,
        description="Events that move this key's waiting run: their data is merged into the run's and the delay it "
        "waits on is computed again (a booking moved: its reminder moves with it). Needs run_key.",
    )
    timezone: ZoneName | None = Field(
        default=None,
        description="IANA time zone for the contacts whose profile has none (default: the workspace's, else UTC): "
        "dates in templates, send windows and delays to a time of day.",
    )
    locale: LocaleTag | None = Field(
        default=None,
        description="Language (BCP 47: en, de-CH) for the contacts whose profile has none (default: the workspace's, "
        "else en).",
    )
    send_window: SendWindow | None = Field(
        default=None,
        description="When the automation's actions may be done (a step's own send_window replaces it). An action "
        "reached outside it waits for its next opening.",
    )
    steps: list[Step] = Field(
        min_length=1, max_length=100, description="What a run does, in order: delays, conditions and actions."
    )

    @field_validator("cancel_on")
    @classmethod
    def _cancel_on_needs_run_key(cls, value: list[CancelOn], info: ValidationInfo) -> list[CancelOn]:
        if value and info.data.get("run_key") is None and "run_key" not in info.data:
            return value  # run_key itself was invalid: that error is reported already
        if value and info.data.get("run_key") is None:
            raise PydanticCustomError("cancel_on", "needs a 'run_key' to know which runs to end")
        return value

    @field_validator("reschedule_on")
    @classmethod
    def _reschedule_on_needs_run_key(cls, value: list[RescheduleOn], info: ValidationInfo) -> list[RescheduleOn]:
        if not value or "run_key" not in info.data:
            return value  # run_key itself was invalid: that error is reported already
        if info.data.get("run_key") is None:
            raise PydanticCustomError("reschedule_on", "needs a 'run_key' to know which runs to move")
        cancelling = {rule.event for rule in info.data.get("cancel_on") or []}
        both = sorted({rule.event for rule in value} & cancelling)
        if both:
            raise PydanticCustomError(
                "reschedule_on",
                "{event} is in cancel_on too: an event either ends a waiting run or moves it",
                {"event": both[0]},
            )
        return value

    @property
    def window(self) -> timedelta | None:
        """How long ``frequency`` keeps a person out after a run: None for unlimited, forever as max."""
        if isinstance(self.frequency, EveryWindow):
            return parse_duration(self.frequency.once_per_person_every)
        return None
