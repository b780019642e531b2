"""The SAM template: translated offline, linted (cfn-lint, informational checks included, and checkov with the
reviewed skips of infra/checkov-skips.yaml), and consistent with the code that reads its settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from automations.settings import ENVIRONMENT, REQUIRED_FIELDS, Settings
from automations_local.template import function_environment, global_environment, load_template, resources_of

from tests.conftest import ROOT, TEMPLATE
from tests.support.iam import translate

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
#: checkov lives in its own virtual environment (its pins conflict with the project's): make test installs it
#: and names it in CHECKOV; run alone, this test uses .venv-checkov when it is there.
CHECKOV = Path(os.environ.get("CHECKOV") or ROOT / ".venv-checkov" / "bin" / "checkov")
CHECKOV_SKIPS = ROOT / "infra" / "checkov-skips.yaml"

#: The settings each function reads (beyond the tables and workspace that every function gets).
NEEDS: dict[str, set[str]] = {
    "IngestTriggerFunction": {"EMAIL_QUEUE_URL", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "EVALUATE_STEP_ARN"},
    "EvaluateStepFunction": {"EMAIL_QUEUE_URL", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "EVALUATE_STEP_ARN"},
    "SendEmailFunction": {
        "SENDER_ADDRESS",
        "ALLOWED_SENDERS",
        "CONFIGURATION_SET",
        "UNSUBSCRIBE_BASE_URL",
        "UNSUBSCRIBE_SECRET_ARN",
        "MAX_SEND_RATE",
        "SENDING_CONCURRENCY",
    },
    "StatsWebhookFunction": {
        "UNSUBSCRIBE_SECRET_ARN",
        "MIN_SENDS_FOR_REPUTATION",
        "HARD_BOUNCE_RATE_LIMIT",
        "COMPLAINT_RATE_LIMIT",
        "SCHEDULE_GROUP",
    },
    "ManageApiFunction": {
        "EMAIL_QUEUE_URL",
        "SENDER_ADDRESS",
        "ALLOWED_SENDERS",
        "SCHEDULE_GROUP",
        "UNSUBSCRIBE_SECRET_ARN",
    },
}
#: The functions that build unsubscribe links (emails, test emails) or read them (the unsubscribe pages).
SECRET_READERS = {"SendEmailFunction", "ManageApiFunction", "StatsWebhookFunction"}
#: The one function that reads the root key's secret.
ROOT_KEY_READER = "AuthorizerFunction"
TABLES = {"AUTOMATIONS_TABLE", "EVENTS_TABLE", "RUNS_TABLE", "STATE_TABLE", "STATS_TABLE", "WORKSPACE"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as ``sam package`` would hand it to CloudFormation (translated by aws-sam-translator), in a file."""
    path = tmp_path_factory.mktemp("sam") / "translated.json"
    path.write_text(json.dumps(translate(), indent=1, default=str))
    return path


def test_cfn_lint_passes_on_the_sam_template_informational_checks_included() -> None:
    # The informational checks matter here: stateful resources with explicit deletion policies (the retained
    # tables, secret and dead-letter queues), retention periods, pseudo parameters in ARNs.
    command = [str(CFN_LINT), "--include-checks", "I", "--", str(TEMPLATE)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_translated_template_has_no_lint_error(translated: Path) -> None:
    # cfn-lint's exit code is a bit mask: 2 means an error (4 and 8 are warnings and notes, which the
    # translation itself causes, e.g. a Fn::Sub left without variables once SAM resolved the parameters).
    result = subprocess.run([str(CFN_LINT), "--", str(translated)], capture_output=True, text=True, check=False)
    assert result.returncode & 2 == 0, result.stdout + result.stderr


def _checkov_skips() -> dict[tuple[str, str], str]:
    listed = yaml.safe_load(CHECKOV_SKIPS.read_text())["skips"]
    skips: dict[tuple[str, str], str] = {}
    for skip in listed:
        assert str(skip.get("reason", "")).strip(), f"{skip['id']}: a skip needs its reason"
        for resource in skip["resources"]:
            skips[(str(skip["id"]), str(resource))] = str(skip["reason"])
    return skips


def test_checkov_finds_nothing_but_the_reviewed_skips(translated: Path) -> None:
    if not CHECKOV.exists():
        if os.environ.get("CHECKOV"):
            pytest.fail(f"checkov is not at {CHECKOV}")
        pytest.skip("checkov is not installed here: make test installs it in .venv-checkov")
    command = [str(CHECKOV), "--file", str(translated), "--framework", "cloudformation"]
    command += ["--output", "json", "--compact", "--quiet", "--skip-download"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = {
        (str(check["check_id"]), str(check["resource"]).rsplit(".", 1)[-1]): str(check["check_name"])
        for found in reports
        for check in found.get("results", {}).get("failed_checks", [])
    }
    skips = _checkov_skips()
    unexpected = sorted(
        f"{check} {resource}: {failed[(check, resource)]}" for check, resource in set(failed) - set(skips)
    )
    assert not unexpected, "checkov findings (fix them, or skip them with a reason in infra/checkov-skips.yaml):\n" + (
        "\n".join(unexpected)
    )
    stale = sorted(f"{check} {resource}" for check, resource in set(skips) - set(failed))
    assert not stale, f"infra/checkov-skips.yaml skips findings checkov no longer reports: {stale}"


def test_translation_yields_the_resources_the_product_needs(translated: Path) -> None:
    resources = json.loads(translated.read_text())["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    assert kinds.count("AWS::Lambda::Function") == 7
    assert kinds.count("AWS::DynamoDB::Table") == 10
    assert "AWS::ApiGateway::UsagePlan" not in kinds and "AWS::ApiGateway::ApiKey" not in kinds
    assert "AWS::Events::Rule" in kinds and "AWS::Lambda::EventSourceMapping" in kinds
    assert "AWS::SNS::Subscription" in kinds
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 2  # the email queue's and the webhook queue's
    for mapping in mappings:
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    emails = next(m for m in mappings if "EmailQueue" in json.dumps(m["Properties"]["EventSourceArn"]))
    assert "MaximumConcurrency" in emails["Properties"]["ScalingConfig"]


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


def test_every_function_gets_every_setting_that_has_no_default(template: dict[str, Any]) -> None:
    # Settings without a default refuse to start without their variable: the template gives each to every
    # function (the region is Lambda's own AWS_REGION)
    required = {name for name, field in ENVIRONMENT.items() if field in REQUIRED_FIELDS} - {"AWS_REGION"}
    missing = required - set(global_environment(template))
    assert not missing, f"Globals lack {sorted(missing)}"


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
        readers = [
            p
            for p in function["Properties"].get("Policies", [])
            if "UnsubscribeSecret" in json.dumps(p) or "RootKeySecret" in json.dumps(p)
        ]
        if name in SECRET_READERS:
            assert env["UNSUBSCRIBE_SECRET_ARN"] == {"Ref": "UnsubscribeSecret"}, name
            assert readers == [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "UnsubscribeSecret"}}}]
        elif name == ROOT_KEY_READER:
            assert env["ROOT_SECRET_ARN"] == {"Ref": "RootKeySecret"} and "UNSUBSCRIBE_SECRET_ARN" not in env
            assert readers == [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "RootKeySecret"}}}]
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
                    if "webhook-secret" in json.dumps(statement["Resource"]):
                        continue  # the webhook signing secrets: test_webhook_secrets_are_granted_by_their_prefix
                    grants.setdefault(name, []).append((actions, statement["Resource"]))
    assert set(grants) == {f"{function}Role" for function in {*SECRET_READERS, ROOT_KEY_READER}}
    for role, found in grants.items():
        assert found == [(["secretsmanager:GetSecretValue"], found[0][1])]
        secret = "RootKeySecret" if role == f"{ROOT_KEY_READER}Role" else "UnsubscribeSecret"
        assert secret in json.dumps(found[0][1])


def test_webhook_secrets_are_granted_by_their_prefix_to_the_functions_that_sign_or_show_them(
    template: dict[str, Any],
) -> None:
    granted: dict[str, set[str]] = {}
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "webhook-secret" in json.dumps(statement.get("Resource")):
                    assert statement["Resource"]["Fn::Sub"].endswith(":secret:automations/${Stage}/webhook-secret/*")
                    granted.setdefault(name, set()).update(statement["Action"])
    assert granted == {
        "CallWebhookFunction": {"secretsmanager:GetSecretValue", "secretsmanager:CreateSecret"},
        "ManageApiFunction": {
            "secretsmanager:GetSecretValue",
            "secretsmanager:CreateSecret",
            "secretsmanager:PutSecretValue",
        },
    }
    prefix = template["Globals"]["Function"]["Environment"]["Variables"]["WEBHOOK_SECRET_PREFIX"]
    assert prefix == {"Fn::Sub": "automations/${Stage}/webhook-secret"}


def test_environment_names_map_to_settings_fields() -> None:
    assert set(ENVIRONMENT.values()) <= set(Settings.model_fields)


def test_tables_are_on_demand_with_recovery_and_retained(template: dict[str, Any]) -> None:
    tables = resources_of(template, "AWS::DynamoDB::Table")
    assert {"KeysTable", "WorkspacesTable"} <= set(tables)
    for name, table in tables.items():
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST", name
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
        assert table["Properties"]["SSESpecification"]["SSEEnabled"], name
        assert table["Properties"]["DeletionProtectionEnabled"], name


def test_email_queue_visibility_is_six_times_the_sender_timeout(template: dict[str, Any]) -> None:
    queue = template["Resources"]["EmailQueue"]["Properties"]
    timeout = template["Resources"]["SendEmailFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EmailDeadLetterQueue", "Arn"]}


def _alarmed(template: dict[str, Any], namespace: str, metric: str) -> set[str]:
    """The resources (logical ids) whose metric an alarm watches."""
    found = set()
    for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("Namespace") == namespace and props.get("MetricName") == metric:
            value = props["Dimensions"][0]["Value"]
            found.add(value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"])
    return found


def test_every_dead_letter_queue_and_every_function_has_an_alarm(template: dict[str, Any]) -> None:
    queues = {name for name in resources_of(template, "AWS::SQS::Queue") if "DeadLetter" in name}
    assert queues == _alarmed(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    functions = set(resources_of(template, "AWS::Serverless::Function"))
    assert functions == _alarmed(template, "AWS/Lambda", "Errors")
    assert functions == _alarmed(template, "AWS/Lambda", "Throttles")
    asynchronous = {name for name in functions if "EventInvokeConfig" in template["Resources"][name]["Properties"]}
    assert asynchronous == _alarmed(template, "AWS/Lambda", "AsyncEventsDropped")


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
    assert passers == {"IngestTriggerFunction", "EvaluateStepFunction", "CallWebhookFunction"}


@pytest.mark.parametrize("function", ["IngestTriggerFunction", "EvaluateStepFunction", "StatsWebhookFunction"])
def test_asynchronously_invoked_functions_keep_their_failures(template: dict[str, Any], function: str) -> None:
    # Given a function that EventBridge, the scheduler or SNS invokes asynchronously
    props = template["Resources"][function]["Properties"]
    # Then a failed invocation is retried, then sent with its error to an alarmed queue (an OnFailure
    # destination, which keeps the error, rather than the older dead-letter queue, which does not)
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] >= 1
    assert "DeadLetterQueue" not in props
    destination = props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert destination["Type"] == "SQS"
    queue = destination["Destination"]["Fn::GetAtt"][0]
    assert queue in _alarmed(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
