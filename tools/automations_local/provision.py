"""Creating the template's resources in moto (tests and the local stack): its tables, queues, topics, bus,
schedule group, SES configuration set and secret, named and configured as the template says.

Every resource type of the template is either created here (:data:`CREATED`) or deliberately left out
(:data:`NOT_CREATED`, with the reason); a test keeps the template and these two lists in step, so a new
kind of resource is a decision for the local stack, not a silent gap."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.settings import ENVIRONMENT, Settings

from automations_local.cfn import ACCOUNT, Intrinsics, UnresolvedError
from automations_local.template import function_environment, global_environment, resources_of, setting_for_resource

#: The resource types the local stack creates in moto (or builds itself: the handlers, routes and event
#: sources are read from the functions' own definitions by :mod:`automations_local.wiring`).
CREATED = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Events::EventBus",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SES::ConfigurationSet",
        "AWS::SES::ConfigurationSetEventDestination",
        "AWS::SecretsManager::Secret",
        "AWS::Serverless::Function",
        "AWS::Serverless::Api",
    }
)

#: The resource types the local stack leaves out, and why.
NOT_CREATED = {
    "AWS::Serverless::LayerVersion": "the package is imported from the repository",
    "AWS::IAM::Role": "moto does not enforce IAM; the role's ARN is made up where a setting names it",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies; the pump delivers to the queues itself",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies; the pump publishes SES's events itself",
    "AWS::KMS::Key": "topics are not encrypted locally (nothing leaves the machine)",
    "AWS::KMS::Alias": "topics are not encrypted locally (nothing leaves the machine)",
    "AWS::Logs::LogGroup": "the handlers log to the console of the local stack",
    "AWS::CloudWatch::Alarm": "no CloudWatch locally: dead letters and failures show in the local stack's log",
    "AWS::CloudWatch::Dashboard": "no CloudWatch locally: the outbox and GET /_local/bus show what happened",
}


def table_definitions(
    template: dict[str, Any], settings: Settings, parameters: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``create_table`` arguments for every DynamoDB table of the template, with the settings' names; a parameter
    its properties refer to (the projection of the runs' indexes) takes its value in ``parameters``, or else its
    default."""
    intrinsics = Intrinsics(template, parameters=dict(parameters or {}))
    out = []
    for logical_id, resource in resources_of(template, "AWS::DynamoDB::Table").items():
        setting = setting_for_resource(template, logical_id)
        if setting is None:
            raise LookupError(f"no environment variable names table {logical_id}")
        props = resource["Properties"]
        spec: dict[str, Any] = {
            "TableName": getattr(settings, setting),
            "AttributeDefinitions": intrinsics.resolve(props["AttributeDefinitions"]),
            "KeySchema": intrinsics.resolve(props["KeySchema"]),
            "BillingMode": intrinsics.resolve(props.get("BillingMode", "PAY_PER_REQUEST")),
        }
        if props.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = intrinsics.resolve(props["GlobalSecondaryIndexes"])
        ttl = intrinsics.resolve(props.get("TimeToLiveSpecification"))
        out.append({"create": spec, "ttl": ttl})
    return out


def create_tables(
    template: dict[str, Any], settings: Settings, dynamodb: Any, parameters: Mapping[str, Any] | None = None
) -> list[str]:
    """Create the tables (idempotent) and their TTL settings; returns their names. ``parameters``: the template's
    parameters given (the others take their defaults)."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = []
    for definition in table_definitions(template, settings, parameters):
        spec = definition["create"]
        names.append(spec["TableName"])
        if spec["TableName"] in existing:
            continue
        dynamodb.create_table(**spec)
        if definition["ttl"]:
            dynamodb.update_time_to_live(TableName=spec["TableName"], TimeToLiveSpecification=definition["ttl"])
    return names


# --- the whole stack: every resource the handlers talk to, named and configured as the template says ------


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class EventDestination:
    """Where a configuration set publishes SES events: the event types (lower case) and the topic's ARN."""

    configuration_set: str
    name: str
    event_types: frozenset[str]
    topic_arn: str | None


@dataclass
class Provisioned:
    """What was created, by logical id, and the environment the functions would get from the template."""

    intrinsics: Intrinsics
    queues: dict[str, Queue] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    schedule_groups: dict[str, str] = field(default_factory=dict)
    configuration_sets: dict[str, str] = field(default_factory=dict)
    event_destinations: list[EventDestination] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    unresolved: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)

    def queue_by_arn(self, arn: str) -> Queue | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)


def _physical_name(intrinsics: Intrinsics, logical_id: str, value: Any) -> str:
    return str(intrinsics.resolve(value)) if value else f"{intrinsics.stack_name}-{logical_id}"


def _queue_attributes(intrinsics: Intrinsics, props: dict[str, Any]) -> dict[str, str]:
    names = (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
    )
    out: dict[str, str] = {}
    for name in names:
        if name in props:
            value = intrinsics.resolve(props[name])
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if "RedrivePolicy" in props:
        out["RedrivePolicy"] = json.dumps(intrinsics.resolve(props["RedrivePolicy"]))
    return out


def create_secrets(template: dict[str, Any], done: Provisioned, client: Any) -> None:
    """Secrets Manager secrets, with a random value where the template asks for a generated one."""
    for logical_id, resource in resources_of(template, "AWS::SecretsManager::Secret").items():
        props = resource.get("Properties", {})
        name = _physical_name(done.intrinsics, logical_id, props.get("Name"))
        generate = props.get("GenerateSecretString", {})
        value = props.get("SecretString") or secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))
        try:
            arn = client.create_secret(Name=name, SecretString=str(value))["ARN"]
        except client.exceptions.ResourceExistsException:
            arn = client.describe_secret(SecretId=name)["ARN"]
        done.secrets[logical_id] = arn
        done.intrinsics.refs[logical_id] = arn


def secret_resolver(client: Any) -> Callable[[str], str]:
    """Resolves ``{{resolve:secretsmanager:<id or ARN>:SecretString[:json-key]}}`` from the moto secrets."""

    def resolve(reference: str) -> str:
        service, _, rest = reference.partition(":")
        if service != "secretsmanager":
            raise UnresolvedError(f"dynamic reference to {service} is not supported locally")
        parts = rest.split(":")
        take = 7 if parts[0] == "arn" else 1
        secret_id, options = ":".join(parts[:take]), parts[take:]
        value = str(client.get_secret_value(SecretId=secret_id)["SecretString"])
        if len(options) > 1 and options[1]:
            value = str(json.loads(value)[options[1]])
        return value

    return resolve


def create_queues(template: dict[str, Any], done: Provisioned, client: Any) -> None:
    """Every SQS queue, dead-letter queues first (the others' redrive policies name them)."""
    pending = dict(resources_of(template, "AWS::SQS::Queue"))
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            props = resource.get("Properties", {})
            try:
                attributes = _queue_attributes(done.intrinsics, props)
            except UnresolvedError:
                continue
            name = _physical_name(done.intrinsics, logical_id, props.get("QueueName"))
            url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            done.queues[logical_id] = Queue(logical_id, name, url, arn)
            done.intrinsics.refs[logical_id] = url
            done.intrinsics.attributes.update(
                {(logical_id, "Arn"): arn, (logical_id, "QueueName"): name, (logical_id, "QueueUrl"): url}
            )
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise UnresolvedError(f"queues whose redrive target cannot be created: {sorted(pending)}")


def create_topics(template: dict[str, Any], done: Provisioned, client: Any) -> None:
    for logical_id, resource in resources_of(template, "AWS::SNS::Topic").items():
        name = _physical_name(done.intrinsics, logical_id, resource.get("Properties", {}).get("TopicName"))
        arn = client.create_topic(Name=name)["TopicArn"]
        done.topics[logical_id] = arn
        done.intrinsics.refs[logical_id] = arn
        done.intrinsics.attributes.update({(logical_id, "TopicArn"): arn, (logical_id, "TopicName"): name})


def create_buses(template: dict[str, Any], done: Provisioned, client: Any) -> None:
    for logical_id, resource in resources_of(template, "AWS::Events::EventBus").items():
        name = _physical_name(done.intrinsics, logical_id, resource.get("Properties", {}).get("Name"))
        try:
            arn = client.create_event_bus(Name=name)["EventBusArn"]
        except client.exceptions.ResourceAlreadyExistsException:
            arn = client.describe_event_bus(Name=name)["Arn"]
        done.buses[logical_id] = name
        done.intrinsics.refs[logical_id] = name
        done.intrinsics.attributes.update({(logical_id, "Arn"): arn, (logical_id, "Name"): name})


def create_schedule_groups(template: dict[str, Any], done: Provisioned, client: Any) -> None:
    for logical_id, resource in resources_of(template, "AWS::Scheduler::ScheduleGroup").items():
        name = _physical_name(done.intrinsics, logical_id, resource.get("Properties", {}).get("Name"))
        try:
            arn = client.create_schedule_group(Name=name)["ScheduleGroupArn"]
        except client.exceptions.ConflictException:
            arn = client.get_schedule_group(Name=name)["Arn"]
        done.schedule_groups[logical_id] = name
        done.intrinsics.refs[logical_id] = name
        done.intrinsics.attributes[(logical_id, "Arn")] = arn


def create_email_setup(template: dict[str, Any], done: Provisioned, sesv2: Any, ses: Any, sender: str) -> None:
    """The SES configuration sets (with their event destinations) and the verified sender identity."""
    for logical_id, resource in resources_of(template, "AWS::SES::ConfigurationSet").items():
        props = resource.get("Properties", {})
        name = _physical_name(done.intrinsics, logical_id, props.get("Name"))
        options = {
            key: done.intrinsics.resolve(props[key])
            for key in (
                "ReputationOptions",
                "SendingOptions",
                "TrackingOptions",
                "DeliveryOptions",
                "SuppressionOptions",
            )
            if key in props
        }
        sesv2.create_configuration_set(ConfigurationSetName=name, **options)
        done.configuration_sets[logical_id] = name
        done.intrinsics.refs[logical_id] = name
    for logical_id, resource in resources_of(template, "AWS::SES::ConfigurationSetEventDestination").items():
        props = done.intrinsics.resolve(resource.get("Properties", {}))
        destination = props.get("EventDestination", {})
        topic = destination.get("SnsDestination", {}).get("TopicARN")
        types = frozenset(str(t).lower() for t in destination.get("MatchingEventTypes", []))
        name = str(destination.get("Name") or logical_id)
        if destination.get("Enabled", True):
            done.event_destinations.append(EventDestination(props["ConfigurationSetName"], name, types, topic))
        # moto keeps it too (SES v1 API) for anyone who asks; the simulator reads the template itself
        with contextlib.suppress(Exception):
            ses.create_configuration_set_event_destination(
                ConfigurationSetName=props["ConfigurationSetName"],
                EventDestination={
                    "Name": name,
                    "Enabled": bool(destination.get("Enabled", True)),
                    "MatchingEventTypes": sorted(types),
                    "SNSDestination": {"TopicARN": topic},
                },
            )
    if sender:
        # The sender and its domain: the workspaces of the local stack send from addresses of that domain.
        domain = sender.rpartition("@")[2]
        for identity in (sender, domain):
            with contextlib.suppress(sesv2.exceptions.AlreadyExistsException):
                sesv2.create_email_identity(EmailIdentity=identity)
            done.identities.append(identity)


def name_tables(template: dict[str, Any], done: Provisioned) -> None:
    """The tables' physical names (created later, from the settings that these names fill)."""
    for logical_id, resource in resources_of(template, "AWS::DynamoDB::Table").items():
        name = _physical_name(done.intrinsics, logical_id, resource.get("Properties", {}).get("TableName"))
        done.intrinsics.refs[logical_id] = name
        arn = f"arn:aws:dynamodb:{done.intrinsics.region}:{ACCOUNT}:table/{name}"
        done.intrinsics.attributes[(logical_id, "Arn")] = arn


def resolve_environment(template: dict[str, Any], done: Provisioned) -> None:
    """Globals' variables plus each function's own, resolved; those that cannot be are kept aside."""
    merged: dict[str, Any] = dict(global_environment(template))
    for logical_id in resources_of(template, "AWS::Serverless::Function"):
        merged.update(function_environment(template, logical_id))
    for name, value in merged.items():
        try:
            resolved = done.intrinsics.resolve(value)
        except (UnresolvedError, KeyError, TypeError) as exc:
            done.unresolved[name] = str(exc)
            continue
        done.environment[name] = str(resolved)


def provision(
    template: dict[str, Any],
    client: Callable[[str], Any],
    *,
    parameters: dict[str, Any],
    region: str,
    stack_name: str,
    sender: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[Provisioned, Settings]:
    """Create the template's resources in moto and the settings that point at them.

    ``client(service)`` gives a boto3 client of the moto server; ``overrides`` are settings fields set on
    top of what the template's environment says (the endpoint, for instance).
    """
    secrets_client = client("secretsmanager")
    intrinsics = Intrinsics(template, region=region, stack_name=stack_name, parameters=dict(parameters), dynamic=None)
    intrinsics.dynamic = secret_resolver(secrets_client)
    done = Provisioned(intrinsics)
    create_secrets(template, done, secrets_client)
    create_queues(template, done, client("sqs"))
    create_topics(template, done, client("sns"))
    create_buses(template, done, client("events"))
    create_schedule_groups(template, done, client("scheduler"))
    address = sender or str(intrinsics.parameters.get("SenderAddress", ""))
    create_email_setup(template, done, client("sesv2"), client("ses"), address)
    name_tables(template, done)
    resolve_environment(template, done)
    values = {field_name: done.environment[var] for var, field_name in ENVIRONMENT.items() if var in done.environment}
    values["region"] = region  # what Lambda's own AWS_REGION says in a deployed function
    values.update(overrides or {})
    settings = Settings.model_validate(values)
    done.tables = create_tables(template, settings, client("dynamodb"), intrinsics.parameters)
    return done, settings
