"""The contact store: one profile per (workspace, person) in the contacts table, with an item per label of a
profile (to list a label's contacts) and a ledger of the changes applied once per run and step.

A change is one consistent read of the profile and one transaction: the profile put at the version read (or
only if there was none), its labels' items put and deleted, and the ledger key recorded only if it was not.
When another change came first, the read and the transaction are tried again, a few times.

Listings go by person id: a label's items for ``label``, else the ``by_workspace`` index (which filters a
search on the case-folded fields it projects); the profiles of each page are then read consistently in one
batch, and checked again against the label and the search.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.events import event_item
from automations.adapters.dynamodb.stats import add_actions, counter_item
from automations.adapters.dynamodb.tables import ContactItem, ContactLabelItem, ContactLedgerItem, EventItem
from automations.adapters.dynamodb.writes import cancellation_codes, connection, epoch, lost_race, pause
from automations.ports.errors import ConflictError, InvalidInputError, SkippedError
from automations.ports.profiles import apply_patch, merge_event_contact
from automations.ports.values import (
    ContactChange,
    ContactListing,
    ContactPatch,
    ContactProfile,
    StepCount,
    StoredEvent,
    check_ledger_key,
    check_person,
    contact_cursor,
)

_PROFILE = "profile"
#: How long a ledger key is kept: far longer than any retry of a step.
LEDGER_RETENTION = timedelta(days=90)
#: How many times a change is tried when other changes of the profile keep coming first.
ATTEMPTS = 10
#: The most items of one transaction (DynamoDB's limit) and of one batch read.
_TRANSACTION_ITEMS = 100
_BATCH_READ = 100

Change = Callable[[ContactProfile | None], tuple[ContactProfile, list[ContactChange]]]


def person_pk(workspace: str, person: str) -> str:
    return f"{workspace}#person#{person}"


def label_pk(workspace: str, label: str) -> str:
    return f"{workspace}#label#{label}"


def people_pk(workspace: str) -> str:
    return f"{workspace}#people"


def contact_item(profile: ContactProfile) -> ContactItem:
    """The item of a profile (its search fields case-folded for the index)."""
    email, name, last = profile.search_terms()
    return ContactItem(
        person_pk(profile.workspace, profile.id),
        _PROFILE,
        person=profile.id,
        email=profile.email,
        phone=profile.phone,
        first_name=profile.first_name,
        last_name=profile.last_name,
        timezone=profile.timezone,
        locale=profile.locale,
        labels=list(profile.labels),
        points=profile.points,
        badges=list(profile.badges),
        lead_status=profile.lead_status,
        attrs=profile.attributes or None,
        promotional=profile.subscriptions.get("promotional", True),
        transactional=profile.subscriptions.get("transactional", True),
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        version=profile.version,
        gsi1pk=people_pk(profile.workspace),
        gsi1sk=profile.id,
        search_email=email or None,
        search_name=name or None,
        search_last=last or None,
    )


def profile_of(workspace: str, item: ContactItem) -> ContactProfile:
    return ContactProfile(
        workspace=workspace,
        id=item.person,
        email=item.email,
        phone=item.phone,
        first_name=item.first_name,
        last_name=item.last_name,
        timezone=item.timezone,
        locale=item.locale,
        labels=tuple(str(label) for label in item.labels or ()),
        points=int(item.points or 0),
        badges=tuple(str(badge) for badge in item.badges or ()),
        lead_status=item.lead_status,
        attributes=dict(item.attrs or {}),
        subscriptions={"promotional": bool(item.promotional), "transactional": bool(item.transactional)},
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version),
    )


def _chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class DynamoContactStore:
    """:class:`automations.ports.protocols.ContactStore` of one workspace."""

    workspace: str

    # --- reading ----------------------------------------------------------------------------------------------

    def get(self, person: str) -> ContactProfile | None:
        check_person(person)
        try:
            item = ContactItem.get(person_pk(self.workspace, person), _PROFILE, consistent_read=True)
        except DoesNotExist:
            return None
        return profile_of(self.workspace, item)

    def get_many(self, people: Iterable[str]) -> dict[str, ContactProfile]:
        wanted = sorted(set(people))
        for person in wanted:
            check_person(person)
        return {profile.id: profile for chunk in _chunks(wanted, _BATCH_READ) for profile in self._profiles(chunk)}

    def list(
        self, *, label: str | None = None, query: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[ContactProfile], str | None]:
        listing = ContactListing.parse(label=label, query=query, limit=limit, cursor=cursor)
        people = self._labelled(listing) if listing.label is not None else self._indexed(listing)
        found: builtins.list[ContactProfile] = []
        # A page and one more, to tell whether another page follows: the label's items and the index are
        # exact but for changes made since, which the profiles read here show.
        for chunk in _chunks(people, min(listing.limit + 1, _BATCH_READ)):
            for profile in self._profiles(chunk):
                if listing.label is not None and listing.label not in profile.labels:
                    continue
                if listing.query is not None and not profile.matches(listing.query):
                    continue
                found.append(profile)
            if len(found) > listing.limit:
                break
        page = found[: listing.limit]
        return page, contact_cursor(page[-1].id) if len(found) > listing.limit else None

    def _labelled(self, listing: ContactListing) -> Iterator[str]:
        """The people with the label, by id, after the cursor's."""
        assert listing.label is not None
        after = ContactLabelItem.sk > listing.after if listing.after is not None else None
        items = ContactLabelItem.query(
            label_pk(self.workspace, listing.label),
            range_key_condition=after,
            consistent_read=True,
            page_size=listing.limit + 1 if listing.query is None else _BATCH_READ,
        )
        return (item.sk for item in items)

    def _indexed(self, listing: ContactListing) -> Iterator[str]:
        """The people of the workspace, by id, after the cursor's (those a search finds, when there is one)."""
        after = ContactItem.gsi1sk > listing.after if listing.after is not None else None
        search: Condition | None = None
        if listing.query is not None:
            search = (
                ContactItem.search_email.startswith(listing.query)
                | ContactItem.search_name.startswith(listing.query)
                | ContactItem.search_last.startswith(listing.query)
            )
        items = ContactItem.by_workspace.query(
            people_pk(self.workspace),
            range_key_condition=after,
            filter_condition=search,
            page_size=listing.limit + 1 if search is None else 10 * _BATCH_READ,
        )
        return (item.gsi1sk for item in items)

    def _profiles(self, people: builtins.list[str]) -> builtins.list[ContactProfile]:
        """The profiles of these people that exist, in the order given, read consistently in one batch."""
        keys = [(person_pk(self.workspace, person), _PROFILE) for person in people]
        found = {item.person: item for item in ContactItem.batch_get(keys, consistent_read=True)}
        return [profile_of(self.workspace, found[person]) for person in people if person in found]

    # --- changing ---------------------------------------------------------------------------------------------

    def apply(
        self,
        person: str,
        patch: ContactPatch,
        now: datetime,
        *,
        ledger_key: str | None = None,
        count: StepCount | None = None,
    ) -> tuple[ContactProfile, builtins.list[ContactChange]]:
        check_person(person)
        if ledger_key is not None:
            check_ledger_key(ledger_key)
        elif count is not None:
            raise ValueError("a count goes with a ledger key")

        def change(current: ContactProfile | None) -> tuple[ContactProfile, list[ContactChange]]:
            return apply_patch(current, patch, now, workspace=self.workspace, person=person)

        return self._change(person, change, now, ledger_key, count)

    def upsert_from_event(self, person: str, event_contact: Mapping[str, Any], now: datetime) -> ContactProfile:
        check_person(person)

        def change(current: ContactProfile | None) -> tuple[ContactProfile, list[ContactChange]]:
            patch = merge_event_contact(current, event_contact)
            return apply_patch(current, patch, now, workspace=self.workspace, person=person)

        return self._change(person, change, now, None)[0]

    def upsert_with_event(
        self,
        event: StoredEvent,
        person: str,
        event_contact: Mapping[str, Any],
        now: datetime,
        *,
        current: ContactProfile | None,
    ) -> tuple[ContactProfile, bool]:
        check_person(person)

        def change(current: ContactProfile | None) -> tuple[ContactProfile, list[ContactChange]]:
            patch = merge_event_contact(current, event_contact)
            return apply_patch(current, patch, now, workspace=self.workspace, person=person)

        stored: list[bool] = []
        profile = self._change(person, change, now, None, event=event, read=(current,), written=stored)[0]
        return profile, bool(stored)

    def _change(
        self,
        person: str,
        change: Change,
        now: datetime,
        ledger_key: str | None,
        count: StepCount | None = None,
        *,
        event: StoredEvent | None = None,
        read: tuple[ContactProfile | None] | None = None,
        written: builtins.list[bool] | None = None,
    ) -> tuple[ContactProfile, builtins.list[ContactChange]]:
        """``read``: the profile as read already (for the first attempt); ``event``: stored in the profile's
        write, only if its id is new (``SkippedError("exists")`` otherwise), ``written`` told so."""
        for attempt in range(ATTEMPTS):
            current = read[0] if read is not None and attempt == 0 else self.get(person)
            try:
                changed, changes = change(current)
            except InvalidInputError:
                if ledger_key is not None and self._recorded(person, ledger_key):
                    return (current or ContactProfile.new(self.workspace, person, now)), []  # applied before
                raise
            unchanged = current is not None and changed.version == current.version
            if unchanged and ledger_key is None:
                return changed, []
            try:
                self._write(person, current, None if unchanged else changed, ledger_key, now, count, event)
            except TransactWriteError as exc:
                reasons = cancellation_codes(exc)
                if event is not None and reasons and reasons[-1] == "ConditionalCheckFailed":
                    raise SkippedError("exists") from None  # the event was stored before: nothing changed
                if ledger_key is not None and reasons and reasons[-1] == "ConditionalCheckFailed":
                    # Applied before: nothing more to do (the profile may have moved on since).
                    found = self.get(person)
                    return (found or ContactProfile.new(self.workspace, person, now)), []
                if not any(code in ("ConditionalCheckFailed", "TransactionConflict") for code in reasons):
                    raise
                pause(attempt)
                continue
            if written is not None and event is not None:
                written.append(True)
            return changed, changes
        raise ConflictError(f"the profile of {person!r} kept changing: try again")

    def _recorded(self, person: str, ledger_key: str) -> bool:
        """Whether the ledger holds the key (a change applied before)."""
        try:
            ContactLedgerItem.get(person_pk(self.workspace, person), f"ledger#{ledger_key}", consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def _write(
        self,
        person: str,
        current: ContactProfile | None,
        changed: ContactProfile | None,
        ledger_key: str | None,
        now: datetime,
        count: StepCount | None = None,
        event: StoredEvent | None = None,
    ) -> None:
        """One transaction: the profile (``changed``: put at the version read; None: only checked to still be
        at it) and its labels' items, the step's count (with the ledger key only), then the ledger key (the
        transaction's last item, its only conditional update). ``event`` (never with a ledger key) is the
        transaction's last put, and last item: stored only if its id is new."""
        with TransactWrite(connection=connection()) as tx:
            if changed is not None:
                at_version = (
                    ContactItem.pk.does_not_exist() if current is None else ContactItem.version == current.version
                )
                tx.save(contact_item(changed), condition=at_version)
                before = set(current.labels) if current is not None else set()
                for label in sorted(set(changed.labels) - before):
                    tx.save(ContactLabelItem(label_pk(self.workspace, label), person))
                for label in sorted(before - set(changed.labels)):
                    tx.delete(ContactLabelItem(label_pk(self.workspace, label), person))
            elif current is not None:
                tx.condition_check(
                    ContactItem,
                    person_pk(self.workspace, person),
                    _PROFILE,
                    condition=ContactItem.version == current.version,
                )
            if ledger_key is not None and count is not None:
                of_step = counter_item(self.workspace, count.automation_id, now, count.step)
                tx.update(of_step, actions=add_actions({count.counter: 1}, of_step))
            if ledger_key is not None:
                ledger = ContactLedgerItem(person_pk(self.workspace, person), f"ledger#{ledger_key}")
                tx.update(
                    ledger,
                    actions=[
                        ContactLedgerItem.at.set(now),
                        ContactLedgerItem.expires_at.set(epoch(now + LEDGER_RETENTION)),
                    ],
                    condition=ContactLedgerItem.pk.does_not_exist(),
                )
            if event is not None:
                tx.save(event_item(self.workspace, event), condition=EventItem.pk.does_not_exist())

    def delete(self, person: str) -> bool:
        check_person(person)
        for attempt in range(ATTEMPTS):
            current = self.get(person)
            if current is None:
                return False
            labels = list(current.labels)
            inside, after = labels[: _TRANSACTION_ITEMS - 1], labels[_TRANSACTION_ITEMS - 1 :]
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.delete(
                        ContactItem(person_pk(self.workspace, person), _PROFILE),
                        condition=ContactItem.version == current.version,
                    )
                    for label in inside:
                        tx.delete(ContactLabelItem(label_pk(self.workspace, label), person))
            except TransactWriteError as exc:
                if not lost_race(exc):
                    raise
                pause(attempt)
                continue
            if after:  # past one transaction: a listing checks each profile's labels, so these are never seen
                with ContactLabelItem.batch_write() as batch:
                    for label in after:
                        batch.delete(ContactLabelItem(label_pk(self.workspace, label), person))
            return True
        raise ConflictError(f"the profile of {person!r} kept changing: try again")
