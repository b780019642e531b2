"""The local HTTP front: the template's API routes (as API Gateway proxy events) and the ``/_local`` tools.

- ``/v1/...`` and ``/u/{token}``: each request becomes a REST API proxy event for the function the
  template wires to its route; ``/v1`` routes need a key, read and checked as the authorizer does (401 missing,
  unknown or revoked), and the authorizer's context (workspace, scopes, key id) is passed on. As on API
  Gateway, a route whose authorizer takes its identity from ``x-api-key`` is 401 without that header; the
  Segment-compatible routes' authorizer has no identity source, and takes the key as ``x-api-key`` or as the
  HTTP Basic username (as Segment's SDKs send it).
- ``GET /_local/outbox`` (JSON, newest first), ``GET /_local/outbox.html`` (every email rendered),
  ``GET /_local/open?m=`` (the tracking pixel), ``GET /_local/click?m=&u=`` (publishes Open and Click, then
  redirects), ``GET|POST /_local/clock`` (the stack's time; ``{"advance": "3d"}`` moves it and fires what
  became due), ``GET /_local/bus`` (the events put on the stack's bus, newest first), ``GET /_local/status``.

After every request the pump runs until nothing is left to do, so what a request caused (emails, SES
events) is visible to the next one.

Many clients may connect at once; each request is served in its own thread. The API's routes are answered
one at a time: Powertools' event handler keeps the request it answers in class attributes shared by every
resolver of the process (on Lambda, a process serves one invocation at a time). What the pump invokes
(schedules, queues, bus events, SES events) runs alongside them.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from automations.adapters.clock import Clock
from automations.errors import AutomationsError
from automations.language.durations import format_duration, parse_duration
from automations.services.access import presented_key

from automations_local.apigw import (
    BadProxyResponseError,
    HttpAnswer,
    Match,
    http_answer,
    json_answer,
    match,
    proxy_event,
)
from automations_local.lambdas import FunctionLoadError, FunctionMissingError, Functions
from automations_local.log import LOG
from automations_local.pump import Pump
from automations_local.ses_simulator import outbox_page
from automations_local.wiring import Route

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}


@dataclass
class LocalApp:
    """Answers the requests: the API's routes through the functions, and the local tools."""

    routes: list[Route]
    functions: Functions
    pump: Pump
    clock: Clock
    api_key: str
    stage: str
    region: str
    functions_of_stack: list[str]
    #: The key check of the authorizer: the context it answers for a presented key (``workspace``, ``scopes``,
    #: ``key_id``), None for an unknown or revoked one (401). Without it, the one ``api_key`` is accepted (403
    #: for another).
    authorizer: Callable[[str], dict[str, str] | None] | None = None
    ready: bool = False
    one_route_at_a_time: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, request: Request) -> HttpAnswer:
        if request.path == "/":
            return self.index()
        if request.path == "/_local" or request.path.startswith("/_local/"):
            return self.local(request)
        return self.api(request)

    # --- the API ---------------------------------------------------------------------------------------------

    def api(self, request: Request) -> HttpAnswer:
        found = match(self.routes, request.method, request.path)
        if not isinstance(found, Match):
            LOG.info("%s %s -> %d (no such route)", request.method, request.path, 405 if found.allowed else 404)
            if found.allowed:
                allow = [("Allow", ", ".join(found.allowed))]
                return json_answer(405, {"message": f"{request.method} is not allowed here"}, allow)
            return json_answer(404, {"message": f"no route for {request.method} {request.path}"})
        route = found.route
        key = presented_key(dict(request.headers))
        context: dict[str, str] | None = None
        if route.api_key_required:
            missing = [name for name in route.identity_headers if not (request.header(name) or "").strip()]
            if missing or not key:
                LOG.info("%s %s -> 401 (no API key)", request.method, request.path)
                where = f"the {missing[0]} header" if missing else "the x-api-key header, or as the HTTP Basic username"
                return json_answer(401, {"message": f"missing API key: send it in {where}"})
            if self.authorizer is not None:
                context = self.authorizer(key)
                if context is None:
                    LOG.info("%s %s -> 401 (unknown or revoked API key)", request.method, request.path)
                    return json_answer(401, {"message": "Unauthorized"})
            elif not hmac.compare_digest(key.encode(), self.api_key.encode()):
                LOG.info("%s %s -> 403 (wrong API key)", request.method, request.path)
                return json_answer(403, {"message": "Forbidden: wrong API key"})
        if not self.functions.available(route.function):
            message = f"{route.function} is not available yet (functions/{route.function}/app.py is missing)"
            LOG.info("%s %s -> 501 (%s)", request.method, request.path, message)
            return json_answer(501, {"message": message})
        event = proxy_event(
            route,
            found.path_parameters,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            stage=self.stage,
            api_key=key if route.api_key_required else None,
            source_ip=request.client_ip,
            now=self.clock.now(),
            region=self.region,
            authorizer=context,
        )
        started = time.monotonic()
        try:
            with self.one_route_at_a_time:
                answer = http_answer(self.functions.invoke(route.function, event))
        except FunctionMissingError as exc:
            return json_answer(501, {"message": str(exc)})
        except (FunctionLoadError, BadProxyResponseError) as exc:
            LOG.error("%s %s -> %s: %s", request.method, request.path, route.function, exc)
            return json_answer(502, {"message": "Internal server error", "detail": str(exc)})
        except Exception as exc:
            LOG.exception("%s %s -> %s raised", request.method, request.path, route.function)
            return json_answer(502, {"message": "Internal server error", "detail": f"{type(exc).__name__}: {exc}"})
        elapsed = (time.monotonic() - started) * 1000
        LOG.info("%s %s -> %s %d (%.0f ms)", request.method, request.path, route.function, answer.status, elapsed)
        return answer

    # --- the local tools -------------------------------------------------------------------------------------

    def local(self, request: Request) -> HttpAnswer:
        name = request.path.removeprefix("/_local").strip("/")
        if name == "" and request.method == "GET":
            return self.index()
        if name == "status" and request.method == "GET":
            return json_answer(200, self.status())
        if name == "clock":
            if request.method == "GET":
                return json_answer(200, self.clock_state())
            if request.method == "POST":
                return self.advance(request)
        if request.method == "GET":
            if name == "outbox":
                return self.outbox(request)
            if name == "bus":
                return json_answer(200, {"events": list(reversed(self.pump.bus_log))})
            if name == "outbox.html":
                page = outbox_page(self.pump.outbox.newest_first())
                return HttpAnswer(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())
            if name == "open":
                self.pump.engage(request.params().get("m", ""), "Open", user_agent=request.header("user-agent") or "")
                return HttpAnswer(200, [("Content-Type", "image/gif"), ("Cache-Control", "no-store")], PIXEL)
            if name == "click":
                return self.click(request)
        return json_answer(404, {"message": f"no local tool {request.method} {request.path}"})

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "functions": self.functions.status(self.functions_of_stack),
            "now": self.clock.now().isoformat(),
            "emails": len(self.pump.outbox.newest_first()),
        }

    def clock_state(self) -> dict[str, Any]:
        offset = self.clock.offset
        return {"now": self.clock.now().isoformat(), "offset": format_duration(offset) if offset else "0m"}

    def advance(self, request: Request) -> HttpAnswer:
        try:
            body = json.loads(request.body or b"{}")
            raw = body["advance"] if isinstance(body, dict) else None
            if not isinstance(raw, str):
                raise KeyError("advance")
            delta = parse_duration(raw)
        except (ValueError, KeyError):
            return json_answer(400, {"message": 'send {"advance": "<duration>"}, such as "15m", "2h", "3d" or "1w"'})
        except AutomationsError as exc:
            return json_answer(400, {"message": str(exc)})
        now = self.clock.advance(delta)
        LOG.info("clock +%s -> %s", format_duration(delta), now.isoformat())
        self.pump.release_postponed()  # a message kept away for a backoff comes back once the clock moved
        work = self.pump.run_until_quiet()
        # Schedules are whole seconds, rounded up: one due in the next second is waited for, so that
        # "advance 3d" right after an event answers once the 3-day step has run.
        soon = self.pump.next_due_within(timedelta(seconds=1.5))
        if soon is not None:
            time.sleep(max(0.0, (soon - self.clock.now()).total_seconds()) + 0.01)
            work.add(self.pump.run_until_quiet())
        return json_answer(200, {**self.clock_state(), "fired": work.schedules})

    def outbox(self, request: Request) -> HttpAnswer:
        emails = [e.as_json() for e in self.pump.outbox.newest_first()]
        wanted = request.params().get("to")
        if wanted:
            emails = [e for e in emails if wanted.lower() in (a.lower() for a in [*e["to"], *e["cc"], *e["bcc"]])]
        return json_answer(200, {"emails": emails})

    def click(self, request: Request) -> HttpAnswer:
        params = request.params()
        message_id, url = params.get("m", ""), params.get("u", "")
        if not url.lower().startswith(("http://", "https://")):
            return json_answer(400, {"message": "u must be an http(s) URL"})
        sent = self.pump.outbox.get(message_id)
        if sent is None:
            return json_answer(404, {"message": f"no email {message_id} in the outbox"})
        agent = request.header("user-agent") or ""
        if "Open" not in sent.events:
            self.pump.engage(message_id, "Open", user_agent=agent)
        self.pump.engage(message_id, "Click", link=url, user_agent=agent)
        return HttpAnswer(302, [("Location", url), ("Cache-Control", "no-store")], b"")

    def index(self) -> HttpAnswer:
        links = [
            ("/_local/outbox.html", "outbox (every email sent, rendered)"),
            ("/_local/outbox", "outbox as JSON"),
            ("/_local/clock", 'the stack\'s clock (POST {"advance": "3d"} to move it)'),
            ("/_local/bus", "the events put on the stack's bus, newest first"),
            ("/_local/status", "status"),
            ("/v1/swagger", "the API's documentation (needs the x-api-key header)"),
            ("/console", "the operator console (log in with the API key)"),
        ]
        items = "".join(f'<li><a href="{href}">{href}</a> - {text}</li>' for href, text in links)
        page = f"<!doctype html><title>automations (local)</title><h1>automations, local stack</h1><ul>{items}</ul>"
        return HttpAnswer(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(json_answer(413, {"message": "Request Too Long"}))
            return
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path or "/",
            query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            client_ip=self.client_address[0],
        )
        app = self.server.app
        reading = request.method == "GET" and request.path.startswith("/_local/")
        if reading and request.path != "/_local/status":
            app.pump.run_until_quiet()
        try:
            answer = app.handle(request)
        except Exception as exc:
            LOG.exception("%s %s failed", request.method, request.path)
            answer = json_answer(500, {"message": f"{type(exc).__name__}: {exc}"})
        if not reading:
            try:
                app.pump.run_until_quiet()
            except Exception:
                LOG.exception("pump after %s %s failed", request.method, request.path)
        self._send(answer, head=request.method == "HEAD")

    def _send(self, answer: HttpAnswer, head: bool = False) -> None:
        self.send_response(answer.status)
        names = {k.lower() for k, _ in answer.headers}
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in names and answer.body:
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if not head:
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_TRACE = do_QUERY = _serve

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("http: " + format, *args)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # connections waiting to be accepted: a burst of clients is not reset

    def __init__(self, address: tuple[str, int], app: LocalApp | None = None) -> None:
        super().__init__(address, _Handler)
        self._app = app

    @property
    def app(self) -> LocalApp:
        if self._app is None:
            raise RuntimeError("the local server has no app yet")
        return self._app

    @app.setter
    def app(self, value: LocalApp) -> None:
        self._app = value

    @property
    def port(self) -> int:
        return int(self.server_address[1])
