"""Segment's own Python SDK (segment-analytics-python) pointed at the local stack, as an app instrumented for
Segment would be: its track and identify calls are stored and matched as trigger events, a page call is
ignored, and a wrong key or one without ``events:write`` is refused."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from segment import analytics
from segment.analytics.client import Client
from segment.analytics.request import APIError

from tests.e2e.conftest import LocalStackClient
from tests.e2e.test_local_access import printed_key

pytestmark = pytest.mark.e2e

WELCOME = "new-lead-welcome"


@pytest.fixture
def events_key(local_stack: LocalStackClient) -> str:
    local_stack.require("ingest_trigger", "manage_api")
    return printed_key(local_stack, "events-only key")


@pytest.fixture
def sdk(local_stack: LocalStackClient, events_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's module-level client, as an app configures it: the events-only key, the local stack's URL, and
    each call sent as it is made."""
    monkeypatch.setattr(analytics, "write_key", events_key)
    monkeypatch.setattr(analytics, "host", local_stack.base)
    monkeypatch.setattr(analytics, "sync_mode", True)
    monkeypatch.setattr(analytics, "default_client", None)
    yield analytics
    monkeypatch.setattr(analytics, "default_client", None)


def runs_of(local_stack: LocalStackClient, person: str) -> list[dict[str, Any]]:
    answer = local_stack.request("GET", f"/v1/runs?automation_id={WELCOME}&person={person}")
    assert answer.status == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()["runs"]
    return runs


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_track_and_identify_from_the_sdk_are_stored_and_matched(
    local_stack: LocalStackClient, events_key: str, sdk: Any
) -> None:
    person = f"c_seg_{uuid.uuid4().hex[:8]}"
    email = f"{person}@example.com"
    tracked_id, identified_id = f"m-track-{person}", f"m-identify-{person}"

    # When the app tracks a new lead (an event the welcome listens to), with the person's traits in the context
    sdk.track(
        user_id=person,
        event="lead.created",
        properties={"interest": "prenatal yoga"},
        context={"traits": {"email": email, "firstName": "Ana"}, "locale": "pt-PT"},
        message_id=tracked_id,
    )
    # And identifies the person
    sdk.identify(person, {"email": email, "firstName": "Ana", "plan": "pro"}, message_id=identified_id)

    # Then the welcome started a run for the person, and its first email went to the trait's address
    [run] = local_stack.wait_for(lambda: runs_of(local_stack, person), what="the welcome's run")
    email_sent = local_stack.wait_for_email(email, "Welcome to Acme Studio, Ana")
    assert email_sent["to"] == [email]

    # And both calls were stored: the same messages again are duplicates (the track's with its run)
    again = local_stack.request(
        "POST",
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": person, "event": "lead.created", "messageId": tracked_id},
                {"type": "identify", "userId": person, "messageId": identified_id},
            ]
        },
        key=None,
        headers=basic(events_key),
    )
    assert again.status == 200, again.text
    assert again.json() == {
        "success": True,
        "events": [
            {"id": tracked_id, "status": "duplicate", "runs": [run["id"]], "type": "lead.created"},
            {"id": identified_id, "status": "duplicate", "runs": [], "type": "contact.identified"},
        ],
    }


def test_a_batch_from_the_sdk_s_queue_is_answered_per_message(local_stack: LocalStackClient, events_key: str) -> None:
    # The SDK's default mode: calls are queued and sent in batches by its own thread
    failures: list[Exception] = []
    client = Client(events_key, host=local_stack.base, on_error=lambda error, _: failures.append(error))
    person = f"c_seg_{uuid.uuid4().hex[:8]}"
    client.track(person, "lead.created", context={"traits": {"email": f"{person}@example.com"}})
    client.page(person, "Docs", "Pricing")  # ignored: not a trigger event
    client.identify(person, {"first_name": "Rui"})
    client.flush()
    client.join()

    assert failures == []
    assert local_stack.wait_for(lambda: runs_of(local_stack, person), what="the welcome's run")


def test_a_wrong_key_and_a_key_without_events_write_are_refused(local_stack: LocalStackClient, events_key: str) -> None:
    person = f"c_seg_{uuid.uuid4().hex[:8]}"
    wrong = Client("ak_0123456789abcdef_not-a-key-we-made", host=local_stack.base, sync_mode=True)
    with pytest.raises(APIError) as refused:
        wrong.track(person, "lead.created")
    assert refused.value.status == 401

    created = local_stack.request("POST", "/v1/keys", {"name": "e2e segment reader", "scopes": ["automations:read"]})
    assert created.status == 201, created.text
    reader = Client(created.json()["secret"], host=local_stack.base, sync_mode=True)
    with pytest.raises(APIError) as forbidden:
        reader.identify(person, {"email": f"{person}@example.com"})
    assert forbidden.value.status == 403

    assert runs_of(local_stack, person) == []
    # Without any key, the routes answer 401 as for any other
    assert local_stack.request("POST", "/v1/track", {"userId": person, "event": "x"}, key=None).status == 401
