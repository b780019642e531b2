"""What the template wires to each function: API routes, queues, topics and bus rules, read from its Events.

The local stack serves and pumps exactly what is declared here, so a route or an event source added to
``infra/template.yaml`` is served locally without touching this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automations_local.template import resources_of


@dataclass(frozen=True)
class Route:
    """One API Gateway method: ``path`` may hold ``{name}`` parameters; ``method`` is upper case or ``ANY``.

    ``identity_headers`` are the identity sources of the route's authorizer: API Gateway answers 401 without
    calling the authorizer when one of them is missing (none: the authorizer is called for every request)."""

    path: str
    method: str
    function: str
    api_key_required: bool
    identity_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping: the queue's logical id and the batch size."""

    function: str
    queue: str
    batch_size: int = 10
    report_failures: bool = True


@dataclass(frozen=True)
class TopicSource:
    """An SNS subscription: the topic's logical id and the subscription's dead-letter queue, if any."""

    function: str
    topic: str
    dead_letter: str | None = None


@dataclass(frozen=True)
class BusSource:
    """An EventBridge rule to a function: the bus's logical id, the raw pattern and the rule's DLQ."""

    function: str
    name: str
    bus: str
    pattern: dict[str, Any]
    dead_letter: str | None = None


@dataclass
class Wiring:
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> folder under functions/
    timeouts: dict[str, int] = field(default_factory=dict)  # folder -> Timeout (seconds), Globals' by default
    function_names: dict[str, Any] = field(default_factory=dict)  # logical id -> FunctionName (unresolved)
    routes: list[Route] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    topics: list[TopicSource] = field(default_factory=list)
    buses: list[BusSource] = field(default_factory=list)


def _logical(value: Any) -> str | None:
    """The logical id behind ``!Ref X`` or ``!GetAtt X.Attr``."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def folder_of(code_uri: Any) -> str:
    """``../functions/send_email/`` -> ``send_email``."""
    return str(code_uri).rstrip("/").rsplit("/", 1)[-1]


def _api_key_default(template: dict[str, Any], api: str | None) -> bool:
    """Whether the API's routes need a key unless they say otherwise: a default authorizer (or API keys)."""
    if api is None:
        return False
    auth = template.get("Resources", {}).get(api, {}).get("Properties", {}).get("Auth", {})
    return bool(auth.get("DefaultAuthorizer") or auth.get("ApiKeyRequired", False))


def _identity_headers(template: dict[str, Any], api: str | None, auth: dict[str, Any]) -> tuple[str, ...]:
    """The headers the authorizer of a route (its own, or the API's default) takes its identity from."""
    if api is None:
        return ()
    api_auth = template.get("Resources", {}).get(api, {}).get("Properties", {}).get("Auth", {})
    name = auth.get("Authorizer") or api_auth.get("DefaultAuthorizer")
    authorizer = api_auth.get("Authorizers", {}).get(str(name), {}) if name else {}
    return tuple(str(header) for header in authorizer.get("Identity", {}).get("Headers", []))


def _key_required(auth: dict[str, Any], default: bool) -> bool:
    """A route's own ``Auth``: ``Authorizer: NONE`` (or ``ApiKeyRequired: false``) opens it."""
    if str(auth.get("Authorizer", "")).upper() == "NONE":
        return False
    if "Authorizer" in auth:
        return True
    return bool(auth.get("ApiKeyRequired", default))


def wiring(template: dict[str, Any]) -> Wiring:
    out = Wiring()
    default_timeout = int(template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    for logical_id, resource in resources_of(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties", {})
        folder = folder_of(props.get("CodeUri", logical_id))
        out.functions[logical_id] = folder
        out.timeouts[folder] = int(props.get("Timeout", default_timeout))
        out.function_names[logical_id] = props.get("FunctionName")
        for event_name, event in props.get("Events", {}).items():
            kind, ev = event.get("Type"), event.get("Properties", {})
            if kind == "Api":
                api = _logical(ev.get("RestApiId"))
                auth = ev.get("Auth", {})
                required = _key_required(auth, _api_key_default(template, api))
                method = str(ev.get("Method", "any")).upper()
                identity = _identity_headers(template, api, auth) if required else ()
                out.routes.append(Route(str(ev["Path"]), method, folder, bool(required), identity))
            elif kind == "SQS":
                queue = _logical(ev.get("Queue"))
                if queue:
                    responses = ev.get("FunctionResponseTypes", [])
                    batch = int(ev.get("BatchSize", 10))
                    out.queues.append(QueueSource(folder, queue, batch, "ReportBatchItemFailures" in responses))
            elif kind == "SNS":
                topic = _logical(ev.get("Topic"))
                if topic:
                    dlq = _logical(ev.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
                    out.topics.append(TopicSource(folder, topic, dlq))
            elif kind in ("EventBridgeRule", "CloudWatchEvent"):
                bus = _logical(ev.get("EventBusName"))
                if bus:
                    dlq = _logical(ev.get("DeadLetterConfig", {}).get("Arn"))
                    out.buses.append(BusSource(folder, event_name, bus, dict(ev.get("Pattern", {})), dlq))
    return out
