"""A validated automation flattened into addressable steps: ids, positions and what comes next."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from automations.language.model import Automation, Step


@dataclass(frozen=True)
class Node:
    """One step with its place: ``loc`` for messages, ``next`` for where the run goes after it."""

    id: str
    loc: str
    step: Step
    next: str | None
    then_first: str | None = None
    else_first: str | None = None


def step_id(given: str | None, parent: str | None, branch: str, index: int) -> str:
    """A step's id: the given one, or one derived from the position: ``step-3``; in an ``if``: ``step-2-then-1``."""
    if given:
        return given
    return f"{parent}-{branch}-{index + 1}" if parent else f"step-{index + 1}"


def _ids(steps: list[Step], parent: str | None, branch: str) -> list[str]:
    return [step_id(step.id, parent, branch, i) for i, step in enumerate(steps)]


def _walk(steps: list[Step], prefix: str, parent: str | None, branch: str, after: str | None) -> Iterator[Node]:
    ids = _ids(steps, parent, branch)
    for index, step in enumerate(steps):
        loc = f"{prefix}[{index}]"
        following = ids[index + 1] if index + 1 < len(steps) else after
        then_ids = _ids(step.then or [], ids[index], "then")
        else_ids = _ids(step.else_ or [], ids[index], "else")
        yield Node(
            id=ids[index],
            loc=loc,
            step=step,
            next=following,
            then_first=then_ids[0] if then_ids else None,
            else_first=else_ids[0] if else_ids else None,
        )
        if step.kind == "if":
            yield from _walk(step.then or [], f"{loc}.then", ids[index], "then", following)
            yield from _walk(step.else_ or [], f"{loc}.else", ids[index], "else", following)


def flatten(automation: Automation) -> list[Node]:
    """Every step of the automation in document order, nested branches included."""
    return list(_walk(automation.steps, "steps", None, "step", None))


@dataclass(frozen=True)
class Program:
    """The steps of one automation version, addressable by id."""

    first: str
    nodes: dict[str, Node]

    @classmethod
    def of(cls, automation: Automation) -> Program:
        nodes = flatten(automation)
        return cls(first=nodes[0].id, nodes={node.id: node for node in nodes})

    def __getitem__(self, step_id: str) -> Node:
        return self.nodes[step_id]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self.nodes
