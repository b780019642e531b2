"""The operator console (DESIGN.md §5, "The console") in a real headless Chromium, on its own local stack.

An operator logs in with a key, creates a draft from a suggested template, sees a mistake in the definition
marked at its line before saving, saves a new version, compares the versions, activates it; an app posts an
event; the operator finds the run and its timeline, and sees the statistics change. A key with fewer scopes
sees what it may not do. Each page is saved as a screenshot at 1280x800 and 390x844 in .local/screenshots.

Chromium is Debian's ``chromium`` (``make test`` installs it), driven by Playwright with that executable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect, sync_playwright

from tests.conftest import EXAMPLE_EVENTS, ROOT
from tests.e2e.conftest import API_KEY, LocalStackClient, running_stack

pytestmark = pytest.mark.e2e

SHOTS = ROOT / ".local" / "screenshots"
WIDE = ViewportSize(width=1280, height=800)
NARROW = ViewportSize(width=390, height=844)
NEW_NAME = "Thanks from the console"
TEMPLATE_ID = "invoice-paid-thank-you"
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no chromium on PATH: install Debian's chromium (make test does: apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackClient]:
    """A local stack of its own: the automations made here never meet the other tests' events."""
    with running_stack(tmp_path_factory.mktemp("console-stack") / "stack.log") as client:
        client.require("manage_api", "ingest_trigger", "send_email")
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


class Console:
    """A browser tab on the console, collecting what the page complains about (errors, CSP violations)."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.context = browser.new_context(viewport=WIDE, locale="en-GB", timezone_id="UTC")
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.base = base
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.location.get("url") == "about:srcdoc":
            return  # an email preview's own complaints (its inline styles, under the console's policy)
        # The scope probes at login are answered 404/422 on purpose; only other complaints count.
        if message.type == "error" and "Failed to load resource" not in text:
            self.problems.append(text)
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(text)

    def open(self, hash_route: str) -> Page:
        self.page.goto(f"{self.base}/console#/{hash_route}")
        return self.page

    def login(self, key: str) -> None:
        self.page.goto(f"{self.base}/console")
        self.page.fill("#api-key", key)
        self.page.click("form.login button[type=submit]")

    def shoot(self, name: str) -> None:
        """The page as it is, at 1280x800 and at 390x844 (full height)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.evaluate("document.getElementById('toast').classList.remove('shown')")
        for size, suffix in ((WIDE, "1280x800"), (NARROW, "390x844")):
            self.page.set_viewport_size(size)
            # Sandboxed frames are painted once they have been on screen.
            for frame in self.page.locator("iframe").all():
                frame.scroll_into_view_if_needed()
                self.page.wait_for_timeout(200)
            self.page.evaluate("window.scrollTo(0, 0)")
            self.page.wait_for_timeout(150)
            self.page.screenshot(path=str(SHOTS / f"{name}-{suffix}.png"), full_page=True)
        self.page.set_viewport_size(WIDE)

    def close(self) -> None:
        self.context.close()


def paid_event(stack: LocalStackClient, event_id: str) -> dict[str, Any]:
    """An invoice.paid event like the template's sample, for a contact of this test."""
    templates = stack.request("GET", "/v1/templates").json()["templates"]
    sample = next(t for t in templates if t["id"] == TEMPLATE_ID)["sample_event"]
    contact = {"id": "c_console", "email": "cleo@example.com", "first_name": "Cleo", "last_name": "Lima"}
    return {"id": event_id, "type": "invoice.paid", "contact": contact, "data": sample["data"]}


def test_the_console_is_served_without_a_key_with_a_strict_policy(stack: LocalStackClient) -> None:
    page = stack.request("GET", "/console", key=None)
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert {name: policy[name] for name in CSP} == CSP
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-cache"
    assert "<script" in page.text and "<script>" not in page.text and " style=" not in page.text
    kinds = {
        "app.js": "text/javascript; charset=utf-8",
        "console.css": "text/css; charset=utf-8",
        "favicon.svg": "image/svg+xml; charset=utf-8",
    }
    for name, kind in kinds.items():
        answer = stack.request("GET", f"/console/{name}", key=None)
        assert (answer.status, answer.headers["Content-Type"]) == (200, kind), name
        assert "Content-Security-Policy" in answer.headers and answer.headers["ETag"]
        again = stack.request("GET", f"/console/{name}", key=None, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status == 304 and again.body == b""
    for unknown in ("/console/nothing.js", "/console/app.py", "/console/x/app.js", "/console/%2e%2e%2fapp.js"):
        assert stack.request("GET", unknown, key=None).status == 404, unknown
    # The page holds no data: everything else keeps its key
    assert stack.request("GET", "/v1/automations", key=None).status == 401


def test_an_operator_builds_activates_and_watches_an_automation(stack: LocalStackClient, browser: Browser) -> None:
    console = Console(browser, stack.base)
    page = console.page
    try:
        # Given an operator logged in with the admin key
        console.login(API_KEY)
        expect(page.locator("table.automations tbody tr").first).to_be_visible()
        expect(page.locator("#scopes")).to_have_text("admin key")
        assert page.evaluate("sessionStorage.length") == 1 and API_KEY not in page.url
        expect(page.locator("table.automations td.n").first).not_to_have_text("…")
        console.shoot("automations")

        # When they search the templates and create a draft from one whose id is taken
        console.open("templates")
        page.fill("input[type=search]", "thank payment")
        cards = page.locator("li.template")
        expect(cards).to_have_count(1)
        console.shoot("templates")
        cards.first.get_by_role("button", name="Create draft").click()

        # Then the draft (its id made free: the template's is taken) opens in the editor, valid
        page.wait_for_url(re.compile(rf"#/automations/{TEMPLATE_ID}-\d+/definition"))
        new_id = page.url.rsplit("/", 2)[-2]
        expect(page.locator("#toast")).to_contain_text("created")
        status = page.locator("#editor-status")
        expect(status).to_have_text("✓ Valid")
        editor = page.locator("textarea.editor-text")
        original = editor.input_value()
        assert original.startswith(f"id: {new_id}\n") and "status:" not in original

        # When a mistake is typed, it is shown at its line, and saving is refused
        broken = original.replace("steps:\n", "steps:\n  - delay: soon\n", 1)
        bad_line = broken.splitlines().index("  - delay: soon") + 1
        editor.fill(broken)
        problem = page.locator("ol.problems li.problem").first
        expect(problem).to_contain_text("steps[0].delay")
        expect(problem).to_have_attribute("data-line", str(bad_line))
        expect(page.locator(f".gutter .line.bad[data-line='{bad_line}']")).to_have_count(1)
        expect(page.locator(f".marks .mark[data-line='{bad_line}']")).to_have_count(1)
        console.shoot("editor-error")
        page.get_by_role("button", name="Save as version 2").click()
        expect(page.locator("#toast")).to_contain_text("Not saved")
        assert stack.request("GET", f"/v1/automations/{new_id}").json()["version"] == 1

        # When it is fixed (and renamed) and saved, it is version 2
        fixed = re.sub(r"(?m)^name: .*$", f"name: {NEW_NAME}", original, count=1)
        editor.fill(fixed)
        expect(status).to_have_text("✓ Valid")
        expect(page.locator("ol.problems li")).to_have_count(0)
        page.get_by_role("button", name="Save as version 2").click()
        expect(page.locator(".page-head .meta .chip")).to_have_text("version 2")
        expect(page.locator(".page-head h1")).to_have_text(NEW_NAME)
        console.shoot("editor")

        # And the versions show what changed
        console.open(f"automations/{new_id}/versions")
        expect(page.locator(".diff-line.add").filter(has_text=NEW_NAME)).to_have_count(1)
        expect(page.locator(".diff-line.del").filter(has_text="name: ")).to_have_count(1)
        console.shoot("versions")

        # When it is activated from its page, before any event the daily chart is empty
        console.open(f"automations/{new_id}/stats")
        chart = page.locator("svg.daily")
        expect(chart).to_have_attribute("data-runs", "0")
        page.locator(".page-head input.switch").click()
        expect(page.locator(".page-head .badge-active")).to_be_visible()
        assert stack.request("GET", f"/v1/automations/{new_id}").json()["status"] == "active"

        # And an app posts an event it is triggered by
        posted = stack.post_event(paid_event(stack, "evt_console_1"))
        assert posted.status == 202, posted.text
        stack.wait_for_email("cleo@example.com", "")

        # Then the run is listed, and its timeline shows the email and the end
        console.open(f"runs?automation={new_id}")
        rows = page.locator("table.runs tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("completed")
        console.shoot("runs")
        rows.first.locator("td a").first.click()
        expect(page.locator(".timeline-entry[data-kind=started]")).to_have_count(1)
        expect(page.locator(".timeline-entry[data-kind=email]")).to_contain_text("email requested")
        expect(page.locator(".timeline-entry[data-kind=finished]")).to_be_visible()
        expect(page.locator("table").filter(has_text="cleo@example.com")).to_be_visible()
        console.shoot("run")

        # And the statistics changed: a run and an email today, in the chart and the funnel
        console.open(f"automations/{new_id}/stats")
        expect(chart).to_have_attribute("data-runs", "1")
        expect(page.locator("svg.daily g.day[data-runs='1']")).to_have_count(1)
        assert int(chart.get_attribute("data-sent") or 0) >= 1
        expect(page.locator(".funnel-stage[data-stage=runs_started]")).to_have_attribute("data-value", "1")
        console.shoot("stats")

        # And the flow shows each node's counts; a node opens the runs that went through it
        console.open(f"automations/{new_id}/flow")
        trigger = page.locator(".node-trigger")
        expect(trigger).to_contain_text("invoice.paid")
        expect(trigger.locator(".stat").first).to_have_text("1 run")
        email_node = page.locator("a.node-send_email").first
        expect(email_node.locator(".stat").first).to_have_text("1 sent")
        console.shoot("flow")
        email_node.click()
        expect(page.locator(".notice")).to_contain_text("Runs that went through step")
        expect(page.locator("table.runs tbody tr")).to_have_count(1)

        # And the preview renders each email in a sandboxed frame
        console.open(f"automations/{new_id}/preview")
        frame = page.locator("iframe.email-frame").first
        expect(frame).to_have_attribute("sandbox", "")
        expect(page.frame_locator("iframe.email-frame").first.locator("body")).not_to_be_empty()
        # in each language the email is written in (the template's speak five): another one is a choice away
        languages = page.locator("select.email-locale").first
        expect(languages.locator("option")).to_have_count(5)
        english = frame.get_attribute("srcdoc")
        languages.select_option("de")
        expect(page.locator("iframe.email-frame").first).not_to_have_attribute("srcdoc", english or "")
        languages.select_option("en")
        expect(page.frame_locator("iframe.email-frame").first.locator("body")).to_contain_text("Ana")
        console.shoot("preview")
        page.fill("input[aria-label='Send a test to']", "tester@example.com")
        page.get_by_role("button", name="Send a test email").click()
        expect(page.locator("#toast")).to_contain_text("sent to tester@example.com")
        stack.wait_for_email("tester@example.com", "")

        # And the contact has the run, and takes a label
        console.open("contacts/c_console")
        expect(page.locator("h1")).to_have_text("Cleo Lima")
        expect(page.locator("table.runs tbody tr").filter(has_text=new_id)).to_have_count(1)
        page.fill("input[aria-label='New label']", "console-vip")
        page.get_by_role("button", name="Add label").click()
        expect(page.locator(".chips .chip").filter(has_text="console-vip")).to_have_count(1)
        console.shoot("contact")
        console.open("contacts")
        expect(page.locator("table tbody tr").filter(has_text="c_console")).to_have_count(1)
        console.shoot("contacts")

        # And a task an automation made is marked done
        quote = json.loads((EXAMPLE_EVENTS / "quote-accepted.json").read_text())
        assert stack.post_event({**quote, "id": "evt_console_quote"}).status == 202
        console.open("tasks")
        task = page.locator("li.task").filter(has_text="Plan the work for Ana")
        expect(task).to_have_count(1)
        console.shoot("tasks")
        task.get_by_role("button", name="Mark done").click()
        expect(page.locator("li.task.done").filter(has_text="Plan the work for Ana")).to_have_count(1)
        done = stack.request("GET", "/v1/tasks").json()["tasks"]
        assert [t["status"] for t in done if t["title"].startswith("Plan the work for Ana")] == ["done"]

        # And a name with markup in it is shown as text, never as HTML
        hostile = '<img src=x onerror="document.title=1"> Thanks'
        assert stack.request("PATCH", f"/v1/automations/{new_id}", {"name": hostile}).status == 200
        console.open(f"automations/{new_id}")
        expect(page.locator(".page-head h1")).to_have_text(hostile)
        expect(page.locator("main img")).to_have_count(0)

        # When it is deactivated, the console asks first; cancelling keeps it active
        dialog = page.locator("dialog[open]")
        switch = page.locator(".page-head input.switch")
        switch.click()
        dialog.get_by_role("button", name="Cancel").click()
        expect(switch).to_be_checked()
        switch.click()
        dialog.get_by_role("button", name="Deactivate").click()
        expect(page.locator(".page-head .badge-inactive")).to_be_visible()
        assert stack.request("GET", f"/v1/automations/{new_id}").json()["status"] == "inactive"

        # And the page complained of nothing: no script error, no policy violation
        assert console.problems == []
    finally:
        console.close()


def test_a_key_sees_what_it_may_not_do(stack: LocalStackClient, browser: Browser) -> None:
    made = stack.request("POST", "/v1/keys", {"name": "console reader", "scopes": ["automations:read"]})
    assert made.status == 201, made.text
    reader = made.json()["secret"]
    events_only = stack.request("POST", "/v1/keys", {"name": "console app", "scopes": ["events:write"]}).json()
    console = Console(browser, stack.base)
    page = console.page
    try:
        # An events-only key reads nothing the console shows: said at login
        console.login(events_only["secret"])
        expect(page.locator("form.login .error")).to_contain_text("automations:read or contacts:read")

        # A read-only key sees the automations, with what it may not change disabled
        page.fill("#api-key", reader)
        page.click("form.login button[type=submit]")
        expect(page.locator("#scopes")).to_have_text("automations:read")
        expect(page.locator("table.automations tbody tr").first).to_be_visible()
        expect(page.locator("table.automations input.switch").first).to_be_disabled()
        expect(page.get_by_role("button", name="New automation")).to_be_disabled()
        expect(page.locator("#nav a[data-section=settings]")).to_be_hidden()
        console.shoot("read-only-automations")
        console.open("automations/overdue-invoice-reminder/definition")
        expect(page.get_by_role("button", name="Save as version 2")).to_be_disabled()
        # A refusal of the API is explained in words
        console.open("contacts/c_42")
        expect(page.locator(".error")).to_contain_text("lacks the scope “contacts:read”")
        console.shoot("read-only-refused")

        # Logging out forgets the key
        page.get_by_role("button", name="Log out").click()
        expect(page.locator("#api-key")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0
        assert console.problems == []
    finally:
        console.close()
