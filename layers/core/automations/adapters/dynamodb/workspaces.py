"""The workspace store: one item per workspace in the workspaces table, created once."""

from __future__ import annotations

from automations.adapters.dynamodb.tables import WorkspaceItem
from automations.adapters.dynamodb.writes import save_if
from automations.ports import ConflictError, Workspace

_PK = "workspaces"


def _workspace_of(item: WorkspaceItem) -> Workspace:
    return Workspace(
        id=item.sk,
        name=item.name,
        sender_address=item.sender_address,
        sender_name=item.sender_name,
        timezone=item.timezone,
        locale=item.locale,
        brand_name=item.brand_name,
        created_at=item.created_at,
        hard_bounce_rate_limit=item.hard_bounce_rate_limit,
        complaint_rate_limit=item.complaint_rate_limit,
    )


class DynamoWorkspaceStore:
    """:class:`automations.ports.WorkspaceStore` over the workspaces table."""

    def create(self, workspace: Workspace) -> None:
        item = WorkspaceItem(
            _PK,
            workspace.id,
            name=workspace.name,
            sender_address=workspace.sender_address,
            sender_name=workspace.sender_name,
            timezone=workspace.timezone,
            locale=workspace.locale,
            brand_name=workspace.brand_name,
            created_at=workspace.created_at,
            hard_bounce_rate_limit=workspace.hard_bounce_rate_limit,
            complaint_rate_limit=workspace.complaint_rate_limit,
        )
        if not save_if(item, WorkspaceItem.pk.does_not_exist()):
            raise ConflictError(f"workspace {workspace.id!r} exists already")

    def get(self, workspace_id: str) -> Workspace | None:
        try:
            return _workspace_of(WorkspaceItem.get(_PK, workspace_id, consistent_read=True))
        except WorkspaceItem.DoesNotExist:
            return None

    def all(self) -> list[Workspace]:
        return [_workspace_of(item) for item in WorkspaceItem.query(_PK)]
