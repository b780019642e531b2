"""Scheduler: one-time schedules by name, due to the second; a retried creation finds its twin."""

from __future__ import annotations

from datetime import timedelta

from automations.ports import Ports

from tests.contract.conftest import START, Backend


def test_a_schedule_is_created_once_by_name(backend: Backend, ports: Ports) -> None:
    name = f"run-{backend.workspace}-wait"
    due = START + timedelta(days=1)

    assert ports.scheduler.create(name, due, {"kind": "step", "run": "r1"})
    assert not ports.scheduler.create(name, due + timedelta(hours=1), {"kind": "step", "run": "r2"})

    assert backend.schedule(name) == (due, {"kind": "step", "run": "r1"})


def test_a_schedule_never_fires_early(backend: Backend, ports: Ports) -> None:
    name = f"run-{backend.workspace}-early"

    ports.scheduler.create(name, START + timedelta(seconds=10, microseconds=1), {})

    assert backend.schedule(name) == (START + timedelta(seconds=11), {})


def test_replace_moves_a_schedule_or_creates_it(backend: Backend, ports: Ports) -> None:
    name = f"silence-{backend.workspace}-p1"
    ports.scheduler.replace(name, START + timedelta(days=3), {"event": "e1"})
    assert backend.schedule(name) == (START + timedelta(days=3), {"event": "e1"})

    ports.scheduler.replace(name, START + timedelta(days=4), {"event": "e2"})

    assert backend.schedule(name) == (START + timedelta(days=4), {"event": "e2"})


def test_a_schedule_is_deleted_once(backend: Backend, ports: Ports) -> None:
    name = f"run-{backend.workspace}-gone"
    ports.scheduler.create(name, START + timedelta(days=1), {})

    assert ports.scheduler.delete(name)
    assert not ports.scheduler.delete(name)
    assert backend.schedule(name) is None
    assert ports.scheduler.create(name, START + timedelta(days=2), {"again": True})


def test_replace_of_a_schedule_said_to_exist_moves_it_or_creates_it_all_the_same(
    backend: Backend, ports: Ports
) -> None:
    name = f"silence-{backend.workspace}-existing"

    ports.scheduler.replace(name, START + timedelta(days=3), {"event": "e1"}, existing=True)  # it was not there
    assert backend.schedule(name) == (START + timedelta(days=3), {"event": "e1"})
    ports.scheduler.replace(name, START + timedelta(days=4), {"event": "e2"}, existing=True)
    assert backend.schedule(name) == (START + timedelta(days=4), {"event": "e2"})
    ports.scheduler.replace(name, START + timedelta(days=5), {"event": "e3"})  # said not to be: moved all the same
    assert backend.schedule(name) == (START + timedelta(days=5), {"event": "e3"})
