"""stats_webhook: SES feedback from the configuration set's SNS topic, and the email preferences page.

- SNS events (``Records[].Sns.Message`` is an SES event-publishing record as a JSON string) update the
  message's status, the counters, the suppressions and the reputation guard, once per record.
- API Gateway events serve ``GET /u/{token}`` (the preferences page: receive every email, stop promotional
  email, or stop all but essential email, in the contact's language) and ``POST /u/{token}`` (the page's form,
  ``choice=...``, or RFC 8058 one-click, body ``List-Unsubscribe=One-Click``, which stops promotional email
  only), with no API key: the signed token is the proof. A bad token, or a form that asks for no choice the page
  offers, is a 400 page saying why. A request's log lines carry its API Gateway request id as their
  correlation id, and an error the routes do not expect is a 500 naming that id (the management API's answer).

The SNS event is read with Powertools' SNS model; each record's ``Message`` is then the feedback service's to
read, so that one record it cannot process is logged, counted and answered ``invalid`` on its own.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from automations import settings as stack_settings
from automations.observability import logger, metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

if TYPE_CHECKING:
    from automations.services import unsubscribe
    from automations.services.deps import Deps
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

# The unsubscribe pages read signed tokens: a function deployed without the secret fails at start.
stack_settings.require("UNSUBSCRIBE_SECRET_ARN")

#: The outcomes of emails (not test emails) that the dashboard shows, from the counters SES's events add.
_OUTCOME_METRICS = {"delivered": "EmailsDelivered", "bounced_hard": "EmailsBounced", "complained": "EmailsComplained"}

_HTML = "text/html; charset=utf-8"


@functools.cache
def resolver() -> APIGatewayRestResolver:
    """The resolver of the preferences pages, built on the first request."""
    from automations.api.errors import register_unexpected
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    app = APIGatewayRestResolver()
    register_unexpected(app)
    app.get("/u/<token>")(preferences_page)
    app.post("/u/<token>")(preferences_post)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return resolver()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _page(status: int, body: str) -> Response[str]:
    from automations.services import unsubscribe
    from aws_lambda_powertools.event_handler import Response

    headers = {
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": unsubscribe.PAGE_CSP,
    }
    return Response(status_code=status, content_type=_HTML, body=body, headers=headers)


def _claim(token: str) -> tuple[unsubscribe.Claim, Deps]:
    """What a link's token says, and the dependencies of its workspace; ``InvalidTokenError`` when it is not a
    token of this stack (or of a workspace it no longer has)."""
    from automations.ports import UnknownWorkspaceError
    from automations.services import unsubscribe
    from automations.services.deps import get_deps

    stack = get_deps()
    claim = unsubscribe.read_token(stack.settings, stack.secrets, token)
    try:
        return claim, get_deps(claim.workspace)
    except UnknownWorkspaceError as exc:
        raise unsubscribe.InvalidTokenError(str(exc)) from None


def _language(deps: Deps | None = None, shown: unsubscribe.Preferences | None = None) -> str:
    """The page's language: the contact's, else the browser's, else the workspace's."""
    from automations.services import unsubscribe

    return unsubscribe.page_language(
        shown.profile.locale if shown is not None and shown.profile is not None else None,
        accept_language=resolver().current_event.headers.get("accept-language"),
        default=deps.settings.locale if deps is not None else None,
    )


def _posted_body() -> str | None:
    """The POST's body as text; ``InvalidChoiceError`` when it is not (bad base64, not UTF-8)."""
    from automations.services import unsubscribe

    try:
        return resolver().current_event.decoded_body
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise unsubscribe.InvalidChoiceError(unsubscribe.CHOICE_FIELD, "the body is not a form") from None


def preferences_page(token: str) -> Response[str]:
    """``GET /u/{token}``: the preferences page."""
    from automations.services import unsubscribe

    try:
        claim, deps = _claim(token)
    except unsubscribe.InvalidTokenError as exc:
        logger.info("unsubscribe link refused", extra={"reason": str(exc)})
        return _page(400, unsubscribe.invalid_page(_language()))
    shown = unsubscribe.preferences(deps, claim)
    brand = deps.settings.brand_name
    return _page(200, unsubscribe.preferences_page(shown, brand=brand, language=_language(deps, shown)))


def preferences_post(token: str) -> Response[str]:
    """``POST /u/{token}``: the page's form, or one-click unsubscribe."""
    from automations.services import unsubscribe

    try:
        claim, deps = _claim(token)
    except unsubscribe.InvalidTokenError as exc:
        logger.info("unsubscribe refused", extra={"reason": str(exc)})
        metrics.add_metric(name="UnsubscribeRefused", unit="Count", value=1)
        return _page(400, unsubscribe.invalid_page(_language()))
    brand = deps.settings.brand_name
    try:
        choice = unsubscribe.requested_choice(_posted_body())
    except unsubscribe.InvalidChoiceError as exc:
        logger.info("preferences form refused", extra={"reason": str(exc)})
        return _page(400, unsubscribe.bad_request_page(exc, brand=brand, language=_language(deps)))
    shown = unsubscribe.choose(deps, claim, choice, deps.clock.now())
    return _page(200, unsubscribe.saved_page(shown, brand=brand, language=_language(deps, shown)))


def _sns(event: dict[str, Any]) -> dict[str, Any]:
    from automations.services import feedback
    from automations.services.deps import get_deps
    from aws_lambda_powertools.utilities.parser import parse
    from aws_lambda_powertools.utilities.parser.models import SnsModel

    stack = get_deps()
    results = []
    for record in parse(event, model=SnsModel).Records:
        sns_id = record.Sns.MessageId
        message = record.Sns.Message
        try:
            if not isinstance(message, str):  # the model allows a parsed model; the raw SNS record is a string
                raise feedback.UnprocessableFeedbackError("the SNS message is not text")
            result = feedback.handle_in(get_deps, message, stack.clock.now())
        except feedback.UnprocessableFeedbackError as exc:
            # Retrying cannot fix it: say why, count it, and let it go (SNS must not retry it forever).
            logger.error("SES event cannot be processed", extra={"sns_message_id": sns_id, "reason": str(exc)})
            metrics.add_metric(name="FeedbackUnprocessable", unit="Count", value=1)
            results.append({"sns_message_id": sns_id, "status": "invalid", "reason": str(exc)})
            continue
        if result.status == "counted":
            metrics.add_metric(name="FeedbackCounted", unit="Count", value=1)
            for counter, metric in _OUTCOME_METRICS.items():
                if result.counts.get(counter, 0) > 0:
                    metrics.add_metric(name=metric, unit="Count", value=1)
        elif result.status == "duplicate":
            metrics.add_metric(name="FeedbackDuplicates", unit="Count", value=1)
        results.append({"sns_message_id": sns_id, **result.as_dict()})
    return {"results": results}


def _is_sns(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("EventSource") == "aws:sns"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if _is_sns(event):
        return _sns(event)
    return resolver().resolve(event, context)
