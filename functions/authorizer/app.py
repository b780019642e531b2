"""authorizer: the API's Lambda authorizer (REQUEST type, REST API), DESIGN.md §5.

The key is read from the ``x-api-key`` header (in any case), or else from the username of HTTP Basic
authorization (as Segment's SDKs send their write key): :func:`automations.services.access.presented_key`. A
key that is active answers an IAM policy that allows ``execute-api:Invoke`` on every method of the stage (so
that API Gateway's cached answer, kept at most 5 minutes, serves every route), with the context the handlers
read: ``workspace``, ``scopes`` (comma-joined) and ``key_id``; whether the key's scopes allow the route is the
handler's to decide (403 naming the scope). No key, an unknown key or a revoked one raises ``Unauthorized``,
which API Gateway answers 401.

The API has two authorizers on this function: one cached by the ``x-api-key`` header, for most routes, and one
without a cache (nor an identity source) for the Segment-compatible routes, whose SDKs send Basic authorization
only: API Gateway calls it for every request there.

A key that is not an ``ak_`` key may be the stack's root key: the value of the secret ``ROOT_SECRET_ARN`` names
(read through the Secrets port, cached for a while). It is answered with no workspace and the one scope
``root`` (the routes of workspaces need it; it grants no workspace's routes).

The secret is never logged: a line names the key by its id, or says why the request was refused.
"""

from __future__ import annotations

from typing import Any

from automations.observability import logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

#: The correlation id of an invocation's log lines: the API Gateway request id of the request it authorizes.
CORRELATION_ID_PATH = "requestContext.requestId"


def __getattr__(name: str) -> Any:
    # The key's reader, from the access service, which loads on first use.
    if name == "presented_key":
        from automations.services.access import presented_key

        return presented_key
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnauthorizedError(Exception):
    """Raised with the message API Gateway answers 401 for (its exact text matters)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def is_root(presented: str) -> bool:
    """Whether the key is the stack's root key; never when the stack names no root secret."""
    from automations.services import access
    from automations.services.deps import get_access

    ports = get_access()
    if not ports.root_secret_arn or ports.secrets is None:
        return False
    return access.is_root_key(ports.secrets.get(ports.root_secret_arn), presented)


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The services load with the first invocation, not with the module.
    from automations.ports import ROOT
    from automations.services import access
    from automations.services.access import presented_key
    from automations.services.deps import get_access

    request = APIGatewayAuthorizerRequestEvent(event)
    presented = presented_key(event.get("headers"))
    if presented is None:
        logger.info("request refused", extra={"reason": "no key"})
        raise UnauthorizedError
    if not presented.startswith(f"{access.PREFIX}_") and is_root(presented):
        logger.info("key accepted", extra={"key_id": access.ROOT_KEY_ID})
        claims = {"workspace": "", "scopes": ROOT, "key_id": access.ROOT_KEY_ID}
    else:
        key = access.authenticate(get_access(), presented)
        if key is None:
            logger.info("request refused", extra={"reason": "unknown or revoked key"})
            raise UnauthorizedError
        logger.info("key accepted", extra={"key_id": key.id, "workspace": key.workspace})
        claims = {"workspace": key.workspace, "scopes": ",".join(key.scopes), "key_id": key.id}
    route = request.parsed_arn
    answer = APIGatewayAuthorizerResponse(
        principal_id=claims["key_id"],
        region=route.region,
        aws_account_id=route.aws_account_id,
        api_id=route.api_id,
        stage=route.stage,
        context=claims,
        partition=route.partition,
    )
    answer.allow_all_routes()  # every method of every resource of the stage: one cached answer serves them all
    return answer.asdict()
