"""The product as a user meets it: ``make dev`` started as a subprocess, driven over HTTP only.

Every test uses its own event ids, contacts and addresses (the stack is shared by the session and its
clock only moves forward), and checks what a user can see: HTTP answers, the outbox, and the statistics.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from automations_local.stack import DEFAULT_SENDER

from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e

SENDER = DEFAULT_SENDER  # the local stack's sender (the template's SenderAddress has no default), verified by it


def unique() -> str:
    return uuid.uuid4().hex[:10]


def sample(example: str, *, contact: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    """The example's sample event with a fresh id, another contact and some ``data`` fields replaced."""
    event: dict[str, Any] = json.loads((EXAMPLE_EVENTS / f"{example}.json").read_text())
    event["id"] = f"evt_e2e_{unique()}"
    event.pop("occurred_at", None)
    if contact:
        event["contact"] = {**event["contact"], **contact}
    for name, value in data.items():
        current = event["data"].get(name)
        event["data"][name] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return event


def accepted(stack: LocalStackClient, event: dict[str, Any]) -> dict[str, Any]:
    answer = stack.post_event(event)
    assert answer.status == 202, answer.text
    [result] = answer.json()["events"]
    assert result["status"] == "accepted", result
    return dict(result)


def delta(after: dict[str, Any], before: dict[str, Any], name: str) -> int:
    return int(after[name]) - int(before[name])


def test_an_event_s_email_appears_in_the_outbox(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "send_email", "stats_webhook", "manage_api")
    # Given a new lead with a unique address
    tag = unique()
    address = f"lead-{tag}@example.com"
    before = local_stack.totals("new-lead-welcome")
    # When the app posts the event
    contact = {"id": f"c_{tag}", "email": address, "first_name": "Rita"}
    result = accepted(local_stack, sample("new-lead-welcome", contact=contact))
    # Then one run started, and the welcome email is in the outbox at once, as SES accepted it
    assert len(result["runs"]) == 1
    [email] = local_stack.outbox(address)
    assert email["subject"] == "Welcome to Acme Studio, Rita"
    assert email["to"] == [address]
    assert SENDER in email["from"] and "Acme Studio" in email["from"]
    assert "Rita" in email["html"] and "Rita" in email["text"]
    assert "new-lead-welcome" in email["tags"].values()
    assert email["events"] == ["Delivery"]
    datetime.fromisoformat(email["sent_at"])
    # And the page shows it, without the tracking pixel (looking is not opening), with a link to open it
    page = local_stack.request("GET", "/_local/outbox.html", key=None)
    assert page.status == 200 and "Welcome to Acme Studio, Rita" in page.text
    assert f'href="/_local/open?m={email["id"]}"' in page.text and "&lt;img src=&quot;/_local/open" not in page.text
    # And the statistics count it as sent and delivered
    after = local_stack.totals("new-lead-welcome")
    assert delta(after, before, "runs_started") == 1
    assert delta(after, before, "sent") >= 1 and delta(after, before, "delivered") >= 1


def test_advancing_the_clock_by_3d_delivers_the_delayed_reminder(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email")
    # Given an overdue invoice of 640 (over 500: the client and the owner are reminded after 3 days)
    tag = unique()
    address = f"overdue-{tag}@example.com"
    event = sample(
        "overdue-invoice-reminder",
        contact={"id": f"c_{tag}", "email": address},
        invoice={"id": f"inv_{tag}", "number": f"N-{tag}"},
    )
    accepted(local_stack, event)
    # Then nothing is sent yet
    assert local_stack.outbox(address) == []
    clock_before = datetime.fromisoformat(local_stack.request("GET", "/_local/clock", key=None).json()["now"])
    # When the clock moves three days
    moved = local_stack.advance("3d")
    assert datetime.fromisoformat(moved["now"]) - clock_before >= timedelta(days=3)
    # Then the delayed reminder is sent once the clock answered (the schedule fired, evaluate_step went on,
    # send_email sent it)
    [email] = local_stack.emails_about(address, f"Invoice N-{tag} is overdue")
    assert "Pay online" not in email["html"] and f"N-{tag}" in email["html"]
    assert email["reply_to"] == ["accounts@acme.example"]


def test_a_paid_invoice_cancels_the_waiting_reminder(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email", "manage_api")
    tag = unique()
    address = f"paid-{tag}@example.com"
    contact = {"id": f"c_{tag}", "email": address}
    invoice = {"id": f"inv_{tag}", "number": f"P-{tag}"}
    before = local_stack.totals("overdue-invoice-reminder")
    # Given a reminder waiting on an overdue invoice
    [run_id] = accepted(local_stack, sample("overdue-invoice-reminder", contact=contact, invoice=invoice))["runs"]
    # When the same invoice is paid
    accepted(local_stack, sample("invoice-paid-thank-you", contact=contact, invoice=invoice))
    # And more than three days pass
    local_stack.advance("3d1h")
    # Then no reminder was sent (only the thank-you of the other automation)
    subjects = [e["subject"] for e in local_stack.outbox(address)]
    assert not any("overdue" in s or "reminder" in s for s in subjects), subjects
    # And the run ended as cancelled, with its reason
    run = local_stack.request("GET", f"/v1/runs/{run_id}")
    assert run.status == 200, run.text
    assert run.json()["status"] == "cancelled"
    assert "invoice.paid" in json.dumps(run.json())
    after = local_stack.totals("overdue-invoice-reminder")
    assert delta(after, before, "runs_cancelled") == 1


@pytest.mark.parametrize(
    ("address", "reported", "kind", "counter"),
    [
        ("bounce@simulator.amazonses.com", ["Bounce"], "bounce", "bounced_hard"),
        ("complaint@simulator.amazonses.com", ["Delivery", "Complaint"], "complaint", "complained"),
    ],
    ids=["bounce", "complaint"],
)
def test_a_bounce_or_a_complaint_suppresses_the_address(
    local_stack: LocalStackClient, address: str, reported: list[str], kind: str, counter: str
) -> None:
    local_stack.require("ingest_trigger", "send_email", "stats_webhook", "manage_api")
    tag = unique()
    before = local_stack.totals("new-lead-welcome")
    # Given a lead whose address bounces or complains (SES's mailbox simulator)
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_a", "email": address}))
    [email] = local_stack.outbox(address)
    # Then SES reported it
    assert email["events"] == reported
    # When another lead comes with the same address
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_b", "email": address}))
    # Then no second email goes out: the address is suppressed for every type of mail
    assert len(local_stack.outbox(address)) == 1
    contact = local_stack.request("GET", f"/v1/contacts/{address}").json()
    assert [s["kind"] for s in contact["suppressions"]] == [kind]
    assert not any(contact["addresses"][0]["receives"].values())
    after = local_stack.totals("new-lead-welcome")
    assert delta(after, before, counter) == 1
    assert delta(after, before, "suppressed") >= 1


def _one_click_url(email: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in email["headers"].items()}
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    found = re.search(r"<(https?://[^>]+)>", headers["list-unsubscribe"])
    assert found, headers["list-unsubscribe"]
    return found.group(1)


def test_one_click_unsubscribe_stops_promotional_mail(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email", "stats_webhook", "manage_api")
    tag = unique()
    address = f"unsub-{tag}@example.com"
    before = local_stack.totals("new-lead-welcome")
    # Given a lead who got the welcome, then two days later the (promotional) offer
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_a", "email": address}))
    local_stack.advance("2d")
    [offer] = local_stack.emails_about(address, "Your first class is on us")
    assert offer["tags"].get("type") in (None, "promotional")
    # When the recipient's mail client posts the one-click unsubscribe (RFC 8058), with no API key
    url = _one_click_url(offer)
    answer = local_stack.request(
        "POST",
        url,
        "List-Unsubscribe=One-Click",
        key=None,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 200, answer.text
    # And the same address comes back as another lead
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_b", "email": address}))
    local_stack.advance("2d1h")
    # Then the transactional welcome still goes out, but the promotional offer does not
    subjects = [e["subject"] for e in local_stack.outbox(address)]
    assert sum(s.startswith("Welcome to Acme Studio") for s in subjects) == 2, subjects
    assert subjects.count("Your first class is on us") == 1, subjects
    contact = local_stack.request("GET", f"/v1/contacts/{address}").json()
    assert [u["kind"] for u in contact["unsubscribed"]] == ["unsubscribe"]
    after = local_stack.totals("new-lead-welcome")
    assert delta(after, before, "unsubscribed") == 1
    assert delta(after, before, "suppressed") >= 1


def _choices(page: str) -> list[tuple[str, bool]]:
    """The preferences page's choices (radio buttons), each with whether it is the one checked."""
    found = re.findall(r'<input type="radio" name="choice" value="([a-z_]+)"( checked)?>', page)
    return [(value, bool(checked)) for value, checked in found]


def test_the_preferences_page_stops_promotional_or_all_but_essential_mail(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email", "stats_webhook", "manage_api")
    tag = unique()
    address = f"prefs-{tag}@example.com"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def welcomes() -> int:
        return sum(e["subject"].startswith("Welcome to Acme Studio") for e in local_stack.outbox(address))

    before = local_stack.totals("new-lead-welcome")
    # Given a lead who got the (transactional) welcome, then two days later the (promotional) offer
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_a", "email": address}))
    local_stack.advance("2d")
    [offer] = local_stack.emails_about(address, "Your first class is on us")
    url = _one_click_url(offer)
    # When the recipient opens the offer's unsubscribe link in a browser (no API key)
    page = local_stack.request("GET", url, key=None)
    # Then the preferences page offers every level, receiving everything checked, and loads nothing from elsewhere
    assert page.status == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert _choices(page.text) == [("everything", True), ("stop_promotional", False), ("essential_only", False)]
    assert "Stop promotional emails" in page.text and "Stop all but essential emails" in page.text
    # When they stop promotional email
    saved = local_stack.request("POST", url, "choice=stop_promotional", key=None, headers=form)
    assert saved.status == 200, saved.text
    assert "no longer receives promotional emails" in saved.text
    # Then a new lead with that address gets the welcome, but not the offer
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_b", "email": address}))
    local_stack.advance("2d1h")
    assert welcomes() == 2
    assert len(local_stack.emails_about(address, "Your first class is on us")) == 1
    # When they come back to the page (it shows their level) and keep essential email only
    assert ("stop_promotional", True) in _choices(local_stack.request("GET", url, key=None).text)
    saved = local_stack.request("POST", url, "choice=essential_only", key=None, headers=form)
    assert saved.status == 200, saved.text
    assert "receives essential emails only" in saved.text
    # Then not even the (transactional) welcome goes to the next lead with that address
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_c", "email": address}))
    assert welcomes() == 2
    # And the contact shows the level, on the profile and on the address; one unsubscribe is counted
    contact = local_stack.request("GET", f"/v1/contacts/c_{tag}_a").json()
    assert contact["profile"]["subscriptions"] == {"promotional": False, "transactional": False}
    assert [(u["kind"], u["scope"]) for u in contact["unsubscribed"]] == [("unsubscribe", "non_essential")]
    assert contact["addresses"][0]["receives"] == {
        "promotional": False,
        "transactional": False,
        "business_critical": True,
    }
    assert delta(local_stack.totals("new-lead-welcome"), before, "unsubscribed") == 1
    # A form with a choice the page does not offer is a 400 naming the field, and changes nothing
    bad = local_stack.request("POST", url, "choice=maybe", key=None, headers=form)
    assert bad.status == 400 and "choice: unknown choice" in bad.text, bad.text
    # When they subscribe again from the page, the next lead's welcome goes out
    saved = local_stack.request("POST", url, "choice=everything", key=None, headers=form)
    assert saved.status == 200 and "receives all emails" in saved.text, saved.text
    accepted(local_stack, sample("new-lead-welcome", contact={"id": f"c_{tag}_d", "email": address}))
    assert welcomes() == 3


class _Frames(HTMLParser):
    """The documents of the page's ``<iframe srcdoc>``s (the parser unescapes attribute values)."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        srcdoc = dict(attrs).get("srcdoc")
        if tag == "iframe" and srcdoc:
            self.documents.append(srcdoc)


def links_of_rendered_emails(page: str) -> list[str]:
    frames = _Frames()
    frames.feed(page)
    return [html.unescape(href) for doc in frames.documents for href in re.findall(r'href="([^"]*)"', doc)]


def test_opening_and_clicking_a_link_of_the_outbox_are_counted(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "send_email", "stats_webhook", "manage_api")
    tag = unique()
    address = f"click-{tag}@example.com"
    link = f"https://acme.example/book/{tag}"
    before = local_stack.totals("booking-declined")
    # Given a declined booking: its email links to another time slot
    contact = {"id": f"c_{tag}", "email": address}
    event = sample("booking-declined", contact=contact, booking={"id": f"bk_{tag}"}, booking_url=link)
    accepted(local_stack, event)
    [email] = local_stack.outbox(address)
    # When the recipient follows the link from the outbox page (click tracking rewrote it)
    page = local_stack.request("GET", "/_local/outbox.html", key=None).text
    tracked = f"/_local/click?m={quote(email['id'], safe='')}&u={quote(link, safe='')}"
    assert tracked in links_of_rendered_emails(page)
    answer = local_stack.request("GET", tracked, key=None)
    # Then they are sent on to the link, and SES reported an open and a click
    assert answer.status == 302 and answer.headers["Location"] == link
    [email] = local_stack.outbox(address)
    assert email["events"] == ["Delivery", "Open", "Click"]
    after = local_stack.totals("booking-declined")
    assert delta(after, before, "opened") == 1 and delta(after, before, "clicked") == 1


def test_a_bad_event_gets_its_4xx(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger")
    # Not JSON
    assert (
        local_stack.request("POST", "/v1/events", b"{not json", headers={"Content-Type": "application/json"}).status
        == 400
    )
    # A wrong field: the answer names it
    answer = local_stack.post_event({"id": f"evt_e2e_{unique()}", "type": 42, "contact": {"id": "c_bad"}})
    assert answer.status == 422, answer.text
    assert "type" in [e["loc"] for e in answer.json()["errors"]]
    # Too large
    huge = {"type": "lead.created", "contact": {"id": "c_big"}, "data": {"blob": "x" * (70 * 1024)}}
    assert local_stack.post_event(huge).status == 413


def test_the_api_key_is_required_on_v1_and_not_on_unsubscribe_links(local_stack: LocalStackClient) -> None:
    local_stack.require("manage_api", "stats_webhook")
    assert local_stack.request("GET", "/v1/automations", key=None).status == 401
    # An unknown key is refused by the authorizer (as API Gateway answers its Unauthorized): 401
    assert local_stack.request("GET", "/v1/automations", key="not-the-key").status == 401
    assert local_stack.request("POST", "/v1/events", {"type": "lead.created"}, key=None).status == 401
    listed = local_stack.request("GET", "/v1/automations")
    assert listed.status == 200
    ids = {a["id"] for a in listed.json()["automations"]}
    assert {"new-lead-welcome", "overdue-invoice-reminder"} <= ids
    # The unsubscribe route is public: a bad token is the function's 400, not the API key's 401/403
    assert local_stack.request("GET", "/u/not-a-token", key=None).status == 400
    assert local_stack.request("GET", "/v1/nothing-here").status == 404


def test_an_event_put_on_the_bus_is_ingested(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "send_email")
    import boto3

    # Given an app that puts its events on the stack's EventBridge bus (the moto server's)
    events = boto3.client(
        "events",
        endpoint_url=local_stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    tag = unique()
    address = f"bus-{tag}@example.com"
    event = sample("new-lead-welcome", contact={"id": f"c_{tag}", "email": address, "first_name": "Bea"})
    detail = {k: v for k, v in event.items() if k != "type"}
    # When it puts a lead.created there (DetailType is the event's type)
    entry = {"EventBusName": "automations-local", "Source": "acme.crm", "DetailType": "lead.created"}
    put = events.put_events(Entries=[{**entry, "Detail": json.dumps(detail)}])
    assert put["FailedEntryCount"] == 0
    # Then the rule delivers it to ingest_trigger and the welcome email goes out
    email = local_stack.wait_for_email(address, "Welcome to Acme Studio, Bea")
    assert email["events"] == ["Delivery"]
