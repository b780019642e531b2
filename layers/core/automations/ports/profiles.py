"""The rules of the contact profile: what a patch does to a profile, and what an event's ``contact`` carries into
it (DESIGN.md §3, "The contact profile").

Every :class:`~automations.ports.protocols.ContactStore` applies them inside its own write (read, apply,
write at the version read), so the adapter and its in-memory fake change a profile alike;
:mod:`automations.services.contacts` is where the services take them from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from automations.errors import FieldError
from automations.ports.errors import InvalidInputError
from automations.ports.values import (
    CONTACT_FIELDS,
    MAX_ATTRIBUTES_BYTES,
    MAX_BADGES,
    MAX_LABEL_CHANGES,
    MAX_LABELS,
    MAX_POINTS,
    ContactChange,
    ContactPatch,
    ContactProfile,
    attribute_name_error,
    attributes_size,
    contact_field,
    json_size,
    json_value,
)


def apply_patch(
    profile: ContactProfile | None, patch: ContactPatch, now: datetime, *, workspace: str, person: str
) -> tuple[ContactProfile, list[ContactChange]]:
    """The profile after the patch, and the changes it made that become ``contact.<kind>`` events.

    ``profile`` None: the person has none yet, and one is made for ``(workspace, person)`` (created now, even
    by a patch that asks for nothing). Adding a label or a badge the profile has, removing one it has not, and
    setting a field to the value it has are no changes. When nothing changes, the profile comes back as it
    was (the same object: same ``updated_at`` and ``version``); otherwise ``updated_at`` is ``now`` and the
    version one more.

    ``InvalidInputError``, naming the field, when the patch would leave the profile outside its bounds: more
    than 100 labels (or badges), more than 90 labels changed at once, points below 0, or attributes over 16 KB.
    """
    if profile is not None and (profile.workspace, profile.id) != (workspace, person):
        raise ValueError(f"the profile of {profile.id!r} in {profile.workspace!r} is not {person!r}'s in {workspace!r}")
    now = now.astimezone(UTC)
    current = profile if profile is not None else ContactProfile.new(workspace, person, now)
    errors: list[FieldError] = []
    changes: list[ContactChange] = []

    def field(name: str) -> str | None:
        return patch.set_fields[name] if name in patch.set_fields else getattr(current, name)

    labels = set(current.labels)
    added = [label for label in patch.labels_add if label not in labels]
    removed = [label for label in patch.labels_remove if label in labels]
    after = (labels - set(removed)) | set(added)
    if added and len(after) > MAX_LABELS:
        errors.append(FieldError("labels_add", f"a contact has at most {MAX_LABELS} labels ({len(after)} after this)"))
    if len(added) + len(removed) > MAX_LABEL_CHANGES:
        errors.append(FieldError("labels", f"at most {MAX_LABEL_CHANGES} labels are added and removed at once"))
    changes += [ContactChange("label_added", label=label) for label in added]
    changes += [ContactChange("label_removed", label=label) for label in removed]

    points = current.points + patch.points_add
    if points < 0 and patch.floor_points:
        points = 0  # an automation takes what there is: the balance stops at 0
    if points < 0:
        errors.append(FieldError("points", f"points never go below 0 (the contact has {current.points})"))
    elif points > MAX_POINTS:
        errors.append(FieldError("points", f"a contact has at most {MAX_POINTS} points"))
    elif points != current.points:
        changes.append(ContactChange("points_changed", delta=points - current.points, points=points))

    new_badges = [badge for badge in patch.badges_add if badge not in current.badges]
    badges = tuple(sorted({*current.badges, *new_badges}))
    if new_badges and len(badges) > MAX_BADGES:
        errors.append(FieldError("badges_add", f"a contact has at most {MAX_BADGES} badges ({len(badges)} after this)"))
    changes += [ContactChange("badge_added", badge=badge) for badge in new_badges]

    lead_status = current.lead_status
    if "lead_status" in patch.set_fields and patch.set_fields["lead_status"] != current.lead_status:
        lead_status = patch.set_fields["lead_status"]
        changes.append(ContactChange("lead_status_changed", old_status=current.lead_status, new_status=lead_status))

    attributes = {name: value for name, value in current.attributes.items() if name not in patch.attributes_unset}
    attributes.update(json_value(dict(patch.attributes_set)))
    if attributes != current.attributes and attributes_size(attributes) > MAX_ATTRIBUTES_BYTES:
        errors.append(FieldError("attributes", f"a contact's attributes take at most {MAX_ATTRIBUTES_BYTES} bytes"))

    if errors:
        raise InvalidInputError(errors)
    changed = replace(
        current,
        email=field("email"),
        phone=field("phone"),
        first_name=field("first_name"),
        last_name=field("last_name"),
        timezone=field("timezone"),
        locale=field("locale"),
        labels=tuple(sorted(after)),
        points=points,
        badges=badges,
        lead_status=lead_status,
        attributes=attributes,
        subscriptions={**current.subscriptions, **patch.subscriptions},
    )
    if profile is not None and changed == profile:
        return profile, []
    return replace(changed, updated_at=now, version=current.version + 1), changes


def merge_event_contact(profile: ContactProfile | None, event_contact: Mapping[str, Any]) -> ContactPatch:
    """What an event's ``contact`` carries into the person's profile, as a patch (the event is newer, so its
    fields win; the profile keeps everything the event does not carry).

    - ``email``, ``phone``, ``first_name``, ``last_name``, ``timezone`` and ``locale`` are set, each when the
      event carries a value the profile can keep (:func:`~automations.ports.values.contact_field`); a value it
      cannot keep (an unknown time zone, say) is left out, and ``null`` clears nothing;
    - any other field goes to the profile's attributes when its name can name one, as does each entry of a
      ``contact.attributes`` map (the map's entries win over fields of the same name); an attribute that
      would take the attributes past 16 KB is left out;
    - ``id`` (the person) and the fields only the API and the automations change (``labels``, ``points``,
      ``badges``, ``lead_status``, ``subscriptions``) are ignored.

    Whatever is left out stays in the event's own snapshot of the contact.
    """
    current = profile.attributes if profile is not None else {}
    fields: dict[str, str | None] = {}
    extras: dict[str, Any] = {}
    for name, value in event_contact.items():
        if value is None:
            continue
        if name in CONTACT_FIELDS:
            try:
                fields[name] = contact_field(name, value)
            except InvalidInputError:
                continue
        elif name != "attributes" and attribute_name_error(name) is None:
            extras[name] = value
    nested = event_contact.get("attributes")
    if isinstance(nested, Mapping):
        extras.update(
            {name: value for name, value in nested.items() if value is not None and attribute_name_error(name) is None}
        )

    if profile is not None:
        fields = {name: value for name, value in fields.items() if getattr(profile, name) != value}
    attributes = dict(current)
    size = attributes_size(attributes) if attributes else 1  # "{" and, per entry, the entry and its "," or "}"
    kept: dict[str, Any] = {}
    for name, value in sorted(extras.items()):
        try:
            stored = json_value(value)
        except ValueError:
            continue
        if name in attributes and attributes[name] == stored:
            continue
        grown = size + _entry_size(name, stored) - (_entry_size(name, attributes[name]) if name in attributes else 0)
        if grown > MAX_ATTRIBUTES_BYTES:
            continue
        size = grown
        attributes[name] = stored
        kept[name] = stored
    return ContactPatch(set_fields=fields, attributes_set=kept)


def _entry_size(name: str, value: Any) -> int:
    return json_size(name) + 1 + json_size(value) + 1
