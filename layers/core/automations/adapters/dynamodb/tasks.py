"""The task store: one item per task in the actions table, listed newest first through two indexes.

A task is put only if its id is new (one conditional put); when the id exists, the stored task is read and
answered, so a step retried finds the task it made. A status change is one conditional update (the task
exists and is not in that status yet), which also moves the task in the ``by_status`` index.

Listings query ``by_status`` when a status is asked for, else ``by_workspace``, newest first, with the
assignee as a filter; indexes follow writes within a moment, so a task just made or changed may show a
moment later.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition

from automations.adapters.dynamodb.tables import TaskItem
from automations.adapters.dynamodb.writes import conditional_failed, save_if
from automations.ports.errors import ConflictError, NotFoundError
from automations.ports.values import (
    Task,
    TaskListing,
    check_task,
    check_task_status,
    is_task_id,
    task_cursor,
    task_order,
)

_TASK = "task"
#: How many index items one request reads while an assignee filters them.
_FILTERED_PAGE = 100


def task_pk(workspace: str, task_id: str) -> str:
    return f"{workspace}#task#{task_id}"


def tasks_pk(workspace: str) -> str:
    return f"{workspace}#tasks"


def status_pk(workspace: str, status: str) -> str:
    return f"{workspace}#tasks#{status}"


def task_item(task: Task) -> TaskItem:
    order = task_order(task)
    return TaskItem(
        task_pk(task.workspace, task.id),
        _TASK,
        task_id=task.id,
        title=task.title,
        description=task.description,
        assignee=task.assignee,
        due_at=task.due_at,
        status=task.status,
        person=task.person,
        automation_id=task.automation_id,
        run_id=task.run_id,
        step=task.step,
        created_at=task.created_at,
        updated_at=task.updated_at,
        gsi1pk=tasks_pk(task.workspace),
        gsi1sk=order,
        gsi2pk=status_pk(task.workspace, task.status),
        gsi2sk=order,
    )


def task_of(workspace: str, item: TaskItem) -> Task:
    return Task(
        workspace=workspace,
        id=item.task_id,
        title=item.title,
        description=item.description,
        assignee=item.assignee,
        due_at=item.due_at,
        status=check_task_status(item.status),
        person=item.person,
        automation_id=item.automation_id,
        run_id=item.run_id,
        step=item.step,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


@dataclass
class DynamoTaskStore:
    """:class:`automations.ports.protocols.TaskStore` of one workspace."""

    workspace: str

    def create(self, task: Task) -> Task:
        task = check_task(replace(task, workspace=self.workspace))
        if save_if(task_item(task), TaskItem.pk.does_not_exist()):
            return task
        found = self.get(task.id)
        if found is None:  # tasks are never deleted: only a store that lost its table gets here
            raise ConflictError(f"task {task.id!r} exists and cannot be read")
        return found

    def get(self, task_id: str) -> Task | None:
        if not is_task_id(task_id):
            return None
        try:
            item = TaskItem.get(task_pk(self.workspace, task_id), _TASK, consistent_read=True)
        except DoesNotExist:
            return None
        return task_of(self.workspace, item)

    def list(
        self, *, status: str | None = None, assignee: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[Task], str | None]:
        listing = TaskListing.parse(status=status, assignee=assignee, limit=limit, cursor=cursor)
        found: builtins.list[Task] = []
        for item in self._indexed(listing):
            task = task_of(self.workspace, item)
            if listing.wants(task):  # the index's copy may lag a change by a moment
                found.append(task)
            if len(found) > listing.limit:
                break
        page = found[: listing.limit]
        return page, task_cursor(page[-1]) if len(found) > listing.limit else None

    def _indexed(self, listing: TaskListing) -> Iterator[TaskItem]:
        """The tasks of the listing's index, newest first, after the cursor's place."""
        who: Condition | None = TaskItem.assignee == listing.assignee if listing.assignee is not None else None
        page_size = listing.limit + 1 if who is None else _FILTERED_PAGE
        if listing.status is None:
            return TaskItem.by_workspace.query(
                tasks_pk(self.workspace),
                range_key_condition=TaskItem.gsi1sk < listing.before if listing.before is not None else None,
                filter_condition=who,
                scan_index_forward=False,
                page_size=page_size,
            )
        return TaskItem.by_status.query(
            status_pk(self.workspace, listing.status),
            range_key_condition=TaskItem.gsi2sk < listing.before if listing.before is not None else None,
            filter_condition=who,
            scan_index_forward=False,
            page_size=page_size,
        )

    def set_status(self, task_id: str, status: str, now: datetime) -> Task:
        wanted = check_task_status(status)
        if not is_task_id(task_id):
            raise NotFoundError(f"no task {task_id!r}")
        item = TaskItem(task_pk(self.workspace, task_id), _TASK)
        try:
            item.update(
                actions=[
                    TaskItem.status.set(wanted),
                    TaskItem.updated_at.set(now.astimezone(UTC)),
                    TaskItem.gsi2pk.set(status_pk(self.workspace, wanted)),
                ],
                condition=TaskItem.pk.exists() & (TaskItem.status != wanted),
            )
        except UpdateError as exc:
            if not conditional_failed(exc):
                raise
            found = self.get(task_id)
            if found is None:
                raise NotFoundError(f"no task {task_id!r}") from None
            return found  # in that status already
        return task_of(self.workspace, item)
