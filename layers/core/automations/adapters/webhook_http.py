"""Webhook delivery over HTTP (urllib3): one request to a receiver, refused when it could reach the inside.

:meth:`WebhookHttpClient.post` sends one request (``POST``, ``PUT`` or ``PATCH``) and returns a
:class:`WebhookResponse`; it never raises for anything the receiver, the network or the URL does.

Where a webhook may go
    Only ``https://`` URLs without credentials in them. The host is resolved once, when the request is made,
    with :func:`socket.getaddrinfo`; each address it resolves to must be public: a loopback, private, link-local,
    multicast, reserved, unspecified, shared (carrier-grade NAT, 100.64.0.0/10) or instance metadata address
    (169.254.169.254, fd00:ec2::254) refuses the whole request, whichever form the URL gives it in (a name, an
    IPv4 literal in any notation, IPv6, IPv4 inside IPv6). The connection is then made to the address checked,
    never to the name again, so a name that resolves differently a moment later (DNS rebinding) reaches nothing
    unchecked; TLS still sends the name (SNI) and checks the certificate against it, and the ``Host`` header
    carries it. With ``allow_loopback_http`` (the local stack) loopback addresses are allowed too, and a plain
    ``http://`` URL is allowed when every address of its host is a loopback one. A refused request is a
    permanent failure whose ``reason`` says why (``refused`` is set); :func:`check_url` gives the same answer for
    what can be known without resolving the host, for a URL being saved.

Headers
    :func:`check_headers` lists the problems of the headers an automation gives (checked when it is saved):
    names that are not HTTP tokens, line breaks or other control characters, characters outside Latin-1, a name
    given twice (names are case-insensitive), and the names the product sets itself: the transport's (``Host``,
    ``Content-Length``, ``Transfer-Encoding``, ``Connection`` and the other hop-by-hop ones, ``Expect``,
    ``Accept-Encoding``: the response is read as sent, uncompressed) and the signature's (``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature``, ``Idempotency-Key``). :meth:`~WebhookHttpClient.post` checks
    the headers it is given (signature headers included) again, as they are after rendering, and refuses the
    request if any has one of these problems other than carrying a signature header.

Time
    3 s to connect (each blocking step of TCP and TLS set-up), 10 s in all: from the first connection attempt, a
    deadline shuts the connection down however slowly the receiver sends. Both are the client's settings.
    Redirects are never followed: a 3xx is the answer.

Outcomes (:attr:`WebhookResponse.outcome`)
    ``delivered``: a 2xx status. ``retry`` (:attr:`~WebhookResponse.retryable`): a 5xx or 429 status, a timeout,
    a connection that could not be made or broke, a TLS failure, a host name that did not resolve. ``failed``:
    any other status (4xx, 3xx, …) or a refused request. The response keeps its status, up to 64 KB of its body
    (parsed when it is whole and JSON, else as text; ``truncated`` when there was more) and a few of its headers
    (``content-type``, ``retry-after``, ``location``).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3.exceptions as urllib3_errors
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse

from automations.jsontext import cut_deep
from automations.language.webhooks import (
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    METADATA_ADDRESSES,
    METHODS,
    NAT64_NETWORK,
    RESERVED_HEADERS,
    SHARED_NETWORK,
    SIGNATURE_HEADERS,
    TRANSPORT_HEADERS,
    IPAddress,
    WebhookRefusedError,
    address_problem,
    check_headers,
    check_url,
)
from automations.language.webhooks import Target as _Target
from automations.language.webhooks import header_problems as _header_problems
from automations.language.webhooks import is_mapped_loopback as _is_mapped_loopback
from automations.language.webhooks import parse_url as _parse_url
from automations.ports.values import WebhookOutcome as Outcome
from automations.ports.values import WebhookResponse

#: Seconds allowed for each step of setting a connection up, and for the whole exchange.
CONNECT_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 10.0
#: The most bytes of a response body kept.
MAX_RESPONSE_BYTES = 64 * 1024
#: How deep a response's JSON may nest to be parsed (deeper, the body is kept as text).
MAX_RESPONSE_JSON_DEPTH = 32
#: How many of a host's addresses are tried, in the resolver's order, when connecting fails.
MAX_ADDRESSES_TRIED = 3
#: The response headers kept in a :class:`WebhookResponse` (names in lower case), each at most this long.
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after", "location")
MAX_KEPT_HEADER_VALUE = 1024
#: What the request says it is.
USER_AGENT = "automations-webhooks/1"


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a host stands for, in the resolver's order (an address literal stands for itself).
    Raises :class:`socket.gaierror` when the name does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_VALUE",
    "METADATA_ADDRESSES",
    "METHODS",
    "NAT64_NETWORK",
    "RESERVED_HEADERS",
    "SHARED_NETWORK",
    "SIGNATURE_HEADERS",
    "TRANSPORT_HEADERS",
    "WebhookHttpClient",
    "WebhookRefusedError",
    "WebhookResponse",
    "address_problem",
    "check_headers",
    "check_url",
    "classify",
    "post",
    "resolve",
]


# --- sending ------------------------------------------------------------------------------------------------


class _Deadline:
    """Shuts down the sockets it watches once the time is up, ending whatever read or write waits on them."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def stop(self) -> None:
        """Stops watching (before the sockets are closed, so that none is shut down after)."""
        with self._lock:
            self._done = True
            self._sockets.clear()
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: it ends a blocked read without touching TLS state.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _transfer_failure(exc: BaseException, deadline: _Deadline, total: float, *, connecting: bool) -> str:
    """Why a connection or an exchange broke, said for a person reading the step's result."""
    if deadline.fired or deadline.remaining() <= 0:
        return f"timed out after {total:g} s"
    if isinstance(exc, urllib3_errors.NameResolutionError):
        return f"the host did not resolve: {_short(exc)}"
    if isinstance(exc, urllib3_errors.NewConnectionError):
        return f"could not connect: {_short(exc)}"
    if isinstance(exc, urllib3_errors.ConnectTimeoutError):
        return "timed out connecting"
    if isinstance(exc, TimeoutError | urllib3_errors.TimeoutError):
        return "timed out connecting" if connecting else "timed out waiting for the response"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError | urllib3_errors.SSLError):
        return f"TLS failed: {_short(exc)}"
    if connecting:
        return f"could not connect: {_short(exc)}"
    return f"the connection broke: {_short(exc)}"


def classify(status: int) -> tuple[Outcome, str]:
    """A status's outcome, and the reason when it is not delivered: 2xx delivered; 5xx and 429 retried; any
    other status (a redirect, which is not followed, included) failed."""
    if 200 <= status < 300:
        return "delivered", ""
    if status == 429 or 500 <= status < 600:
        return "retry", f"the receiver answered {status}"
    if 300 <= status < 400:
        return "failed", f"the receiver answered {status} (redirects are not followed)"
    return "failed", f"the receiver answered {status}"


def _body_value(data: bytes, truncated: bool) -> tuple[Any, bool]:
    """A response body as kept: its JSON when whole and JSON nesting within bounds, else its text."""
    if not data:
        return None, False
    text = data.decode("utf-8", errors="replace")
    if not truncated:
        candidate = text.removeprefix("\ufeff").strip()
        if candidate and cut_deep(candidate, MAX_RESPONSE_JSON_DEPTH) is candidate:
            try:
                return json.loads(candidate, parse_constant=_no_constant), True
            except (ValueError, RecursionError):
                pass
    return text, False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class WebhookHttpClient:
    """Sends webhooks (see the module's description). ``allow_loopback_http`` lets requests reach loopback
    addresses, over plain http too (the local stack); ``ca_certs`` is a file of the certificates trusted instead
    of the system's."""

    allow_loopback_http: bool = False
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    total_timeout: float = TOTAL_TIMEOUT_SECONDS
    max_body: int = MAX_RESPONSE_BYTES
    ca_certs: str | None = None

    def post(self, url: str, headers: Mapping[str, str], body: bytes, *, method: str = "POST") -> WebhookResponse:
        """Sends one request and says what came of it; never raises for the URL, the network or the receiver."""
        try:
            target = self._target(url, headers, method)
        except WebhookRefusedError as exc:
            return WebhookResponse("failed", reason=f"refused: {exc}", refused=True)
        try:
            addresses = resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            return WebhookResponse("retry", reason=f"the host did not resolve: {_short(exc)}")
        try:
            self._check_addresses(target, addresses)
        except WebhookRefusedError as exc:
            return WebhookResponse("failed", reason=f"refused: {exc}", refused=True)
        return self._send(target, addresses, headers, bytes(body), method.upper())

    def _target(self, url: str, headers: Mapping[str, str], method: str) -> _Target:
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise WebhookRefusedError(f"a webhook's method is one of {', '.join(sorted(METHODS))}")
        problems = _header_problems(headers, TRANSPORT_HEADERS)
        if problems:
            raise WebhookRefusedError("; ".join(problems))
        return _parse_url(url, allow_loopback_http=self.allow_loopback_http)

    def _check_addresses(self, target: _Target, addresses: list[IPAddress]) -> None:
        if not addresses:
            raise WebhookRefusedError(f"the webhook URL's host {target.host} has no IPv4 or IPv6 address")
        for address in addresses:
            problem = address_problem(address, allow_loopback=self.allow_loopback_http)
            if problem is not None:
                raise WebhookRefusedError(f"the webhook URL's host {target.host} resolves to {address}, {problem}")
            if target.scheme == "http" and not (address.is_loopback or _is_mapped_loopback(address)):
                raise WebhookRefusedError("a plain http:// webhook URL is allowed to a loopback address only")

    def _connection(self, target: _Target, address: IPAddress, timeout: float) -> HTTPConnection:
        if target.scheme == "https":
            return HTTPSConnection(
                str(address),
                target.port,
                timeout=timeout,
                server_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_certs,
            )
        return HTTPConnection(str(address), target.port, timeout=timeout)

    def _send(
        self, target: _Target, addresses: list[IPAddress], headers: Mapping[str, str], body: bytes, method: str
    ) -> WebhookResponse:
        sent = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        for name, value in headers.items():
            if name.lower() == "user-agent":
                del sent["User-Agent"]
            sent[name] = value
        deadline = _Deadline(self.total_timeout)
        reason = "could not connect"
        try:
            for address in addresses[:MAX_ADDRESSES_TRIED]:
                remaining = deadline.remaining()
                if remaining <= 0:
                    reason = f"timed out after {self.total_timeout:g} s"
                    break
                connection = self._connection(target, address, min(self.connect_timeout, remaining))
                try:
                    try:
                        connection.connect()
                    except (OSError, ValueError, urllib3_errors.HTTPError) as exc:
                        reason = _transfer_failure(exc, deadline, self.total_timeout, connecting=True)
                        continue
                    deadline.watch(connection.sock)
                    return self._exchange(connection, target, sent, body, method, deadline)
                finally:
                    connection.close()
        finally:
            deadline.stop()
        return WebhookResponse("retry", reason=reason)

    def _exchange(
        self,
        connection: HTTPConnection,
        target: _Target,
        headers: Mapping[str, str],
        body: bytes,
        method: str,
        deadline: _Deadline,
    ) -> WebhookResponse:
        try:
            connection.timeout = max(deadline.remaining(), 0.001)
            connection.request(
                method, target.path, body=body, headers=headers, preload_content=False, decode_content=False
            )
            response = connection.getresponse()
            try:
                data, truncated = self._read(response)
            finally:
                response.close()
        except (OSError, ValueError, http.client.HTTPException, urllib3_errors.HTTPError) as exc:
            return WebhookResponse(
                "retry", reason=_transfer_failure(exc, deadline, self.total_timeout, connecting=False)
            )
        outcome, reason = classify(response.status)
        value, is_json = _body_value(data, truncated)
        kept = {
            name: str(response.headers[name])[:MAX_KEPT_HEADER_VALUE]
            for name in KEPT_RESPONSE_HEADERS
            if name in response.headers
        }
        return WebhookResponse(outcome, response.status, value, is_json, truncated, kept, reason)

    def _read(self, response: BaseHTTPResponse) -> tuple[bytes, bool]:
        """At most ``max_body`` bytes of the body, and whether there was more."""
        pieces: list[bytes] = []
        size = 0
        while size <= self.max_body:
            piece = response.read(min(16384, self.max_body + 1 - size), decode_content=False)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        data = b"".join(pieces)
        return data[: self.max_body], len(data) > self.max_body


def post(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str = "POST",
    allow_loopback_http: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    total_timeout: float = TOTAL_TIMEOUT_SECONDS,
) -> WebhookResponse:
    """One webhook request with a :class:`WebhookHttpClient` of these settings."""
    client = WebhookHttpClient(
        allow_loopback_http=allow_loopback_http, connect_timeout=connect_timeout, total_timeout=total_timeout
    )
    return client.post(url, headers, body, method=method)
