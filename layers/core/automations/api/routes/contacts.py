"""Contacts: profiles listed and searched, a person's profile with their suppressions, subscriptions and recent
runs, and changes to a profile (each change also an event, docs/contacts.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.errors import FieldError
from automations.ports import CONTACT_FIELDS, ContactPatch, InvalidInputError
from automations.services import contact_changes, contacts, queries, unsubscribe

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["contacts"]

#: The request's names of the fields a profile change refuses (the patch's own names, left, to the right).
_PUT_NAMES = {"attributes_set": "attributes"}
_PATCH_NAMES = {
    "labels_add": "add_labels",
    "labels_remove": "remove_labels",
    "labels": "add_labels",
    "badges_add": "add_badges",
    "points": "add_points",
    "attributes_set": "set_attributes",
    "attributes_unset": "unset_attributes",
}
_PROFILE_FIELDS = {*CONTACT_FIELDS, "lead_status"}
#: The field an error's location starts with (``labels_add`` of ``labels_add[0]``).
_HEAD = re.compile(r"[^.\[]+")


def _renamed(exc: InvalidInputError, names: dict[str, str], fields_under: str) -> InvalidInputError:
    """The errors of a change, each at the request's name of its field."""
    errors = []
    for error in exc.errors:
        head = _HEAD.match(error.loc)
        name = head.group(0) if head else error.loc
        if name in _PROFILE_FIELDS and fields_under:
            loc = f"{fields_under}.{error.loc}"
        else:
            loc = names.get(name, name) + error.loc[len(name) :]
        errors.append(FieldError(loc, error.message))
    return InvalidInputError(errors)


def _changed(person: str, make: Callable[[], ContactPatch], names: dict[str, str], fields_under: str) -> Response[Any]:
    deps = request_deps(router.current_event)
    now = deps.clock.now()
    try:
        patch = make()
        changed = contact_changes.change(deps, unquote(person), patch, now)
    except InvalidInputError as exc:
        raise _renamed(exc, names, fields_under) from None
    if patch.subscriptions:
        kept = unsubscribe.keep_subscriptions(deps, changed.profile, patch.subscriptions, now)
        changed = replace(changed, profile=kept)
    return ok(changed.as_dict())


class Subscriptions(BaseModel):
    """The person's preference level: turning transactional mail off turns promotional mail off too (only
    essential mail remains), turning promotional mail on turns transactional mail on too."""

    model_config = ConfigDict(extra="forbid")

    promotional: bool | None = Field(None, description="Whether the person gets promotional mail.")
    transactional: bool | None = Field(
        None, description="Whether the person gets transactional mail (false: essential mail only)."
    )

    def given(self) -> dict[str, bool]:
        """The subscriptions given, as levels; ``InvalidInputError`` naming the field when they contradict."""
        given = {name: value for name, value in self.model_dump().items() if value is not None}
        try:
            return contacts.subscription_levels(given)
        except ValueError as exc:
            raise InvalidInputError([FieldError("subscriptions", str(exc))]) from None


class ProfileIn(BaseModel):
    """PUT: the fields given are set (null clears one), the attributes given are set, the rest stays."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=64)
    first_name: str | None = Field(None, max_length=256)
    last_name: str | None = Field(None, max_length=256)
    timezone: str | None = Field(None, max_length=64, description="IANA time zone, e.g. Europe/Lisbon")
    locale: str | None = Field(None, max_length=35, description="BCP 47 language tag, e.g. de-CH")
    lead_status: str | None = Field(None, max_length=100)
    attributes: dict[str, Any] = Field(default_factory=dict, description="Fields of your own to set")
    subscriptions: Subscriptions | None = None


class ProfileChangeIn(BaseModel):
    """PATCH: labels and badges added or removed, points added (negative: taken), fields and attributes set."""

    model_config = ConfigDict(extra="forbid")

    add_labels: list[str] = Field(default_factory=list, max_length=100)
    remove_labels: list[str] = Field(default_factory=list, max_length=100)
    add_points: int = Field(0, description="Points to add; negative takes them (the balance may not go below 0)")
    add_badges: list[str] = Field(default_factory=list, max_length=100)
    set: dict[str, str | None] = Field(
        default_factory=dict,
        description="Profile fields to set (email, phone, first_name, last_name, timezone, locale, lead_status);"
        " null clears one",
    )
    set_attributes: dict[str, Any] = Field(default_factory=dict)
    unset_attributes: list[str] = Field(default_factory=list, max_length=100)
    subscriptions: Subscriptions | None = None


@router.get(
    "/v1/contacts",
    summary="Contact profiles by person id: with a label, or found by the start of an email or a name",
    tags=TAGS,
    responses=route_responses(200, 422),
)
def list_contacts(
    label: Annotated[str | None, Query(description="Only the contacts with this label", max_length=200)] = None,
    q: Annotated[str | None, Query(description="The start of an email address, a first, full or last name")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page", max_length=1024)] = None,
) -> Response[models.ContactListOut]:
    deps = request_deps(router.current_event)
    found, next_cursor = deps.contacts.list(label=label, query=q, limit=limit, cursor=cursor)
    return ok({"contacts": [p.as_dict() for p in found], "next_cursor": next_cursor})


@router.get(
    "/v1/contacts/<person>",
    summary="A person's profile, suppression and subscription state, with reasons and times, and recent runs",
    tags=TAGS,
    responses=route_responses(200),
)
def get_contact(person: str) -> Response[models.ContactOut]:
    return ok(queries.contact(request_deps(router.current_event), unquote(person)))


@router.put(
    "/v1/contacts/<person>",
    summary="Create or update a person's profile: the fields given are set",
    tags=TAGS,
    responses=route_responses(200, 400, 422),
)
def put_contact(person: str, body: Annotated[ProfileIn, Body()]) -> Response[models.ContactChangedOut]:
    given = body.model_dump(exclude_unset=True)

    def patch() -> ContactPatch:
        return ContactPatch(
            set_fields={k: v for k, v in given.items() if k not in ("attributes", "subscriptions")},
            attributes_set=body.attributes,
            subscriptions=body.subscriptions.given() if body.subscriptions else {},
        )

    return _changed(person, patch, _PUT_NAMES, "")


@router.patch(
    "/v1/contacts/<person>",
    summary="Change a person's profile: labels, points, badges, fields and attributes (each change an event)",
    tags=TAGS,
    responses=route_responses(200, 400, 422),
)
def patch_contact(person: str, body: Annotated[ProfileChangeIn, Body()]) -> Response[models.ContactChangedOut]:
    def patch() -> ContactPatch:
        return ContactPatch(
            set_fields=body.set,
            labels_add=body.add_labels,
            labels_remove=body.remove_labels,
            points_add=body.add_points,
            badges_add=body.add_badges,
            attributes_set=body.set_attributes,
            attributes_unset=body.unset_attributes,
            subscriptions=body.subscriptions.given() if body.subscriptions else {},
        )

    return _changed(person, patch, _PATCH_NAMES, "set")
