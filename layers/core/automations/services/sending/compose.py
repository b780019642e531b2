"""Building one recipient's email: the personal unsubscribe link (and footer), the headers, the tags, the sender
and the configuration set.

The link opens the recipient's preferences page; its token carries the run's person, so that a change made there
also reaches that person's profile when the profile has the recipient's address.
"""

from __future__ import annotations

import html as html_lib

from automations.engine.effects import EmailRequest
from automations.engine.email import (
    clean_header,
    clean_header_name,
    has_unsubscribe,
    sender_allowed,
    unsubscribe_headers,
)
from automations.language.templates import UNSUBSCRIBE_PLACEHOLDER
from automations.ports import OutgoingEmail, SendRejectedError
from automations.services.deps import Deps
from automations.services.unsubscribe import unsubscribe_url


def personalize(html: str, text: str, link: str, *, promotional: bool) -> tuple[str, str]:
    """Put the recipient's unsubscribe link in place of the placeholder; promotional mail always shows one.

    When a promotional template has no ``{{ unsubscribe_url }}``, a small footer with the link is added (in
    the HTML before ``</body>`` when there is one, and at the end of the text).
    """
    in_html = UNSUBSCRIBE_PLACEHOLDER in html
    in_text = UNSUBSCRIBE_PLACEHOLDER in text
    html = html.replace(UNSUBSCRIBE_PLACEHOLDER, html_lib.escape(link, quote=True))
    text = text.replace(UNSUBSCRIBE_PLACEHOLDER, link)
    if promotional and not in_html:
        footer = (
            '<p style="font-size:12px;color:#666;margin-top:24px">'
            f'Don\'t want these emails? <a href="{html_lib.escape(link, quote=True)}">Unsubscribe</a>.</p>'
        )
        lower = html.lower()
        at = lower.rfind("</body>")
        html = html[:at] + footer + html[at:] if at >= 0 else html + footer
    if promotional and not in_text:
        text = text.rstrip("\n") + f"\n\n--\nUnsubscribe: {link}\n"
    return html, text


def email_headers(request: EmailRequest, link: str) -> dict[str, str]:
    """The request's own headers, cleaned, plus RFC 8058's pair on the types that carry it (and only there)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        clean_name = clean_header_name(name)
        if clean_name is None or clean_name.lower() in ("list-unsubscribe", "list-unsubscribe-post"):
            continue
        headers[clean_name] = clean_header(value)
    headers.update(unsubscribe_headers(request.type, clean_header(link)))
    return headers


def email_tags(request: EmailRequest, message_id: str) -> dict[str, str]:
    """The message tags that let feedback find its message without a lookup (values sanitized by the sender)."""
    tags = {
        "workspace": request.workspace,
        "automation": request.automation_id,
        "version": str(request.version),
        "run": request.run_id,
        "step": request.step,
        "message": message_id,
        "type": request.type,
    }
    if request.test:
        tags["test"] = "true"
    return tags


def sender_problem(deps: Deps, address: str) -> str | None:
    """Why an email may not be sent from this address (None when it may): the stack's SES permission allows
    only the sender address and the allowed senders (``SenderAddress``, ``AllowedSenders``)."""
    settings = deps.settings
    if not settings.sender_address or sender_allowed(address, settings.senders()):
        return None
    return f"{address} is not an allowed sender (the stack's SenderAddress or AllowedSenders)"


def outgoing(deps: Deps, request: EmailRequest, address: str, message_id: str) -> OutgoingEmail:
    """The email for one recipient; ``SendRejectedError`` when no sender may send it."""
    sender = request.from_address or deps.settings.sender_address
    if not sender:
        raise SendRejectedError("NoSender", "no sender address: set SENDER_ADDRESS or the email's 'from'")
    problem = sender_problem(deps, sender)
    if problem:
        raise SendRejectedError("SenderNotAllowed", problem)
    link = unsubscribe_url(deps.settings, deps.secrets, address, request.automation_id, request.person)
    html, text = personalize(request.html, request.text, link, promotional=has_unsubscribe(request.type))
    return OutgoingEmail(
        from_address=sender,
        # The workspace's sender name goes with its own address (never with another 'from').
        from_name=request.from_name
        or (deps.settings.sender_name if sender == deps.settings.sender_address else None)
        or None,
        to=address,
        reply_to=request.reply_to,
        subject=request.subject,
        html=html,
        text=text,
        headers=email_headers(request, link),
        tags=email_tags(request, message_id),
        configuration_set=deps.settings.configuration_set or None,
    )
