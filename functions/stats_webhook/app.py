"""stats_webhook: SES feedback from the configuration set's SNS topic, and the unsubscribe pages.

- SNS events (``Records[].Sns.Message`` is an SES event-publishing record as a JSON string) update the
  message's status, the counters, the suppressions and the reputation guard, once per record.
- API Gateway events serve ``GET /u/{token}`` (a page with an unsubscribe button) and ``POST /u/{token}``
  (RFC 8058 one-click, body ``List-Unsubscribe=One-Click``), with no API key: the signed token is the proof.
  A request's log lines carry its API Gateway request id as their correlation id, and an error the routes do
  not expect is a 500 naming that id (the management API's answer).

The SNS event is read with Powertools' SNS model; each record's ``Message`` is then the feedback service's to
read, so that one record it cannot process is logged, counted and answered ``invalid`` on its own.
"""

from __future__ import annotations

from typing import Any

from automations import settings as stack_settings
from automations.api.errors import register_unexpected
from automations.observability import logger, metrics
from automations.ports import UnknownWorkspaceError
from automations.services import feedback, unsubscribe
from automations.services.deps import Deps, get_deps
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import SnsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

# The unsubscribe pages read signed tokens: a function deployed without the secret fails at start.
stack_settings.require("UNSUBSCRIBE_SECRET_ARN")

app = APIGatewayRestResolver()
register_unexpected(app)

#: The outcomes of emails (not test emails) that the dashboard shows, from the counters SES's events add.
_OUTCOME_METRICS = {"delivered": "EmailsDelivered", "bounced_hard": "EmailsBounced", "complained": "EmailsComplained"}

_HTML = "text/html; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


def _page(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=_HTML, body=body, headers=dict(_NO_STORE))


def _claim(token: str) -> tuple[unsubscribe.Claim, Deps]:
    """What a link's token says, and the dependencies of its workspace; ``InvalidTokenError`` when it is not a
    token of this stack (or of a workspace it no longer has)."""
    stack = get_deps()
    claim = unsubscribe.read_token(stack.settings, stack.secrets, token)
    try:
        return claim, get_deps(claim.workspace)
    except UnknownWorkspaceError as exc:
        raise unsubscribe.InvalidTokenError(str(exc)) from None


@app.get("/u/<token>")
def unsubscribe_page(token: str) -> Response[str]:
    try:
        claim, deps = _claim(token)
    except unsubscribe.InvalidTokenError as exc:
        logger.info("unsubscribe link refused", extra={"reason": str(exc)})
        return _page(400, unsubscribe.invalid_page())
    return _page(200, unsubscribe.confirm_page(claim, deps.settings.brand_name))


@app.post("/u/<token>")
def unsubscribe_one_click(token: str) -> Response[str]:
    try:
        claim, deps = _claim(token)
    except unsubscribe.InvalidTokenError as exc:
        logger.info("unsubscribe refused", extra={"reason": str(exc)})
        metrics.add_metric(name="UnsubscribeRefused", unit="Count", value=1)
        return _page(400, unsubscribe.invalid_page())
    if not unsubscribe.is_one_click(app.current_event.decoded_body):
        return _page(400, unsubscribe.bad_request_page())
    unsubscribe.unsubscribe(deps.suppressions, claim.address, claim.automation_id, deps.clock.now(), source="one-click")
    return _page(200, unsubscribe.done_page(claim, deps.settings.brand_name))


def _sns(event: dict[str, Any]) -> dict[str, Any]:
    stack = get_deps()
    results = []
    for record in parse(event, model=SnsModel).Records:
        sns_id = record.Sns.MessageId
        try:
            result = feedback.handle_in(get_deps, record.Sns.Message, stack.clock.now())
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
    return app.resolve(event, context)
