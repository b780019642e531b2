"""evaluate_step: invoked by a one-time schedule when a run's delay (or a person's silence) is over."""

from __future__ import annotations

from typing import Any

from automations.observability import logger, metrics
from automations.services.deps import get_deps
from automations.services.ingest import silence_over
from automations.services.runner import evaluate_step
from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = get_deps()
    now = deps.clock.now()
    if event.get("kind") == "silence":
        result = silence_over(deps, event, now)
    else:
        result = evaluate_step(deps, event, now)
    logger.info("step evaluated", extra={"payload": event, "result": result.status, "reason": result.reason})
    metrics.add_metric(name="StepsAdvanced" if result.status == "advanced" else "StepsNoop", unit="Count", value=1)
    return {"status": result.status, "reason": result.reason, "run_status": result.run_status}
