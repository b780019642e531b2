"""The local stack reads the template: its intrinsic functions, its routes and its event sources."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from automations_local.cfn import Intrinsics, UnresolvedError
from automations_local.lambdas import Functions
from automations_local.provision import provision
from automations_local.template import load_template
from automations_local.wiring import Route, wiring
from moto import mock_aws

from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_sub_resolves_parameters_pseudo_parameters_and_attributes(template: dict[str, Any]) -> None:
    intrinsics = Intrinsics(template, parameters={"Stage": "local"}, attributes={("Api", "Arn"): "arn:api"})
    assert intrinsics.resolve({"Fn::Sub": "automations-${Stage}-${AWS::Region}"}) == "automations-local-us-east-1"
    assert intrinsics.resolve({"Fn::Sub": ["${A}/${Api.Arn}/${!Literal}", {"A": "a"}]}) == "a/arn:api/${Literal}"
    assert intrinsics.resolve({"Ref": "MaxSendRate"}) == 0  # the parameter's default
    # SenderAddress has no default: it must be given (the local stack gives its own)
    with pytest.raises(UnresolvedError, match="SenderAddress: a parameter without a default"):
        intrinsics.resolve({"Ref": "SenderAddress"})
    given = Intrinsics(template, parameters={"Stage": "local", "SenderAddress": "hello@example.com"})
    assert given.resolve({"Ref": "SenderAddress"}) == "hello@example.com"


def test_conditions_choose_the_branch_of_if(template: dict[str, Any]) -> None:
    value = template["Resources"]["SendEmailFunction"]["Properties"]["Environment"]["Variables"]["UNSUBSCRIBE_BASE_URL"]
    given = Intrinsics(template, parameters={"Stage": "local", "UnsubscribeBaseUrl": "http://127.0.0.1:3000/u"})
    assert given.resolve(value) == "http://127.0.0.1:3000/u"
    default = Intrinsics(template, parameters={"Stage": "local"}, refs={"Api": "abc123"})
    assert default.resolve(value) == "https://abc123.execute-api.us-east-1.amazonaws.com/local/u"


def test_dynamic_references_go_to_the_resolver(template: dict[str, Any]) -> None:
    asked: list[str] = []

    def resolver(reference: str) -> str:
        asked.append(reference)
        return "s3cr3t"

    intrinsics = Intrinsics(template, refs={"UnsubscribeSecret": "arn:secret"}, dynamic=resolver)
    reference = {"Fn::Sub": "{{resolve:secretsmanager:${UnsubscribeSecret}:SecretString}}"}
    assert intrinsics.resolve(reference) == "s3cr3t"
    assert asked == ["secretsmanager:arn:secret:SecretString"]


def test_the_local_stack_creates_the_unsubscribe_secret_and_passes_its_arn(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the template's resources provisioned in moto, as the local stack does
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        done, settings = provision(
            template,
            lambda service: boto3.client(service, region_name="us-east-1"),
            parameters={"Stage": "local", "SenderAddress": "hello@example.com"},
            region="us-east-1",
            stack_name="automations-local",
        )
        # Then the functions get the secret's ARN (never its value), and the secret holds a generated value
        arn = done.secrets["UnsubscribeSecret"]
        assert done.environment["UNSUBSCRIBE_SECRET_ARN"] == arn == settings.unsubscribe_secret_arn
        value = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=arn)["SecretString"]
        assert len(value) >= 32 and value not in done.environment.values()
        assert "UNSUBSCRIBE_SECRET" not in done.environment and not done.unresolved


def test_a_reference_to_something_not_created_is_an_error(template: dict[str, Any]) -> None:
    with pytest.raises(UnresolvedError, match="EmailQueue"):
        Intrinsics(template).resolve({"Ref": "EmailQueue"})
    role = Intrinsics(template).resolve({"Fn::GetAtt": ["SchedulerRole", "Arn"]})
    assert role == "arn:aws:iam::123456789012:role/automations-local-SchedulerRole"


def test_every_function_of_the_template_has_a_folder(template: dict[str, Any]) -> None:
    wired = wiring(template)
    assert sorted(wired.functions.values()) == [
        "authorizer",
        "call_webhook",
        "evaluate_step",
        "ingest_trigger",
        "manage_api",
        "send_email",
        "stats_webhook",
    ]


#: The API's description and its UI: open, as in API Gateway (Authorizer: NONE).
OPEN_DOCS = ("/v1/openapi.json", "/v1/swagger")


def test_the_routes_are_the_template_s_with_their_api_key_requirement(template: dict[str, Any]) -> None:
    routes = wiring(template).routes
    key = ("x-api-key",)
    assert Route("/v1/events", "POST", "ingest_trigger", True, key) in routes
    assert Route("/u/{token}", "GET", "stats_webhook", False) in routes
    assert Route("/u/{token}", "POST", "stats_webhook", False) in routes
    assert Route("/v1/automations/{id}/{action}", "ANY", "manage_api", True, key) in routes
    # The Segment-compatible routes' authorizer has no identity source: the key may be the Basic username
    for path in ("/v1/track", "/v1/identify", "/v1/batch"):
        assert Route(path, "POST", "ingest_trigger", True, ()) in routes
    assert Route("/v1/openapi.json", "GET", "manage_api", False) in routes
    assert Route("/v1/swagger", "GET", "manage_api", False) in routes
    assert all(r.api_key_required for r in routes if r.path.startswith("/v1/") and r.path not in OPEN_DOCS)


def test_the_event_sources_are_the_template_s(template: dict[str, Any]) -> None:
    wired = wiring(template)
    queues = sorted((q.function, q.queue, q.batch_size, q.report_failures) for q in wired.queues)
    assert queues == [("call_webhook", "WebhookQueue", 5, True), ("send_email", "EmailQueue", 10, True)]
    [topic] = wired.topics
    assert (topic.function, topic.topic, topic.dead_letter) == (
        "stats_webhook",
        "FeedbackTopic",
        "FeedbackDeadLetterQueue",
    )
    [bus] = wired.buses
    assert (bus.function, bus.bus, bus.dead_letter) == ("ingest_trigger", "EventBus", "IngestDeadLetterQueue")
    assert Intrinsics(template).resolve(bus.pattern) == {"account": ["123456789012"]}


def test_each_local_function_gets_the_timeout_the_template_gives_it(template: dict[str, Any]) -> None:
    timeouts = wiring(template).timeouts
    assert timeouts["send_email"] == template["Resources"]["SendEmailFunction"]["Properties"]["Timeout"]
    assert timeouts["ingest_trigger"] == template["Globals"]["Function"]["Timeout"]
    functions = Functions(TEMPLATE.parent.parent, region="us-east-1", timeouts=timeouts)
    remaining = functions.context("send_email").get_remaining_time_in_millis()
    assert (timeouts["send_email"] - 1) * 1000 < remaining <= timeouts["send_email"] * 1000
