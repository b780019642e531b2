"""Changes to a contact profile made through the API (and, with a ledger key, by an automation's step), and the
``contact.<change>`` events they emit (DESIGN.md §3, "The contact profile").

Each change a patch makes (``label_added``, ``label_removed``, ``points_changed``, ``badge_added``,
``lead_status_changed``) becomes a trigger event of type ``contact.<change>`` for the person, put on the
stack's bus with its workspace, whence ingest_trigger takes it like any bus event: one automation can start
another ("when a client gets the label ``vip``, email the owner"). Its ``data`` holds the change's values and
``depth``: 1 for a change made through the API, one more than the run's own for a change made by a run. An
event's id is derived from the profile's version after the change, so a retried put of it is a duplicate, not
a second event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from automations.ids import derived_id
from automations.ports import BusEntry, ContactChange, ContactPatch, ContactProfile, StepCount
from automations.services.deps import Deps

#: The depth of a change made through the API (a run's changes are one deeper than the event that started it).
API_DEPTH = 1


@dataclass(frozen=True)
class Changed:
    """A profile after a change, the changes made, and the ids of the events they emitted."""

    profile: ContactProfile
    changes: list[ContactChange]
    events: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile.as_dict(),
            "changes": [
                {"type": c.event_type, "event": event, **c.as_data()}
                for c, event in zip(self.changes, self.events, strict=True)
            ],
        }


def change_events(profile: ContactProfile, changes: list[ContactChange], now: datetime, depth: int) -> list[BusEntry]:
    """The ``contact.<change>`` events of the changes one apply made (the profile as it is after them)."""
    known = {name: getattr(profile, name) for name in ("email", "first_name", "last_name") if getattr(profile, name)}
    return [
        BusEntry.trigger(
            change.event_type,
            id=derived_id("evt", profile.workspace, profile.id, str(profile.version), str(index)),
            workspace=profile.workspace,
            occurred_at=now,
            data={**change.as_data(), "depth": depth},
            contact={"id": profile.id, **known},
        )
        for index, change in enumerate(changes)
    ]


def change(
    deps: Deps,
    person: str,
    patch: ContactPatch,
    now: datetime,
    *,
    depth: int = API_DEPTH,
    ledger_key: str | None = None,
    count: StepCount | None = None,
) -> Changed:
    """Apply ``patch`` to the person's profile (made when there is none), then put the events of its changes on
    the bus; ``InvalidInputError`` naming each field of the patch that cannot be applied (nothing changed).
    ``count`` (a step's, with its ``ledger_key``) is counted in the change's own write, once."""
    profile, changes = deps.contacts.apply(person, patch, now, ledger_key=ledger_key, count=count)
    events = change_events(profile, changes, now, depth)
    deps.bus.put(events)
    return Changed(profile, changes, [str(e.detail["id"]) for e in events])
