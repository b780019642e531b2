"""A run's state and its decision log, as values the engine returns and the storage keeps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self not in {RunStatus.RUNNING, RunStatus.WAITING}


class Decision(BaseModel):
    """One thing the engine decided, with its reason: the answer to "why did or didn't Ana get it"."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: str = Field(description="started, branch, wait, resumed, email, email_skipped, finished, ...")
    reason: str
    step: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class RunState(BaseModel):
    """Everything needed to continue a run later, pinned to the automation version it started with."""

    id: str
    workspace: str
    automation_id: str
    version: int
    person: str | None = None
    run_key: str | None = None
    status: RunStatus = RunStatus.RUNNING
    position: str | None = Field(default=None, description="The step the run waits on, while waiting.")
    due_at: datetime | None = None
    window_wait: bool = Field(
        default=False,
        description="Whether the run waits at its position for a send window to open: the step itself runs then "
        "(after a delay, the step after it does).",
    )
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    visited: list[str] = Field(default_factory=list)
    log: list[Decision] = Field(default_factory=list)
