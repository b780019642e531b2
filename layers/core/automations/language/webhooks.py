"""Where a webhook may go and which headers it may carry: the checks made when an automation is saved, and again
by the HTTP client (:mod:`automations.adapters.webhook_http`) on the rendered request, before and after DNS.

Only ``https://`` URLs without credentials; an address in a loopback, private, link-local, multicast, reserved,
unspecified, shared (100.64.0.0/10) or instance metadata range is refused in whichever form the URL gives it.
With ``allow_loopback_http`` (the local stack) loopback addresses are allowed, over plain ``http://`` too.
Headers are HTTP tokens with one-line Latin-1 values; the names the product sets itself (the transport's and the
signature's) may not be given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from automations.errors import AutomationsError

#: The methods a webhook may use.
METHODS = frozenset({"POST", "PUT", "PATCH"})
#: The most headers an automation may give, and the longest value.
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192

#: Headers the transport sets or that would change how the request travels: never given by an automation.
TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "accept-encoding",
    }
)
#: Headers that sign a delivery (automations.services.webhook_signing sets them): never given by an automation.
SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"})
#: Every header name an automation may not give.
RESERVED_HEADERS = TRANSPORT_HEADERS | SIGNATURE_HEADERS

#: Instance metadata services (EC2, ECS task credentials are link-local anyway).
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
#: Shared address space (RFC 6598): carrier-grade NAT, and some VPC set-ups.
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")
#: IPv6 prefixes that carry an IPv4 address inside: NAT64 (RFC 6052).
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")

#: An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Characters a header value may not hold: control characters but tab (CR and LF among them).
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Characters a URL may not hold at all: control characters and spaces.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
#: Characters of a URL's path and query sent percent-encoded (as UTF-8): whatever is not printable ASCII.
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]+")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefusedError(AutomationsError, ValueError):
    """A webhook request that may not be sent: its URL, an address its host resolves to, its method or its
    headers. The HTTP client turns it into a failed response that says so."""


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a webhook may not be sent to an address (``"a private address"``, …), or ``None`` when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_problem(address.ipv4_mapped, allow_loopback=allow_loopback)
        embedded = address.sixtofour
        if embedded is None and address in NAT64_NETWORK:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return f"an address that carries {embedded}, {problem}"
    if address in METADATA_ADDRESSES:
        return "an instance metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_NETWORK:
        return "a shared (carrier-grade NAT) address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "an address that is not public"
    return None


@dataclass(frozen=True)
class Target:
    """A URL taken apart for sending: the host as sent to DNS and TLS, and the request line's target."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    literal: IPAddress | None


def parse_url(url: str, *, allow_loopback_http: bool) -> Target:
    """The URL's parts, or :class:`WebhookRefusedError` for anything wrong that is seen without DNS."""
    if not isinstance(url, str) or not url:
        raise WebhookRefusedError("a webhook URL is a non-empty text")
    if _URL_FORBIDDEN.search(url):
        raise WebhookRefusedError("a webhook URL may not hold spaces, line breaks or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefusedError(f"the webhook URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_loopback_http):
        raise WebhookRefusedError(f"a webhook URL starts with https:// (not {scheme or 'no scheme'})")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefusedError("a webhook URL may not hold a user name or password")
    hostname = parts.hostname
    if not hostname:
        raise WebhookRefusedError("the webhook URL has no host")
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(hostname)
    except ValueError:
        literal = None
    if literal is None:
        if "%" in hostname or "[" in parts.netloc:
            raise WebhookRefusedError("the webhook URL's host is not valid")
        try:
            host = hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise WebhookRefusedError("the webhook URL's host is not a valid name") from None
    else:
        host = str(literal)
    default_port = 443 if scheme == "https" else 80
    if port == 0:
        raise WebhookRefusedError("the webhook URL's port is not valid")
    port = port or default_port
    shown = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    path = _NOT_PRINTABLE_ASCII.sub(lambda found: quote(found.group(), safe=""), path)
    if literal is not None:
        problem = address_problem(literal, allow_loopback=allow_loopback_http)
        if problem is not None:
            raise WebhookRefusedError(f"the webhook URL's host {literal} is {problem}")
        if scheme == "http" and not literal.is_loopback and not is_mapped_loopback(literal):
            raise WebhookRefusedError("a plain http:// webhook URL is allowed to a loopback address only")
    return Target(scheme, host, port, path, host_header, literal)


def is_mapped_loopback(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and bool(address.ipv4_mapped and address.ipv4_mapped.is_loopback)


def check_url(url: str, *, allow_loopback_http: bool = False) -> list[str]:
    """The problems of a webhook URL that are seen without resolving its host (the scheme, credentials, the
    host's form, an address literal in a refused range); empty when there are none."""
    try:
        parse_url(url, allow_loopback_http=allow_loopback_http)
    except WebhookRefusedError as exc:
        return [str(exc)]
    return []


def header_problems(headers: Mapping[str, str], reserved: frozenset[str]) -> list[str]:
    if not isinstance(headers, Mapping):
        return ["headers are a mapping of names to values"]
    problems: list[str] = []
    if len(headers) > MAX_HEADERS:
        problems.append(f"at most {MAX_HEADERS} headers may be given")
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            problems.append(f"header name {name!r} is not a valid HTTP header name")
            continue
        lower = name.lower()
        if lower in seen:
            problems.append(f"header {name!r} is given twice (header names are case-insensitive)")
        seen.add(lower)
        if lower in reserved:
            problems.append(f"header {name!r} is set by the product and may not be given")
        if not isinstance(value, str):
            problems.append(f"header {name!r} has a value that is not text")
            continue
        if "\r" in value or "\n" in value:
            problems.append(f"header {name!r} holds a line break")
        elif _VALUE_CONTROL.search(value):
            problems.append(f"header {name!r} holds a control character")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            problems.append(f"header {name!r} holds characters outside Latin-1")
        if len(value) > MAX_HEADER_VALUE:
            problems.append(f"header {name!r} is longer than {MAX_HEADER_VALUE} characters")
    return problems


def check_headers(headers: Mapping[str, str]) -> list[str]:
    """The problems of the headers an automation gives a webhook (see the module's description); empty when
    there are none."""
    return header_problems(headers, RESERVED_HEADERS)
