"""Tasks: what automations asked people of the business to do (``create_task``), listed newest first and marked
done (docs/actions.md, "Tasks")."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.ports.values import MAX_TASKS_PAGE

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["tasks"]


@router.get(
    "/v1/tasks",
    summary="Tasks made by automations, newest first: open or done, for one assignee",
    tags=TAGS,
    responses=route_responses(200, 422),
)
def list_tasks(
    status: Annotated[str | None, Query(description="open or done (default: both)", max_length=10)] = None,
    assignee: Annotated[str | None, Query(description="Only the tasks of this assignee", max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TASKS_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page", max_length=1024)] = None,
) -> Response[models.TaskListOut]:
    deps = request_deps(router.current_event)
    found, next_cursor = deps.tasks.list(status=status, assignee=assignee, limit=limit, cursor=cursor)
    return ok({"tasks": [task.as_dict() for task in found], "next_cursor": next_cursor})


@router.patch(
    "/v1/tasks/<task_id>",
    summary="Mark a task done (or open again)",
    tags=TAGS,
    responses=route_responses(200, 400, 404),
)
def patch_task(task_id: str, body: Annotated[models.TaskStatusIn, Body()]) -> Response[models.TaskOut]:
    deps = request_deps(router.current_event)
    task = deps.tasks.set_status(unquote(task_id), body.status, deps.clock.now())
    return ok(task.as_dict())
