"""Reading a queue message of the email queue: the JSON of ``EmailRequest.as_message()``, checked."""

from __future__ import annotations

import json
from typing import Any

from automations.engine.effects import EmailRequest
from automations.engine.email import EMAIL_TYPES
from automations.errors import AutomationsError
from automations.language.templates import html_to_text

REQUIRED_FIELDS = ("workspace", "automation_id", "run_id", "step", "type", "recipients", "subject", "html")


class InvalidEmailMessageError(AutomationsError):
    """A queue message that no retry can make sendable (not JSON, a field missing or of the wrong kind)."""


def request_from_body(body: str | bytes | dict[str, Any]) -> EmailRequest:
    """The :class:`EmailRequest` of a queue message (the JSON of ``EmailRequest.as_message()``)."""
    try:
        data: Any = body if isinstance(body, dict) else json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEmailMessageError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEmailMessageError("not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "", [])]
    if missing:
        raise InvalidEmailMessageError(f"missing fields: {', '.join(missing)}")
    recipients = data["recipients"]
    if not isinstance(recipients, list) or not all(isinstance(r, str) and "@" in r for r in recipients):
        raise InvalidEmailMessageError("recipients must be a list of email addresses")
    if data["type"] not in EMAIL_TYPES:
        raise InvalidEmailMessageError(f"unknown email type {data['type']!r}")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidEmailMessageError("headers must be an object")
    try:
        version = int(data.get("version") or 0)
    except (TypeError, ValueError):
        raise InvalidEmailMessageError("version must be a number") from None
    html = str(data["html"])
    return EmailRequest(
        workspace=str(data["workspace"]),
        automation_id=str(data["automation_id"]),
        version=version,
        run_id=str(data["run_id"]),
        step=str(data["step"]),
        type=str(data["type"]),
        recipients=tuple(recipients),
        subject=str(data["subject"]),
        html=html,
        text=str(data.get("text") or html_to_text(html)),
        from_name=data.get("from_name") or None,
        from_address=data.get("from_address") or None,
        reply_to=data.get("reply_to") or None,
        person=data.get("person") or None,
        headers={str(k): str(v) for k, v in headers.items()},
        unsubscribe=bool(data.get("unsubscribe")),
        test=bool(data.get("test")),
    )
