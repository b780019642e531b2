"""A small JSON client of the management API over the standard library's ``urllib``.

:func:`transport` is the only function that touches the network; tests replace it with a fake.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from automations import __version__
from automations.errors import AutomationsError

DEFAULT_ENDPOINT = "http://127.0.0.1:3000"
DEFAULT_API_KEY = "local-dev-key"


class UnreachableError(AutomationsError):
    """The server did not answer: wrong endpoint, not started, or a network problem."""


class ApiError(AutomationsError):
    """The server answered with an error status; ``body`` is its JSON answer (or its text)."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(str(message or body or f"HTTP {status}"))
        self.status = status
        self.body = body


def transport(method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float) -> tuple[int, bytes]:
    """One HTTP exchange: the status and the body (error statuses included); ``UnreachableError`` if none."""
    if not url.startswith(("http://", "https://")):
        raise UnreachableError(f"the endpoint must be an http:// or https:// URL, not {url!r}")
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read() or b"")
    except urllib.error.URLError as exc:
        raise UnreachableError(f"cannot reach {url}: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise UnreachableError(f"cannot reach {url}: {exc}") from None


def segment(value: str) -> str:
    """A path segment, percent-encoded (ids and people may hold any character)."""
    return quote(value, safe="")


@dataclass(frozen=True)
class Client:
    endpoint: str = DEFAULT_ENDPOINT
    api_key: str = DEFAULT_API_KEY
    timeout: float = 30.0

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """The parsed JSON answer of a 2xx; ``ApiError`` otherwise."""
        url = self.endpoint.rstrip("/") + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        headers = {
            "Accept": "application/json",
            "x-api-key": self.api_key,
            "User-Agent": f"automations-cli/{__version__}",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        status, raw = transport(method, url, headers, data, self.timeout)
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = text
        if status >= 400:
            raise ApiError(status, parsed)
        return parsed

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)
