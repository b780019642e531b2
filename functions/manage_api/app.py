"""manage_api: the operators' API (DESIGN.md §5); its routes are the routers of ``automations.api.routes``."""

from __future__ import annotations

from typing import Any

from automations import settings
from automations.observability import logger, metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

# Test emails carry signed unsubscribe links: a function deployed without the secret fails at start.
settings.require("UNSUBSCRIBE_SECRET_ARN")


def __getattr__(name: str) -> Any:
    # The resolver, with every route and model of the API, is built on the first request (or when asked for).
    if name == "app":
        from automations.api.app import build_app

        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ManagementRequests", unit="Count", value=1)
    from automations.api.app import build_app, resolve

    return resolve(build_app(), event, context)
