"""The operator console (DESIGN.md §5, "The console"): static files shipped in the package, served at ``/console``.

The page holds no data: it asks for a key and calls the ``/v1`` routes with it, so these routes need none.
Every answer carries a strict Content-Security-Policy (no inline script or style, nothing from elsewhere, no
framing), and an ETag: the files are revalidated on each load (``no-cache``) and answered 304 when unchanged.
``/console`` is the page; ``/console/<file>`` its scripts, styles and icon (one level, known names only).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()  # type: ignore[no-untyped-call]

#: Where the console's files are: ``automations/console`` in the package.
FOLDER = Path(__file__).resolve().parent.parent.parent / "console"
INDEX = "index.html"

#: The content type of each kind of file the console has; a file of any other kind is not served.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
#: A file name the console may ask for: one segment, no dot first.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")

#: Scripts, styles and fonts from this origin only; images also as data: and https: (an email preview's);
#: email previews are sandboxed srcdoc frames (``frame-src`` allows no other); no plugins, no <base>, no
#: framing of the console itself, forms post nowhere.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


@dataclass(frozen=True)
class File:
    body: str
    content_type: str
    etag: str


@functools.cache
def files() -> dict[str, File]:
    """The console's files by name, read once per process."""
    found: dict[str, File] = {}
    for path in sorted(FOLDER.iterdir()) if FOLDER.is_dir() else []:
        kind = TYPES.get(path.suffix)
        if kind is None or not path.is_file() or not NAME.match(path.name):
            continue
        body = path.read_text(encoding="utf-8")
        etag = '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'
        found[path.name] = File(body, kind, etag)
    return found


def _answer(status: int, body: str, content_type: str, headers: dict[str, str]) -> Response[str]:
    return Response(status_code=status, content_type=content_type, body=body, headers={**SECURITY_HEADERS, **headers})


def _not_found(what: str) -> Response[str]:
    message = f"The console has no file {what!r}.\n"
    return _answer(404, message, TYPES[".txt"], {"Cache-Control": "no-store"})


def _to_page() -> Response[str]:
    return _answer(308, "", TYPES[".txt"], {"Location": "../console", "Cache-Control": "no-store"})


def _serve(name: str) -> Response[str]:
    found = files().get(name) if NAME.match(name) else None
    if found is None:
        return _not_found(name)
    headers = {"Cache-Control": "no-cache", "ETag": found.etag}
    given = router.current_event.headers.get("if-none-match")
    if given and found.etag in [tag.strip().removeprefix("W/") for tag in given.split(",")]:
        return _answer(304, "", found.content_type, headers)
    return _answer(200, found.body, found.content_type, headers)


@router.get("/console", include_in_schema=False)
def console_page() -> Response[str]:
    # The page's links are relative to /console: from /console/ they would miss, so it is sent there.
    return _to_page() if router.current_event.path.endswith("/") else _serve(INDEX)


@router.get("/console/<name>", include_in_schema=False)
def console_file(name: str) -> Response[str]:
    # The page itself is at /console only: its links are relative to it.
    return _to_page() if name == INDEX else _serve(name)
