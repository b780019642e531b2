"""The one place that builds the adapters, from the settings (DESIGN.md §2).

:func:`build_ports` wires every port of :class:`~automations.ports.Ports` to its AWS adapter (and the adapters'
classification of their failures); :func:`build_access` the stores of keys and workspaces (all the authorizer
needs: no other client is made); :func:`build_deps` adds the settings: the services'
:class:`~automations.services.deps.Deps`, what :func:`~automations.services.deps.get_deps` answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3

from automations.adapters import failures, ses
from automations.adapters.bus import EventBridgeBus
from automations.adapters.clock import Clock, clock
from automations.adapters.dynamodb import tables
from automations.adapters.dynamodb.automations import DynamoAutomationStore
from automations.adapters.dynamodb.contacts import DynamoContactStore
from automations.adapters.dynamodb.counters import DynamoCounterStore
from automations.adapters.dynamodb.coupons import DynamoCouponStore
from automations.adapters.dynamodb.events import DynamoEventStore
from automations.adapters.dynamodb.keys import DynamoKeyStore
from automations.adapters.dynamodb.messages import DynamoMessageStore
from automations.adapters.dynamodb.runs import DynamoRunStore
from automations.adapters.dynamodb.stats import DynamoStatsStore
from automations.adapters.dynamodb.suppressions import DynamoSuppressionStore
from automations.adapters.dynamodb.tasks import DynamoTaskStore
from automations.adapters.dynamodb.workspaces import DynamoWorkspaceStore
from automations.adapters.queue import EmailQueue, WebhookQueue
from automations.adapters.scheduler import Scheduler
from automations.adapters.secrets import SecretsManagerSecrets
from automations.adapters.ses_sender import SesEmailSender
from automations.adapters.webhook_http import WebhookHttpClient
from automations.adapters.webhook_secrets import SecretsManagerWebhookSecrets
from automations.ports import AccessPorts, Ports
from automations.services.deps import Deps
from automations.settings import Settings

#: The clients every process of the stack uses (others, like SES's, are made on first use).
CLIENTS = ("scheduler", "sqs")


def client_options(settings: Settings) -> dict[str, Any]:
    """What a boto3 client of the stack is made with: its region (and the moto server, when an endpoint is set)."""
    kwargs: dict[str, Any] = {"region_name": settings.region}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    return kwargs


def aws_clients(settings: Settings) -> dict[str, Any]:
    """The boto3 clients of the stack's region (and of the moto server when an endpoint is set)."""
    return {name: boto3.client(name, **client_options(settings)) for name in CLIENTS}


def secrets_manager(settings: Settings) -> Callable[[], Any]:
    """Secrets Manager's client, made on first use and kept."""
    made: list[Any] = []

    def client() -> Any:
        if not made:
            made.append(boto3.client("secretsmanager", **client_options(settings)))
        return made[0]

    return client


def workspace_stores(
    settings: Settings, workspace: str, secrets_client: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """The stores of :class:`~automations.ports.Ports` bound to one workspace (every key they touch is its)."""
    return {
        "webhook_secrets": SecretsManagerWebhookSecrets(
            secrets_client or secrets_manager(settings), settings.webhook_secret_prefix, workspace
        ),
        "automations": DynamoAutomationStore(workspace, cache_seconds=settings.automation_cache_seconds),
        "events": DynamoEventStore(workspace),
        "runs": DynamoRunStore(workspace, packed=settings.run_state_format == "packed"),
        "counters": DynamoCounterStore(workspace),
        "messages": DynamoMessageStore(workspace),
        "suppressions": DynamoSuppressionStore(workspace),
        "stats": DynamoStatsStore(workspace),
        "contacts": DynamoContactStore(workspace),
        "tasks": DynamoTaskStore(workspace),
        "coupons": DynamoCouponStore(workspace),
    }


def build_ports(settings: Settings, *, the_clock: Clock | None = None, clients: dict[str, Any] | None = None) -> Ports:
    """Every port of the settings' workspace on AWS: the tables bound, ``clients`` made unless given."""
    tables.bind(settings)
    clients = clients if clients is not None else aws_clients(settings)
    secrets_client = secrets_manager(settings)
    return Ports(
        **workspace_stores(settings, settings.workspace, secrets_client),
        scheduler=Scheduler(clients["scheduler"], settings),
        bus=EventBridgeBus(lambda: boto3.client("events", **client_options(settings)), settings.event_bus_name),
        email_queue=EmailQueue(clients["sqs"], settings.email_queue_url),
        email_sender=SesEmailSender(lambda: ses.make_client(settings), lambda: ses.make_quota_client(settings)),
        webhook_queue=WebhookQueue(clients["sqs"], settings.webhook_queue_url),
        webhooks=WebhookHttpClient(allow_loopback_http=settings.webhooks_allow_loopback),
        secrets=SecretsManagerSecrets(),
        clock=the_clock or clock,
        is_transient=failures.is_transient,
    )


def build_deps(settings: Settings, *, the_clock: Clock | None = None) -> Deps:
    """The services' dependencies: every port of the settings' workspace on AWS, and the settings; the other
    workspaces' (:meth:`~automations.services.deps.Deps.in_workspace`) share its clients, sender and secrets."""
    ports = build_ports(settings, the_clock=the_clock)
    secrets_client = secrets_manager(settings)

    def ports_of(workspace: str) -> Ports:
        return replace(ports, **workspace_stores(settings, workspace, secrets_client))

    return Deps.of(ports, settings, ports_of=ports_of, workspace_store=DynamoWorkspaceStore())


def build_access(settings: Settings, *, the_clock: Clock | None = None) -> AccessPorts:
    """The stores of keys and workspaces on AWS, the clock and the secrets (read on first use, then cached): the
    tables bound, no other client made."""
    tables.bind(settings)
    return AccessPorts(
        keys=DynamoKeyStore(),
        workspaces=DynamoWorkspaceStore(),
        clock=the_clock or clock,
        secrets=SecretsManagerSecrets(),
        root_secret_arn=settings.root_secret_arn,
    )
