"""Schemathesis against the OpenAPI document the API serves: every operation, including POST /v1/events.

A local stack of its own (fuzzing changes, renames and deletes what it finds) starts empty; the test
creates automations from the examples (the package's catalog) and posts their sample events, so that the
generated cases reach real automations, runs and contacts through their ids in the path (a few cases keep
the generated id, to reach the 404s). Cases are valid and invalid ones, from the document's examples, its
coverage of every keyword, and random generation; they carry the local stack's key.

Each answer must be no server error (no 5xx), have a documented status code and content type, and match
the documented schema of its body. ``SCHEMATHESIS_MAX_EXAMPLES`` scales the random cases per operation
(``make fuzz`` runs many more); the run is derandomized, so that a failure found in CI repeats locally.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES
from tests.e2e.conftest import API_KEY, LocalStackClient, running_stack

pytestmark = pytest.mark.e2e

DEFAULT_MAX_EXAMPLES = 30
#: Random cases per operation, on top of the document's examples and the coverage cases.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", DEFAULT_MAX_EXAMPLES))
#: The least number of cases a run at the default scale (or larger) sends, over all operations.
MIN_CASES = 1000
#: How often an id (in the path, or the query) is a real one rather than the generated value.
REAL_ID_PROBABILITY = 0.85

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

#: Methods sent to each operation's path besides its own: every one, TRACE and QUERY included, is a 405.
UNEXPECTED_METHODS = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "TRACE", "QUERY"]

#: Example automations created first: the cases use their ids; DELETE uses those of drafts copied from the first.
FUZZED = ["invoice-paid-thank-you", "overdue-invoice-reminder", "tenth-checkin-reward"]
DOOMED = 3


@dataclass
class Tally:
    """What the run sent and what came back, reported at the end of the session."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    #: Every request answered with a 5xx (once each, with its first answer).
    server_errors: dict[str, str] = field(default_factory=dict)

    @property
    def server_error_count(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def record(self, case: Case, response: Response) -> None:
        self.cases += 1
        self.statuses[response.status_code] += 1
        self.per_operation[f"{case.operation.method.upper()} {case.operation.path}"] += 1
        if response.status_code >= 500:
            request = case.as_curl_command()
            self.server_errors.setdefault(request, f"{response.status_code} {response.text[:300]}")

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        operations = ", ".join(f"{name}: {count}" for name, count in sorted(self.per_operation.items()))
        out = [
            f"{self.cases} cases over {len(self.per_operation)} operations (max_examples={MAX_EXAMPLES}), "
            f"{self.server_error_count} server errors ({len(self.server_errors)} distinct requests)",
            f"statuses: {statuses}",
            f"per operation: {operations}",
        ]
        out.extend(f"server error: {request}\n  -> {answer}" for request, answer in self.server_errors.items())
        return out


class _Summary:
    """A pytest plugin that prints the tally in the terminal summary."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.tally.cases:
            terminalreporter.section("schemathesis")
            for line in self.tally.lines():
                terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Tally:
    counted = Tally()
    request.config.pluginmanager.register(_Summary(counted), "schemathesis-tally")
    return counted


@dataclass(frozen=True)
class Seeded:
    automations: list[str]
    doomed: list[str]
    runs: list[str]
    people: list[str]


def _definition(example: str, new_id: str | None = None, **changes: Any) -> dict[str, Any]:
    definition: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    if new_id:
        definition["id"] = new_id
    return definition | changes


def _seed(stack: LocalStackClient) -> Seeded:
    """Automations from the examples (created as the API's users create them), and their sample events'
    runs and contacts."""
    for example in FUZZED:
        created = stack.request("POST", "/v1/automations", {"definition": (EXAMPLES / f"{example}.yaml").read_text()})
        assert created.status == 201, created.text
    doomed = [f"doomed-{n}" for n in range(1, DOOMED + 1)]
    for automation_id in doomed:
        created = stack.request("POST", "/v1/automations", _definition(FUZZED[0], automation_id, status="draft"))
        assert created.status == 201, created.text
    runs: list[str] = []
    people: list[str] = []
    for example in FUZZED:
        event = json.loads((EXAMPLE_EVENTS / f"{example}.json").read_text())
        answer = stack.post_event(event)
        assert answer.status == 202, answer.text
        runs.extend(run for result in answer.json()["events"] for run in result["runs"])
        contact = event.get("contact", {})
        people.extend(str(contact[key]) for key in ("id", "email") if contact.get(key))
    assert runs, "the sample events started no run"
    return Seeded(FUZZED, doomed, runs, sorted(set(people)))


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackClient]:
    with running_stack(tmp_path_factory.mktemp("schemathesis") / "stack.log", "--no-examples") as client:
        yield client


@pytest.fixture(scope="module")
def api_schema(fuzzed_stack: LocalStackClient, tally: Tally) -> BaseSchema:
    seeded = _seed(fuzzed_stack)
    real = {"probability": REAL_ID_PROBABILITY}
    config = schemathesis.Config.from_dict(
        {
            "headers": {"x-api-key": API_KEY},
            "base-url": fuzzed_stack.base,
            "generation": {"database": "none"},
            # Methods no route has are answered 405
            "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
            "dictionaries": {
                "automations": {"values": seeded.automations},
                "doomed": {"values": seeded.doomed},
                "runs": {"values": seeded.runs},
                "people": {"values": seeded.people},
            },
            "parameters": {
                "path.automation_id": {"dictionary": "automations", **real},
                "path.run_id": {"dictionary": "runs", **real},
                "path.person": {"dictionary": "people", **real},
                "query.automation_id": {"dictionary": "automations", **real},
                "query.person": {"dictionary": "people", **real},
            },
            "operations": [
                {
                    "include-method": "DELETE",
                    "include-path": "/v1/automations/{automation_id}",
                    "parameters": {"path.automation_id": {"dictionary": "doomed", **real}},
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_url(
        f"{fuzzed_stack.base}/v1/openapi.json", config=config, headers={"x-api-key": API_KEY}, timeout=30
    )

    @schema.hook
    def after_call(context: Any, case: Case, response: Response) -> None:
        tally.record(case, response)

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_no_server_error(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


def test_every_operation_documents_the_errors_any_request_may_get(api_schema: BaseSchema) -> None:
    for path, item in api_schema.raw_schema["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:  # the unsubscribe pages: no key, and HTML answers
                continue
            answers = set(operation["responses"])
            assert {"401", "403", "415", "422"} <= answers, (method, path, answers)
            if "requestBody" in operation:
                assert "400" in answers, (method, path, answers)
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"], (method, path, code)
    events = api_schema.raw_schema["paths"]["/v1/events"]["post"]
    assert {"202", "413"} <= set(events["responses"])


def test_the_run_covered_every_operation_with_enough_cases(api_schema: BaseSchema, tally: Tally) -> None:
    if not tally.cases:
        pytest.skip("runs after test_every_answer_is_documented_and_no_server_error")
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in api_schema.get_all_operations())}
    assert "POST /v1/events" in operations
    assert set(tally.per_operation) == operations, operations - set(tally.per_operation)
    if MAX_EXAMPLES >= DEFAULT_MAX_EXAMPLES:
        assert tally.cases >= MIN_CASES, tally.lines()
    assert not tally.server_errors, "\n".join(tally.lines())
