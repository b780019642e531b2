"""Contact profiles as the services see them: the changes a patch makes, what an event's ``contact`` carries into
a profile, and the ``contact`` a run reads (DESIGN.md §3, "The context" and "The contact profile").

A profile changes only through its store (:class:`~automations.ports.protocols.ContactStore`), which applies
:func:`apply_patch` and :func:`merge_event_contact` inside its own conditional write; they are pure, and so are
:func:`live_contact` and the subscriptions' rules below.

Subscriptions are preference levels (:func:`subscription_levels`): every email, no promotional email, or
essential email only. The level that the sender honours is kept with the email address, on its ``unsubscribe``
suppression (:func:`preference_level`), where the preferences page changes it too; a profile with an address
shows that address's level (:func:`shown_subscriptions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from automations.addresses import is_address
from automations.engine.email import level_subscriptions, subscriptions_of
from automations.ports.profiles import apply_patch, merge_event_contact
from automations.ports.values import CONTACT_FIELDS, ContactProfile, Suppression, attribute_name_error, json_value

__all__ = [
    "apply_patch",
    "live_contact",
    "merge_event_contact",
    "preference_level",
    "shown_subscriptions",
    "subscription_levels",
]

#: Subscriptions given as levels: transactional off turns promotional off, promotional on turns transactional on
#: (``ValueError`` when both are given the other way round).
subscription_levels = level_subscriptions


def preference_level(suppressions: Iterable[Suppression]) -> str | None:
    """An address's preference level, from its suppressions: the scope of its unsubscribe (``promotional`` or
    ``non_essential``), None when it has none (every email)."""
    return next((found.scope for found in suppressions if found.kind == "unsubscribe"), None)


def shown_subscriptions(profile: ContactProfile, suppressions: Iterable[Suppression]) -> dict[str, bool]:
    """A profile's subscriptions as they apply: those of its email address's level (``suppressions`` are that
    address's), or the profile's own when it has no address."""
    if not is_address(profile.email):
        return dict(profile.subscriptions)
    return subscriptions_of(preference_level(suppressions))


def live_contact(profile: ContactProfile | None, event_contact: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``contact`` of a run's context: the person's live profile merged over the trigger event's snapshot of
    the contact, so that a condition after a delay sees today's labels and points.

    The snapshot's fields stay where the profile knows nothing better; the profile's known fields (email,
    phone, names, time zone, locale, lead status), its ``labels``, ``points``, ``badges``, ``subscriptions`` and
    ``attributes`` replace them, and each attribute is also readable at the top (``contact.plan`` as well as
    ``contact.attributes.plan``). The snapshot's ``id`` stays: the person may be another field of the event.
    Without a profile, the snapshot with no labels, no badges and 0 points.
    """
    contact: dict[str, Any] = json_value(dict(event_contact or {}))
    if profile is None:
        contact.setdefault("labels", [])
        contact.setdefault("points", 0)
        contact.setdefault("badges", [])
        return contact
    for name, value in profile.attributes.items():
        if attribute_name_error(name) is None:
            contact[name] = json_value(value)
    for name in (*CONTACT_FIELDS, "lead_status"):
        value = getattr(profile, name)
        if value is not None:
            contact[name] = value
    contact.update(
        labels=list(profile.labels),
        points=profile.points,
        badges=list(profile.badges),
        subscriptions=dict(profile.subscriptions),
        attributes=json_value(profile.attributes),
    )
    return contact
