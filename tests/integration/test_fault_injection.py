"""Fault injection at every AWS request of the main scenarios (DESIGN.md §6 and §8).

Each scenario is played once with every request counted; then, for each request N and each way it can fail,
it is played again with the Nth request failing: ``before`` it reaches AWS (nothing applied), or ``after``
AWS applied it, its reply lost. What AWS does next is what it always does (the app retries its POST with the
same event, Scheduler invokes evaluate_step again with the same input, the queue hands the email message back,
SNS delivers the SES event again), and the scenario goes on to its end. Whatever failed, it must end in its one
consistent state: no lost run, no lock left, no email sent twice or never sent, counters equal to that state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from automations.observability import logger

from tests.integration.conftest import FAULT_POINTS
from tests.support.pipeline import UndeliveredError
from tests.support.recorder import AwsCall, AwsTap, Fault, Mode
from tests.support.scenarios import SCENARIOS, Scenario, World, check, world

MODES: tuple[Mode, ...] = ("before", "after")


@dataclass(frozen=True)
class Point:
    """One injection point and what the scenario ended with."""

    scenario: str
    at: int
    mode: Mode
    call: AwsCall | None
    problems: tuple[str, ...]

    def describe(self) -> str:
        failed = self.call.describe() if self.call else f"#{self.at} (never made)"
        return f"{self.scenario} N={self.at} {self.mode} {failed}:\n    " + "\n    ".join(self.problems)


def play(scene: World, scenario: Scenario, fault: Fault | None) -> tuple[list[AwsCall], list[str]]:
    """Play a scenario on a clean stack (with one fault, or none); its requests and its problems."""
    scene.fresh()
    scenario.setup(scene.stack)
    scene.tap.reset(fault)
    problems = []
    try:
        scenario.play(scene.pipeline)
    except UndeliveredError as exc:
        problems.append(f"undelivered: {exc}")
    problems += check(scene, scenario.expected())
    return list(scene.tap.calls), problems


@pytest.fixture
def scene(scenario: Scenario, monkeypatch: pytest.MonkeyPatch, aws_tap: AwsTap) -> Iterator[World]:
    # The handlers log a line per step; over hundreds of plays, only the errors are worth writing.
    previous = logger.log_level
    logger.setLevel("ERROR")
    try:
        with world(monkeypatch, aws_tap, scenario.bounces) as created:
            yield created
    finally:
        logger.setLevel(previous)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_request_of_a_main_scenario_can_fail_before_or_after_aws_applied_it(
    scene: World, scenario: Scenario, summary: Callable[[str], None]
) -> None:
    # Given the scenario played once without a fault: the requests it makes, and its consistent end
    clean, problems = play(scene, scenario, None)
    assert not problems, f"{scenario.name} without a fault:\n  " + "\n  ".join(problems)
    assert clean, f"{scenario.name} made no AWS request"
    # When each request fails in turn, before AWS applies it or with its reply lost, and AWS redelivers
    points = []
    for at in range(1, len(clean) + 1):
        for mode in MODES:
            calls, problems = play(scene, scenario, Fault(at, mode))
            fired = scene.tap.fired
            replayed = [c.name for c in calls[: at - 1]]
            if replayed != [c.name for c in clean[: at - 1]]:
                problems.insert(0, "the play diverged from the clean one before the fault (not a replay)")
            if fired is None:
                problems.insert(0, "the fault never fired")
            points.append(Point(scenario.name, at, mode, fired, tuple(problems)))
    # Then every play ends in the scenario's consistent state
    failing = [p for p in points if p.problems]
    FAULT_POINTS["points"] += len(points)
    FAULT_POINTS["consistent"] += len(points) - len(failing)
    summary(
        f"fault injection, {scenario.name}: {len(clean)} requests, {len(points)} points, "
        f"{len(points) - len(failing)} consistent"
    )
    for point in failing:
        summary(f"  inconsistent: {point.describe().splitlines()[0]}")
    assert not failing, f"{len(failing)} of {len(points)} injection points end inconsistent:\n" + "\n".join(
        p.describe() for p in failing
    )
