"""The template read as a production reviewer reads it, on what moto cannot show: who may use the topics' key,
where the logs go and for how long, the alarms and the dashboard, names that fit their limits, who may send
as whom, the sending rate and the sender's time budget, and what the local stack builds of it."""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from automations import observability
from automations.adapters import ses
from automations.adapters.dynamodb.tables import RunItem
from automations.adapters.ses_sender import SesEmailSender
from automations.engine.email import sender_allowed
from automations.services import segment, sending
from automations.settings import Settings
from automations_local.cfn import Intrinsics
from automations_local.provision import CREATED, NOT_CREATED
from automations_local.ses_simulator import SentEmail, outcome_events
from automations_local.template import global_environment, load_template, resources_of

from tests.conftest import ROOT, TEMPLATE
from tests.support.aws import ACCOUNT, REGION
from tests.support.iam import Binding, Grant, IamRequest, allowing, grants_of, translate
from tests.support.settings import settings_with

#: The alarms an operator needs, beyond one per dead-letter queue and per function (errors, throttles, events
#: dropped): the metric (namespace, name) each one watches.
PRODUCT_ALARMS = {"EmailsFailed", "EmailsUnknown", "InvalidEvents", "FeedbackUnprocessable"}
SERVICE_ALARMS = {
    ("AWS/ApiGateway", "5XXError"),
    ("AWS/SES", "Reputation.BounceRate"),
    ("AWS/SES", "Reputation.ComplaintRate"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
}
#: What the dashboard must show first: events in, runs started, emails and their outcome, errors.
DASHBOARD_METRICS = {
    "EventsAccepted",
    "RunsStarted",
    "EmailsSent",
    "EmailsDelivered",
    "EmailsBounced",
    "ApproximateNumberOfMessagesVisible",
    "ApproximateAgeOfOldestMessage",
    "Errors",
}
#: The longest physical name each named resource type allows.
NAME_LIMITS = {
    ("AWS::Serverless::Function", "FunctionName"): 64,
    ("AWS::Serverless::LayerVersion", "LayerName"): 140,
    ("AWS::Serverless::Api", "Name"): 1024,
    ("AWS::Serverless::Api", "StageName"): 128,
    ("AWS::Scheduler::ScheduleGroup", "Name"): 64,
    ("AWS::SES::ConfigurationSet", "Name"): 64,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::KMS::Alias", "AliasName"): 256,
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate()


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _logical(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(_listed(value["Fn::GetAtt"])[0]).split(".")[0]
    return None


# --- topics that AWS services publish to -----------------------------------------------------------------


def _publishers(resources: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """Each SNS topic that an AWS service publishes to: the service, and the logical ids of its publishers
    (configuration sets, alarms, rules)."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def add(target: Any, service: str, publisher: str) -> None:
        topic = _logical(target)
        if topic is not None and resources.get(topic, {}).get("Type") == "AWS::SNS::Topic":
            found[topic][service].add(publisher)

    for name, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::SES::ConfigurationSetEventDestination":
            sns = props["EventDestination"].get("SnsDestination")
            if sns:
                add(sns["TopicARN"], "ses.amazonaws.com", _logical(props["ConfigurationSetName"]) or name)
        elif kind == "AWS::CloudWatch::Alarm":
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in props.get(key, []):
                    add(action, "cloudwatch.amazonaws.com", name)
        elif kind == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                add(target["Arn"], "events.amazonaws.com", name)
    return found


def _source_arn(binding: Binding, resources: dict[str, Any], service: str, publisher: str) -> str:
    """The ARN a service names as aws:SourceArn when it publishes on behalf of one of the stack's resources."""
    props = resources[publisher].get("Properties", {})
    prefix = f"arn:aws:{service.split('.')[0]}:{REGION}:{ACCOUNT}"
    if service == "ses.amazonaws.com":
        return f"{prefix}:configuration-set/{binding.ref(publisher)}"
    if service == "cloudwatch.amazonaws.com":
        return f"{prefix}:alarm:{binding.resolve(props['AlarmName']) if 'AlarmName' in props else publisher}"
    return f"{prefix}:rule/{publisher}"


def _statements_for(policy: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [
        s
        for s in _listed(policy["Statement"])
        if s.get("Effect") == "Allow" and service in _listed((s.get("Principal") or {}).get("Service", []))
    ]


def _allows(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]) -> bool:
    grant = Grant("key", "service", tuple(statements))
    return grant.allows(IamRequest(action, resource, tuple(sorted(context.items()))))


def test_every_topic_an_aws_service_publishes_to_has_a_key_policy_that_lets_it(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    binding = Binding.of(settings_with(), template=translated)
    publishers = _publishers(resources)
    # The stack's SES events and alarms reach their topics
    assert {"FeedbackTopic", "AlarmTopic"} <= set(publishers)
    for topic, services in publishers.items():
        key_id = resources[topic]["Properties"].get("KmsMasterKeyId")
        if key_id is None:
            continue  # not encrypted: no key policy stands in the way
        # An AWS managed key (alias/aws/sns) cannot be given to a service: the key must be the stack's own
        key = _logical(key_id)
        assert key is not None and resources[key]["Type"] == "AWS::KMS::Key", f"{topic} is encrypted with {key_id}"
        key_policy = binding.resolve(resources[key]["Properties"]["KeyPolicy"])
        for service, sources in services.items():
            statements = _statements_for(key_policy, service)
            assert statements, f"{topic}: the key policy of {key} does not name {service}"
            for source in sources:
                context = {
                    "aws:SourceAccount": ACCOUNT,
                    "aws:SourceArn": _source_arn(binding, resources, service, source),
                }
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    assert _allows(statements, action, "*", context), f"{topic}: {service} may not {action} ({source})"
                # Only on behalf of this account's own resources (the confused deputy)
                assert not _allows(statements, "kms:Decrypt", "*", {**context, "aws:SourceAccount": "210987654321"})
                other = {**context, "aws:SourceArn": context["aws:SourceArn"].rsplit(":", 1)[0] + ":someone-else"}
                assert not _allows(statements, "kms:Decrypt", "*", other)
                assert not _allows(statements, "kms:Decrypt", "*", {"aws:SourceAccount": ACCOUNT})


def test_every_topic_an_aws_service_publishes_to_lets_it_publish_for_this_stack_only(
    translated: dict[str, Any],
) -> None:
    resources = translated["Resources"]
    binding = Binding.of(settings_with(), template=translated)
    policies = {
        str(_logical(topic)): binding.resolve(resource["Properties"]["PolicyDocument"])
        for resource in resources.values()
        if resource["Type"] == "AWS::SNS::TopicPolicy"
        for topic in resource["Properties"]["Topics"]
    }
    for topic, services in _publishers(resources).items():
        assert topic in policies, f"{topic} has no topic policy"
        arn = binding.get_att(topic, "Arn")
        for service, sources in services.items():
            statements = _statements_for(policies[topic], service)
            for source in sources:
                context = {
                    "aws:SourceAccount": ACCOUNT,
                    "aws:SourceArn": _source_arn(binding, resources, service, source),
                }
                assert _allows(statements, "sns:Publish", arn, context), f"{service} may not publish to {topic}"
                assert not _allows(statements, "sns:Publish", arn, {"aws:SourceAccount": ACCOUNT})


def test_queue_policies_for_aws_services_name_their_source(template: dict[str, Any]) -> None:
    for name, policy in resources_of(template, "AWS::SQS::QueuePolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "Service" in statement.get("Principal", {}):
                keys = {key.lower() for test in statement.get("Condition", {}).values() for key in test}
                assert "aws:sourcearn" in keys, f"{name}: {statement.get('Sid')} has no aws:SourceArn condition"


# --- logs ----------------------------------------------------------------------------------------------------


def test_every_function_logs_json_to_its_own_log_group_with_a_retention(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    groups = []
    for name, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        logging = function["Properties"].get("LoggingConfig", {})
        assert logging.get("LogFormat") == "JSON", name
        group = _logical(logging.get("LogGroup"))
        assert group is not None and resources[group]["Type"] == "AWS::Logs::LogGroup", name
        groups.append(group)
    assert len(groups) == 7 and len(set(groups)) == len(groups)
    for name, group in resources.items():
        if group["Type"] == "AWS::Logs::LogGroup":
            assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, name
    assert translated["Parameters"]["LogRetentionDays"]["Default"] == 30


# --- alarms and the dashboard --------------------------------------------------------------------------------


@cache
def emitted_metrics() -> frozenset[str]:
    """The metric names the code emits: ``metrics.add_metric(name=...)`` with a literal name, and the values of
    the ``…METRICS`` tables that name metrics by outcome."""
    names: set[str] = set()
    for path in [*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers" / "core" / "automations").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                for keyword in node.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        names.add(str(keyword.value.value))
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(t.endswith("METRICS") for t in targets):
                    names.update(str(v.value) for v in node.value.values if isinstance(v, ast.Constant))
    return frozenset(names)


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: alarm["Properties"] for name, alarm in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_is_named_for_the_stage_and_tells_the_alarm_topic(template: dict[str, Any]) -> None:
    for name, alarm in _alarms(template).items():
        assert alarm["AlarmName"]["Fn::Sub"].startswith("automations-${Stage}-"), name
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    names = [alarm["AlarmName"]["Fn::Sub"] for alarm in _alarms(template).values()]
    assert len(set(names)) == len(names)


def test_the_alarms_an_operator_needs_are_there(template: dict[str, Any]) -> None:
    watched = {(alarm["Namespace"], alarm["MetricName"]) for alarm in _alarms(template).values()}
    assert watched >= SERVICE_ALARMS
    assert {name for namespace, name in watched if namespace == observability.NAMESPACE} >= PRODUCT_ALARMS
    api = template["Resources"]["Api"]["Properties"]["Name"]
    [api_alarm] = [a for a in _alarms(template).values() if a["Namespace"] == "AWS/ApiGateway"]
    assert {d["Name"]: d["Value"] for d in api_alarm["Dimensions"]} == {"ApiName": api, "Stage": {"Ref": "Stage"}}
    [age] = [a for a in _alarms(template).values() if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EmailQueue", "QueueName"]}
    assert age["Threshold"] == {"Ref": "EmailQueueMaxAgeSeconds"}


def test_product_alarms_watch_metrics_the_code_emits_as_powertools_publishes_them(template: dict[str, Any]) -> None:
    # Powertools' EMF: the namespace and the service dimension come from the functions' environment
    environment = global_environment(template)
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE
    assert environment["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE
    for name, alarm in _alarms(template).items():
        if alarm["Namespace"] != observability.NAMESPACE:
            continue
        assert alarm["MetricName"] in emitted_metrics(), f"{name}: no code emits {alarm['MetricName']}"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}], name


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    [dashboard] = resources_of(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # Every ${...} stands for a name or an ARN: a placeholder keeps the JSON as CloudWatch will read it
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", body))
    return parsed


def _dashboard_metrics(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for widget in dashboard["widgets"]:
        namespace = metric = ""
        for row in widget["properties"].get("metrics", []):
            values = [v for v in row if isinstance(v, str)]
            if values[0] == "...":
                continue
            namespace = namespace if values[0] == "." else values[0]
            metric = metric if values[1] == "." else values[1]
            yield namespace, metric


def test_the_dashboard_shows_what_an_operator_looks_at_first(template: dict[str, Any]) -> None:
    dashboard = _dashboard(template)
    shown = set(_dashboard_metrics(dashboard))
    assert {metric for _, metric in shown} >= DASHBOARD_METRICS
    for namespace, metric in shown:
        if namespace == observability.NAMESPACE:
            assert metric in emitted_metrics(), f"the dashboard shows {metric}, which no code emits"
    assert any(widget["type"] == "alarm" for widget in dashboard["widgets"])


def test_run_and_email_outcome_metrics_are_emitted() -> None:
    assert emitted_metrics() >= {"RunsStarted", "EmailsSent", "EmailsDelivered", "EmailsBounced", "EmailsComplained"}
    assert emitted_metrics() >= PRODUCT_ALARMS


# --- names ---------------------------------------------------------------------------------------------------


def _named(template: dict[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """Every resource property that names a resource after the stage: (logical id, type, property, value)."""
    for name, resource in template["Resources"].items():
        for prop, value in resource.get("Properties", {}).items():
            if prop.endswith("Name") and "Stage" in json.dumps(value):
                yield name, resource["Type"], prop, value


def _longest(template: dict[str, Any], stage: str) -> dict[str, tuple[int, int]]:
    intrinsics = Intrinsics(template, parameters={"Stage": stage, "SenderAddress": "hello@acme.example"})
    found = {}
    for name, kind, prop, value in _named(template):
        assert (kind, prop) in NAME_LIMITS, f"{name}.{prop}: add the limit of {kind} names to NAME_LIMITS"
        found[f"{name}.{prop}"] = (len(str(intrinsics.resolve(value))), NAME_LIMITS[(kind, prop)])
    return found


def test_every_name_fits_its_limit_with_the_longest_stage_allowed(template: dict[str, Any]) -> None:
    stage = template["Parameters"]["Stage"]
    longest = "s" * int(stage["MaxLength"])
    too_long = {name: sizes for name, sizes in _longest(template, longest).items() if sizes[0] > sizes[1]}
    assert not too_long, f"names past their limit with Stage={longest!r}: {too_long}"
    # And the bound is the tightest: one more character and a function name would not fit
    over = _longest(template, longest + "s")
    assert any(length > limit for length, limit in over.values())
    assert re.fullmatch(stage["AllowedPattern"], "prod-eu-1") and not re.fullmatch(stage["AllowedPattern"], "Prod_1")


def test_the_sender_address_has_no_default_that_would_deploy_and_fail_every_send(template: dict[str, Any]) -> None:
    sender = template["Parameters"]["SenderAddress"]
    assert "Default" not in sender
    assert re.fullmatch(sender["AllowedPattern"], "hello@acme.example")
    assert not re.fullmatch(sender["AllowedPattern"], "not an address")
    allowed = template["Parameters"]["AllowedSenders"]["AllowedPattern"]
    for value in ("", "billing@acme.example", "billing@acme.example,*@news.acme.example"):
        assert re.fullmatch(allowed, value), value
    assert not re.fullmatch(allowed, "billing@acme.example, oops")


# --- who may send as whom ----------------------------------------------------------------------------------


def _may_send(settings: Settings, function: str, address: str) -> bool:
    requests = [
        IamRequest("ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{address}"),
        IamRequest("ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{settings.configuration_set}"),
    ]
    context = (("ses:FromAddress", address),)
    grants = grants_of(settings)
    return all(allowing(grants, function, IamRequest(r.action, r.resource, context)) for r in requests)


@pytest.mark.parametrize("function", ["SendEmailFunction", "ManageApiFunction"])
@pytest.mark.parametrize(
    ("allowed_senders", "address", "expected"),
    [
        ("", "hello@acme.example", True),
        ("", "billing@acme.example", False),
        ("", "hello@evil.example", False),
        ("billing@acme.example,*@news.acme.example", "billing@acme.example", True),
        ("billing@acme.example,*@news.acme.example", "spring@news.acme.example", True),
        ("billing@acme.example,*@news.acme.example", "hello@acme.example", True),
        ("billing@acme.example,*@news.acme.example", "ceo@acme.example", False),
    ],
)
def test_ses_sends_only_from_the_configured_senders_and_the_code_agrees(
    function: str, allowed_senders: str, address: str, expected: bool
) -> None:
    settings = settings_with(
        sender_address="hello@acme.example", allowed_senders=allowed_senders, configuration_set="automations-test"
    )
    # The role (ses:FromAddress condition) and the sender's own check say the same
    assert _may_send(settings, function, address) is expected
    assert sender_allowed(address, settings.senders()) is expected


def test_the_configuration_set_requires_tls_suppresses_and_tracks_reputation(template: dict[str, Any]) -> None:
    props = template["Resources"]["ConfigurationSet"]["Properties"]
    assert props["DeliveryOptions"]["TlsPolicy"] == "REQUIRE"
    assert set(props["SuppressionOptions"]["SuppressedReasons"]) == {"BOUNCE", "COMPLAINT"}
    assert props["ReputationOptions"]["ReputationMetricsEnabled"] is True


def test_ses_publishes_every_event_feedback_reads_but_send_and_the_local_stack_agrees(
    template: dict[str, Any],
) -> None:
    # ``sent`` is counted when SES takes an email (the sender's mark): a Send event would be one more SNS publish
    # and stats_webhook invocation per email for nothing, so the configuration set does not publish it
    [destination] = [
        resource["Properties"]["EventDestination"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SES::ConfigurationSetEventDestination"
    ]
    published = set(destination["MatchingEventTypes"])
    assert "send" not in published
    assert {"delivery", "bounce", "complaint", "reject", "open", "click", "deliveryDelay"} <= published
    mailboxes = ["ana@example.com", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"]
    sent = SentEmail(id="ses-1", source="hello@example.com", to=mailboxes, subject="Hi", tags={"automation": "a"})
    simulated = {event["eventType"] for event in outcome_events(sent, sent.sent_at, REGION)}
    as_named = {kind[0].lower() + kind[1:] for kind in simulated}
    assert as_named <= published


# --- sending rate and time budget --------------------------------------------------------------------------


def test_sending_is_paced_with_a_low_concurrency_and_patient_retries(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["SendingConcurrency"]["Default"] == parameters["SendingConcurrency"]["MinValue"] == 2
    assert parameters["MaxSendRate"]["Default"] == 0  # the account's own rate, read from SES
    queue = template["Resources"]["EmailQueue"]["Properties"]
    # Throttled messages back off up to 15 minutes: 30 receives ride out hours of throttling, not minutes
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 30
    backoff = sum(min(sending.BACKOFF_MAX_SECONDS, sending.BACKOFF_BASE_SECONDS * 2**n) for n in range(30))
    assert backoff > 6 * 3600
    env = template["Resources"]["SendEmailFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MAX_SEND_RATE"] == {"Ref": "MaxSendRate"}
    assert env["SENDING_CONCURRENCY"] == {"Ref": "SendingConcurrency"}


def test_the_sender_timeout_leaves_room_for_its_ses_calls(template: dict[str, Any]) -> None:
    timeout = template["Resources"]["SendEmailFunction"]["Properties"]["Timeout"]
    # The client makes one attempt bounded by its timeouts, and the sender keeps more than that in reserve
    assert ses.CLIENT_CONFIG.connect_timeout == ses.CONNECT_TIMEOUT
    assert ses.CLIENT_CONFIG.read_timeout == ses.READ_TIMEOUT
    assert ses.CLIENT_CONFIG.retries == {"total_max_attempts": 1, "mode": "standard"}
    reserve = sending.reserve_seconds(SesEmailSender(lambda: None))
    assert reserve > ses.CALL_SECONDS
    # And an invocation has time for several sends before it stops taking records
    assert timeout >= 3 * reserve


# --- storage and API -----------------------------------------------------------------------------------------


def test_tables_are_protected_from_deletion(template: dict[str, Any]) -> None:
    for name, table in resources_of(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["DeletionProtectionEnabled"] is True, name
        assert table["UpdateReplacePolicy"] == "Retain", name


def test_the_runs_table_has_the_sparse_index_of_waiting_runs_the_code_queries(template: dict[str, Any]) -> None:
    props = template["Resources"]["RunsTable"]["Properties"]
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    meta = RunItem.waiting.Meta
    index = indexes[meta.index_name]
    keys = {key["KeyType"]: key["AttributeName"] for key in index["KeySchema"]}
    model = {
        "HASH" if attribute.is_hash_key else "RANGE": name
        for name, attribute in meta.attributes.items()
        if attribute.is_hash_key or attribute.is_range_key
    }
    assert keys == model == {"HASH": "gsi3pk", "RANGE": "gsi3sk"}
    # Keys only: a run's saves while it waits change none of them, so they write nothing to the index. (ALL is
    # allowed for a stack deployed before, which keeps it: tests/unit/test_table_indexes.py.)
    assert index["Projection"] == {"ProjectionType": {"Ref": "RunsIndexProjection"}}
    assert template["Parameters"]["RunsIndexProjection"]["Default"] == "KEYS_ONLY"


def test_the_api_has_one_stage_an_authorizer_and_optional_access_logs(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    api = template["Resources"]["Api"]["Properties"]
    assert str(api["OpenApiVersion"]).startswith("3.")
    stages = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1 and stages[0]["Properties"]["StageName"] == {"Ref": "Stage"}
    kinds = {r["Type"] for r in translated["Resources"].values()}
    assert "AWS::ApiGateway::UsagePlan" not in kinds and "AWS::ApiGateway::ApiKey" not in kinds
    [rest_api] = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    body = rest_api["Properties"]["Body"]
    authorizer = body["components"]["securitySchemes"]["KeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request" and authorizer["authorizerResultTtlInSeconds"] == 300
    assert authorizer["identitySource"] == "method.request.header.x-api-key"
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            security = [name for entry in operation.get("security", []) for name in entry if name != "NONE"]
            open_route = path in ("/v1/openapi.json", "/v1/swagger", "/u/{token}", "/console", "/console/{proxy+}")
            expected = [] if open_route else ["SegmentAuthorizer"] if path in segment.ROUTES else ["KeyAuthorizer"]
            assert security == expected, (path, method, security)
    assert stages[0]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert stages[0]["Properties"]["AccessLogSetting"]["Fn::If"][0] == "HasApiAccessLogs"


def test_the_segment_routes_use_an_uncached_authorizer_that_needs_no_header(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    # Segment's SDKs send the key as the HTTP Basic username, never as x-api-key: API Gateway calls an authorizer
    # that has an identity source only when the request has it, so theirs has none, which needs no cache.
    [rest_api] = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    body = rest_api["Properties"]["Body"]
    schemes = body["components"]["securitySchemes"]
    authorizer = schemes["SegmentAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request" and authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer
    # The same function as the other routes' authorizer
    keyed = schemes["KeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["authorizerUri"] == keyed["authorizerUri"]
    assert "AuthorizerFunction" in json.dumps(authorizer["authorizerUri"])
    for path in segment.ROUTES:
        assert body["paths"][path]["post"]["security"] == [{"SegmentAuthorizer": []}], path
        assert (
            body["paths"][path]["post"]["x-amazon-apigateway-integration"]
            == body["paths"]["/v1/events"]["post"]["x-amazon-apigateway-integration"]
        ), path
    events = template["Resources"]["IngestTriggerFunction"]["Properties"]["Events"]
    segment_routes = {e["Properties"]["Path"] for e in events.values() if e["Properties"].get("Auth")}
    assert segment_routes == set(segment.ROUTES)
    # API Gateway may call the function for both authorizers
    permissions = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    callers = [p for p in permissions if p["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}]
    assert len(callers) == 2


# --- the local stack -------------------------------------------------------------------------------------------


def test_the_local_stack_creates_or_knowingly_leaves_out_every_kind_of_resource(template: dict[str, Any]) -> None:
    kinds = {resource["Type"] for resource in template["Resources"].values()}
    assert not CREATED & set(NOT_CREATED)
    assert kinds <= CREATED | set(NOT_CREATED), (
        f"decide what the local stack does with {kinds - CREATED - set(NOT_CREATED)}"
    )
    assert set(NOT_CREATED) <= kinds, f"not in the template any more: {set(NOT_CREATED) - kinds}"


def test_operations_doc_lists_every_alarm_and_parameter(template: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    for alarm in _alarms(template).values():
        name = alarm["AlarmName"]["Fn::Sub"].replace("automations-${Stage}-", "")
        assert name in doc, f"docs/operations.md does not list the alarm {name}"
    for parameter in template["Parameters"]:
        assert f"`{parameter}`" in doc, f"docs/operations.md does not describe the parameter {parameter}"
