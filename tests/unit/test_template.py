"""The SAM template: translated offline, linted, and consistent with the code that reads its settings."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from automations.local.template import function_environment, global_environment, load_template, resources_of
from automations.settings import ENVIRONMENT, Settings
from samtranslator.translator.transform import transform

from tests.conftest import TEMPLATE

CFN_LINT = Path(sys.executable).parent / "cfn-lint"

#: The settings each function reads (beyond the tables and workspace that every function gets).
NEEDS: dict[str, set[str]] = {
    "IngestTriggerFunction": {"EMAIL_QUEUE_URL", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "EVALUATE_STEP_ARN"},
    "EvaluateStepFunction": {"EMAIL_QUEUE_URL", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "EVALUATE_STEP_ARN"},
    "SendEmailFunction": {"SENDER_ADDRESS", "CONFIGURATION_SET", "UNSUBSCRIBE_BASE_URL", "UNSUBSCRIBE_SECRET_ARN"},
    "StatsWebhookFunction": {
        "UNSUBSCRIBE_SECRET_ARN",
        "MIN_SENDS_FOR_REPUTATION",
        "HARD_BOUNCE_RATE_LIMIT",
        "COMPLAINT_RATE_LIMIT",
        "SCHEDULE_GROUP",
    },
    "ManageApiFunction": {"EMAIL_QUEUE_URL", "SENDER_ADDRESS", "SCHEDULE_GROUP", "UNSUBSCRIBE_SECRET_ARN"},
}
#: The functions that build unsubscribe links (emails, test emails) or read them (the unsubscribe pages).
SECRET_READERS = {"SendEmailFunction", "ManageApiFunction", "StatsWebhookFunction"}
TABLES = {"AUTOMATIONS_TABLE", "EVENTS_TABLE", "RUNS_TABLE", "STATE_TABLE", "STATS_TABLE", "WORKSPACE"}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def translated(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as ``sam package`` would hand it to CloudFormation, translated by aws-sam-translator."""
    packaged = copy.deepcopy(template)
    for name, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = f"s3://artifacts-bucket/{name}.zip"
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    output = transform(packaged, {}, _NoManagedPolicies())
    path = tmp_path_factory.mktemp("sam") / "translated.json"
    path.write_text(json.dumps(output, indent=1, default=str))
    return path


def test_cfn_lint_passes_on_the_sam_template() -> None:
    result = subprocess.run([str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_translated_template_has_no_lint_error(translated: Path) -> None:
    # cfn-lint's exit code is a bit mask: 2 means an error (4 and 8 are warnings and notes, which the
    # translation itself causes, e.g. a Fn::Sub left without variables once SAM resolved the parameters).
    result = subprocess.run([str(CFN_LINT), "--", str(translated)], capture_output=True, text=True, check=False)
    assert result.returncode & 2 == 0, result.stdout + result.stderr


def test_translation_yields_the_resources_the_product_needs(translated: Path) -> None:
    resources = json.loads(translated.read_text())["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    assert kinds.count("AWS::Lambda::Function") == 5
    assert kinds.count("AWS::DynamoDB::Table") == 7
    assert "AWS::ApiGateway::UsagePlan" in kinds and "AWS::ApiGateway::ApiKey" in kinds
    assert "AWS::Events::Rule" in kinds and "AWS::Lambda::EventSourceMapping" in kinds
    assert "AWS::SNS::Subscription" in kinds
    mapping = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in mapping["Properties"]["ScalingConfig"]


@pytest.mark.parametrize("function", sorted(NEEDS))
def test_every_setting_a_function_reads_is_defined_for_it(template: dict[str, Any], function: str) -> None:
    env = function_environment(template, function)
    missing = (NEEDS[function] | TABLES) - set(env)
    assert not missing, f"{function} lacks {sorted(missing)}"
    unknown = {name for name in env if name not in ENVIRONMENT} - {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
        "STAGE",
    }
    assert not unknown, f"{function} defines variables no code reads: {sorted(unknown)}"


def test_the_unsubscribe_secret_is_retained_and_read_by_arn_only_where_needed(template: dict[str, Any]) -> None:
    # Given the secret that signs unsubscribe links
    secret = template["Resources"]["UnsubscribeSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "GenerateSecretString" in secret["Properties"]
    # Then it outlives the stack (links already sent keep working)
    assert secret["DeletionPolicy"] == "Retain" and secret["UpdateReplacePolicy"] == "Retain"
    # And no function gets its value in the environment; those that need it get its ARN and may read it only
    assert not any("secretsmanager" in json.dumps(value) for value in global_environment(template).values())
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        env = function_environment(template, name)
        assert not any("resolve:secretsmanager" in json.dumps(value) for value in env.values()), name
        readers = [p for p in function["Properties"].get("Policies", []) if "secretsmanager" in json.dumps(p).lower()]
        if name in SECRET_READERS:
            assert env["UNSUBSCRIBE_SECRET_ARN"] == {"Ref": "UnsubscribeSecret"}, name
            assert readers == [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "UnsubscribeSecret"}}}]
        else:
            assert "UNSUBSCRIBE_SECRET_ARN" not in env and readers == [], name


def test_the_secret_policy_grants_get_secret_value_on_that_secret_only(translated: Path) -> None:
    resources = json.loads(translated.read_text())["Resources"]
    grants: dict[str, list[Any]] = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.lower().startswith("secretsmanager:") for a in actions):
                    grants.setdefault(name, []).append((actions, statement["Resource"]))
    assert set(grants) == {f"{function}Role" for function in SECRET_READERS}
    for found in grants.values():
        assert found == [(["secretsmanager:GetSecretValue"], found[0][1])]
        assert "UnsubscribeSecret" in json.dumps(found[0][1])


def test_environment_names_map_to_settings_fields() -> None:
    assert set(ENVIRONMENT.values()) <= set(Settings.model_fields)


def test_tables_are_on_demand_with_recovery_and_retained(template: dict[str, Any]) -> None:
    for name, table in resources_of(template, "AWS::DynamoDB::Table").items():
        assert table["DeletionPolicy"] == "Retain", name
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST", name
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name


def test_email_queue_visibility_is_six_times_the_sender_timeout(template: dict[str, Any]) -> None:
    queue = template["Resources"]["EmailQueue"]["Properties"]
    timeout = template["Resources"]["SendEmailFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EmailDeadLetterQueue", "Arn"]}


def test_every_dead_letter_queue_has_an_alarm(template: dict[str, Any]) -> None:
    queues = [name for name in resources_of(template, "AWS::SQS::Queue") if "DeadLetter" in name]
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert set(queues) == alarmed
    functions = set(resources_of(template, "AWS::Serverless::Function"))
    errors = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == "AWS/Lambda"
    }
    assert functions == errors


def test_scheduler_role_may_invoke_evaluate_step_and_nothing_else(template: dict[str, Any]) -> None:
    role = template["Resources"]["SchedulerRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    actions = sorted(s["Action"] for s in statements)
    assert actions == ["lambda:InvokeFunction", "sqs:SendMessage"]
    invoke = next(s for s in statements if s["Action"] == "lambda:InvokeFunction")
    assert "evaluate-step" in invoke["Resource"]["Fn::Sub"]


def test_only_schedule_creators_may_pass_the_scheduler_role(template: dict[str, Any]) -> None:
    passers = set()
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if statement.get("Action") == "iam:PassRole":
                    passers.add(name)
    assert passers == {"IngestTriggerFunction", "EvaluateStepFunction"}


@pytest.mark.parametrize("function", ["IngestTriggerFunction", "EvaluateStepFunction", "StatsWebhookFunction"])
def test_asynchronously_invoked_functions_keep_their_failures(template: dict[str, Any], function: str) -> None:
    # Given a function that EventBridge, the scheduler or SNS invokes asynchronously
    props = template["Resources"][function]["Properties"]
    # Then a failed invocation is retried, then kept in an alarmed dead-letter queue
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] >= 1
    queue = props["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert queue in alarmed
