"""The whole product on one machine: a moto server, the template's resources, the handlers, the pump, HTTP.

:class:`LocalStack` is what ``python -m automations_local`` (``make dev``) runs; it can also be started and
stopped from Python. No AWS account and no Docker: moto's server runs in a thread of this process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
from automations.adapters.clock import Clock, clock
from automations.errors import AutomationsError
from automations.settings import ENVIRONMENT, Settings

from automations_local.lambdas import Functions
from automations_local.log import LOG
from automations_local.provision import Provisioned, provision
from automations_local.pump import Pump
from automations_local.server import LocalApp, LocalServer
from automations_local.ses_simulator import SesCapture
from automations_local.template import load_template
from automations_local.wiring import Wiring, wiring

REGION = "us-east-1"
STAGE = "local"
DEFAULT_API_KEY = "local-dev-key"
#: The sender the local stack verifies and sends from unless ``--sender`` says otherwise (the template's
#: SenderAddress has no default: a deployment must name its own verified identity).
DEFAULT_SENDER = "hello@example.com"
#: The coupon pool the examples use, loaded with demonstration codes at start.
DEMO_POOL = "comeback"
#: The local SES has no sending quota: emails are paced, but far faster than any real account allows.
LOCAL_SEND_RATE = 200
#: The example automations (loaded active unless ``--no-examples``) and their sample events: the template
#: catalog the package ships.
CATALOG = resources.files("automations").joinpath("catalog")


class StackError(AutomationsError):
    """The local stack cannot start (no repository found, port taken...)."""


def find_root(start: Path | None = None) -> Path:
    """The repository: the nearest folder above ``start`` (or the package) with infra/template.yaml and functions/."""
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for candidate in candidates:
        for folder in [candidate, *candidate.parents]:
            if (folder / "infra" / "template.yaml").is_file() and (folder / "functions").is_dir():
                return folder
    raise StackError("cannot find the repository (a folder with infra/template.yaml and functions/); use --root")


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 3000
    moto_port: int = 0
    api_key: str = DEFAULT_API_KEY
    root: Path | None = None
    sender: str | None = None
    examples: bool = True
    interval: float = 0.5
    verbose: bool = False


@dataclass
class LocalStack:
    options: Options
    clock: Clock = field(default_factory=lambda: clock)
    root: Path = field(init=False)
    moto: Any = None
    moto_url: str = ""
    server: LocalServer | None = None
    pump: Pump | None = None
    settings: Settings | None = None
    provisioned: Provisioned | None = None
    wiring: Wiring | None = None
    capture: SesCapture | None = None
    _serving: threading.Thread | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)
    _saved_environ: dict[str, str] | None = None
    #: The keys printed at start: an events-only key of workspace ``default`` and the stack's root key.
    events_key: str = ""
    root_key: str = ""

    def __post_init__(self) -> None:
        self.root = (self.options.root or find_root()).resolve()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{self.options.host}:{self.server.port}"

    def start(self) -> None:
        started = time.monotonic()
        try:
            self.server = LocalServer((self.options.host, self.options.port))
        except OSError as exc:
            raise StackError(f"cannot listen on {self.options.host}:{self.options.port}: {exc}") from exc
        self._start_moto()
        template = load_template(self.root / "infra" / "template.yaml")
        self.wiring = wiring(template)
        self.provisioned, self.settings = self._provision(template)
        self._bind_handlers()
        self._seed_keys()
        functions = Functions(self.root, region=REGION, prefix=f"automations-{STAGE}", timeouts=self.wiring.timeouts)
        assert self.capture is not None
        self.pump = Pump(
            functions=functions,
            wiring=self.wiring,
            provisioned=self.provisioned,
            settings=self.settings,
            client=self.client,
            clock=self.clock,
            capture=self.capture,
            interval=self.options.interval,
        )
        self.pump.wire_buses()
        if self.options.examples:
            self._load_examples()
        names = sorted(set(self.wiring.functions.values()))
        present = [n for n in names if functions.ready(n)]
        missing = [n for n in names if n not in present]
        LOG.info("functions: %s%s", ", ".join(present), f" (not there yet: {', '.join(missing)})" if missing else "")
        self.server.app = LocalApp(
            routes=self.wiring.routes,
            functions=functions,
            pump=self.pump,
            clock=self.clock,
            api_key=self.options.api_key,
            stage=STAGE,
            region=REGION,
            functions_of_stack=names,
            authorizer=self.authorize,
        )
        LOG.info("events-only key: %s", self.events_key)
        LOG.info("root key: %s", self.root_key)
        self.pump.start()
        self._serving = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        self._serving.start()
        self.server.app.ready = True
        LOG.info("ready in %.1fs: %s  (API key: %s)", time.monotonic() - started, self.url, self.options.api_key)
        LOG.info("outbox: %s/_local/outbox.html   clock: %s/_local/clock", self.url, self.url)
        LOG.info("console: %s/console (log in with the API key)", self.url)
        LOG.info(
            "try: curl -X POST %s/v1/events -H 'x-api-key: %s' -H 'content-type: application/json' -d @%s",
            self.url,
            self.options.api_key,
            os.path.relpath(str(CATALOG.joinpath("events", "new-lead-welcome.json"))),
        )

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        if self.options.moto_port:  # moto's server thread would wait forever on a port it cannot take
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.options.moto_port))
                except OSError as exc:
                    raise StackError(f"cannot start moto on 127.0.0.1:{self.options.moto_port}: {exc}") from exc
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.moto_port, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.capture = SesCapture(REGION)
        self.capture.install()
        self._saved_environ = dict(os.environ)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        LOG.info("moto server on %s (DynamoDB, SQS, Scheduler, SES, SNS, EventBridge, Secrets Manager)", self.moto_url)

    def client(self, service: str) -> Any:
        """A boto3 client of the moto server (one per service, shared: boto3 clients are thread-safe)."""
        with self._clients_lock:
            found = self._clients.get(service)
            if found is None:
                found = boto3.client(service, endpoint_url=self.moto_url, region_name=REGION)
                self._clients[service] = found
            return found

    def _provision(self, template: dict[str, Any]) -> tuple[Provisioned, Settings]:
        assert self.server is not None
        unsubscribe = f"http://{self.options.host}:{self.server.port}/u"
        sender = self.options.sender or DEFAULT_SENDER
        done, settings = provision(
            template,
            self.client,
            parameters={
                "Stage": STAGE,
                "UnsubscribeBaseUrl": unsubscribe,
                "SenderAddress": sender,
                # Any address of the sender's domain (verified as a domain): each workspace sends from its own.
                "AllowedSenders": f"*@{sender.rpartition('@')[2]}",
                "MaxSendRate": LOCAL_SEND_RATE,
            },
            region=REGION,
            stack_name=f"automations-{STAGE}",
            sender=sender,
            overrides={
                "endpoint_url": self.moto_url,
                "region": REGION,
                "automation_cache_seconds": 0.0,
                # webhooks may reach receivers on this machine (127.0.0.1), over plain http too
                "webhooks_allow_loopback": True,
            },
        )
        LOG.info("tables: %s", ", ".join(done.tables))
        LOG.info("queues: %s", ", ".join(q.name for q in done.queues.values()))
        LOG.info(
            "schedule group %s, bus %s, topics %s",
            ", ".join(done.schedule_groups.values()),
            ", ".join(done.buses.values()),
            ", ".join(arn.rsplit(":", 1)[-1] for arn in done.topics.values()),
        )
        destinations = ", ".join(
            f"{d.name} -> {(d.topic_arn or '').rsplit(':', 1)[-1]}" for d in done.event_destinations
        )
        LOG.info(
            "SES: configuration set %s (%s), verified sender %s",
            ", ".join(done.configuration_sets.values()),
            destinations or "no event destination",
            ", ".join(done.identities) or "none",
        )
        for name, reason in done.unresolved.items():
            LOG.warning("environment: %s left unset (%s)", name, reason)
        return done, settings

    def _bind_handlers(self) -> None:
        """The handlers' settings and dependencies: this process's environment, as a deployed function's."""
        assert self.provisioned is not None and self.settings is not None
        from automations import observability
        from automations.bootstrap import build_deps
        from automations.services import deps as deps_module
        from automations.settings import get_settings

        os.environ.update(self.provisioned.environment)
        for variable, field_name in ENVIRONMENT.items():
            value = getattr(self.settings, field_name)
            if value is not None:
                os.environ[variable] = str(value)
        deps_module.reset_deps()
        settings = get_settings()
        if settings != self.settings:
            LOG.warning("settings read from the environment differ from the provisioned ones")
        deps_module._current = build_deps(settings, the_clock=self.clock)
        observability.logger.setLevel("INFO" if self.options.verbose else "WARNING")

    def _seed_keys(self) -> None:
        """The keys of the local stack, in its keys table: ``--api-key`` (``local-dev-key``) as an admin key of
        workspace ``default`` (its hash stored, as for any key), a new events-only key of it, and a root key."""
        from automations.bootstrap import build_access
        from automations.ports import ApiKey, ConflictError, Scope, Workspace
        from automations.services import access
        from automations.services import deps as deps_module

        assert self.settings is not None
        keys = deps_module._access = build_access(self.settings, the_clock=self.clock)
        now = self.clock.now()
        sender = self.options.sender or DEFAULT_SENDER
        with contextlib.suppress(ConflictError):  # a workspace kept from a previous start
            keys.workspaces.create(
                Workspace.new(
                    id=self.settings.workspace,
                    name="Local workspace",
                    sender_address=sender,
                    sender_name="Automations",
                    timezone="UTC",
                    locale="en",
                    brand_name="Automations",
                    now=now,
                )
            )
        dev_key = ApiKey(
            id=secrets.token_hex(8),
            workspace=self.settings.workspace,
            name=self.options.api_key,
            scopes=(Scope.ADMIN,),
            created_at=now,
        )
        keys.keys.create(dev_key, access.hash_secret(self.options.api_key))
        self.events_key = access.create_key(keys, self.settings.workspace, "events only", [Scope.EVENTS_WRITE]).secret
        self.root_key = f"root_{secrets.token_urlsafe(32)}"
        LOG.info("keys: %s (admin) and an events-only key of workspace %s", dev_key.name, self.settings.workspace)

    def authorize(self, presented: str) -> dict[str, str] | None:
        """What the authorizer answers for a presented key: its context, or None (401)."""
        from automations.ports import ROOT
        from automations.services import access
        from automations.services.deps import get_access

        if access.is_root_key(self.root_key, presented):
            return {"workspace": "", "scopes": ROOT, "key_id": access.ROOT_KEY_ID}
        key = access.authenticate(get_access(), presented)
        if key is None:
            return None
        return {"workspace": key.workspace, "scopes": ",".join(key.scopes), "key_id": key.id}

    def _load_examples(self) -> None:
        from automations.services import lifecycle
        from automations.services.deps import get_deps

        deps = get_deps()
        # The pool the coupon example draws from, with demonstration codes (load real ones with the API)
        deps.coupons.load(DEMO_POOL, [f"COMEBACK-{n:03d}" for n in range(1, 51)], self.clock.now())
        loaded: list[str] = []
        definitions = [p for p in CATALOG.joinpath("automations").iterdir() if p.name.endswith((".yaml", ".yml"))]
        for path in sorted(definitions, key=lambda p: p.name):
            try:
                summary = lifecycle.create(deps, path.read_text("utf-8"), self.clock.now())
                if summary.status != "active":
                    summary = lifecycle.activate(deps, summary.id, self.clock.now())
            except Exception as exc:
                LOG.error("example %s not loaded: %s", path.name, exc)
                continue
            loaded.append(summary.id)
        LOG.info("automations (active): %s", ", ".join(loaded) or "none")

    def stop(self) -> None:
        LOG.info("stopping")
        if self.server is not None:
            if self._serving is not None:
                self.server.shutdown()
                self._serving.join(timeout=5)
            self.server.server_close()
        if self.pump is not None:
            self.pump.stop()
        if self.capture is not None:
            self.capture.uninstall()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self._clients.clear()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
        from automations.services import deps as deps_module

        deps_module.reset_deps()
        LOG.info("stopped")
