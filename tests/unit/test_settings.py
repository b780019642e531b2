"""The settings: read once from the environment; in Lambda, a function without a variable it cannot work without
fails when it starts, naming each one that is missing, and no setting stands in for a resource of the stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from automations.settings import ENVIRONMENT, REQUIRED_FIELDS, Settings, require
from pydantic import ValidationError

from tests.support.settings import ENVIRON

LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "automations-dev-ingest-trigger"}
#: The variables of the fields without a default.
REQUIRED = sorted(name for name, field in ENVIRONMENT.items() if field in REQUIRED_FIELDS)


def test_no_setting_defaults_to_a_resource_name_or_an_arn() -> None:
    # Given the settings' fields
    for name, field in Settings.model_fields.items():
        # Then one that names a table, a queue, a group, a role, a function or a configuration set has no default
        if name.endswith(("_table", "_url", "_arn", "_group", "_set")) and name not in ("unsubscribe_base_url",):
            assert field.is_required() or field.default in ("", None), name
    assert {"AUTOMATIONS_TABLE", "SCHEDULER_ROLE_ARN", "EVALUATE_STEP_ARN", "SCHEDULE_GROUP", "AWS_REGION"} <= set(
        REQUIRED
    )
    assert {"KEYS_TABLE", "WORKSPACES_TABLE"} <= set(REQUIRED)


def test_an_environment_without_a_required_variable_is_refused_naming_each_missing_one() -> None:
    # Given an environment that lacks two of them, and one set but empty
    environ = {k: v for k, v in ENVIRON.items() if k not in ("EVENTS_TABLE", "SCHEDULER_ROLE_ARN")}
    environ["CONFIGURATION_SET"] = ""
    # When the settings are read from it
    with pytest.raises(ValidationError) as refused:
        Settings.from_environ(environ)
    # Then one error names each of them, and where to define them
    message = str(refused.value)
    for name in ("EVENTS_TABLE", "SCHEDULER_ROLE_ARN", "CONFIGURATION_SET"):
        assert f"{name} is not set" in message
    assert "AUTOMATIONS_TABLE" not in message and "infra/template.yaml" in message


def test_an_empty_environment_names_every_required_variable() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.from_environ({})
    assert all(f"{name} is not set" in str(refused.value) for name in REQUIRED)


def test_in_lambda_a_function_fails_at_start_without_a_required_variable() -> None:
    # In Lambda, every required variable is checked when the function starts, with the ones it names
    with pytest.raises(ValidationError, match="STATE_TABLE is not set"):
        require(environ={**LAMBDA, **{k: v for k, v in ENVIRON.items() if k != "STATE_TABLE"}})
    require(environ={**LAMBDA, **ENVIRON})
    # Elsewhere (the tests, the tools) the settings are given whole, by the caller
    require(environ={"WORKSPACE": "default"})


def test_the_environment_fills_the_settings_once_complete() -> None:
    settings = Settings.from_environ({**ENVIRON, "WORKSPACE": "acme"})
    assert (settings.workspace, settings.events_table, settings.region) == ("acme", "automations-events", "us-east-1")
    assert settings.email_queue_url == ENVIRON["EMAIL_QUEUE_URL"]


@pytest.mark.parametrize("function", ["ingest_trigger", "evaluate_step", "send_email", "stats_webhook", "manage_api"])
def test_every_function_fails_at_start_in_lambda_naming_a_missing_variable(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"automations-dev-{function}")
    monkeypatch.delenv("EVENTS_TABLE", raising=False)
    path = Path(__file__).resolve().parents[2] / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{function}_app_missing", path)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ValidationError, match="EVENTS_TABLE"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_runs_are_saved_packed_unless_the_stack_says_plain_and_nothing_else_is_accepted() -> None:
    assert Settings.from_environ(ENVIRON).run_state_format == "packed"
    assert Settings.from_environ({**ENVIRON, "RUN_STATE_FORMAT": "plain"}).run_state_format == "plain"
    with pytest.raises(ValidationError, match="run_state_format"):
        Settings.from_environ({**ENVIRON, "RUN_STATE_FORMAT": "zip"})
