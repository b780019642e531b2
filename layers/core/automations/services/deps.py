"""What a service receives: every port of the workspace (:class:`~automations.ports.Ports`, the clock included)
and the settings, built by :mod:`automations.bootstrap` (from the AWS adapters) or by a test (from fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from automations.language.loader import load_definition
from automations.language.model import Automation
from automations.ports import AccessPorts, Ports, UnknownWorkspaceError, Workspace, WorkspaceStore
from automations.settings import Settings, get_settings

#: How many parsed definitions a process keeps (versions never change, so any of them may be kept).
_PARSED_KEPT = 256
#: How long a process keeps a workspace's profile (sender, defaults, limits) before reading it again; a workspace
#: not found is asked again sooner.
WORKSPACE_SECONDS = 300.0
UNKNOWN_WORKSPACE_SECONDS = 30.0
#: How many workspaces' dependencies a process keeps.
_WORKSPACES_KEPT = 512

#: The ports of a workspace over the same tables and clients: the stores bound to it, the rest shared.
PortsOf = Callable[[str], Ports]


@dataclass(kw_only=True)
class Deps(Ports):
    """The ports and the settings of one workspace, as every service takes them."""

    settings: Settings
    #: The ports of another workspace (None: these deps serve their own workspace only).
    ports_of: PortsOf | None = field(default=None, repr=False)
    #: Where the workspaces' profiles are read (None: no workspace but the settings' own).
    workspace_store: WorkspaceStore | None = field(default=None, repr=False)
    _parsed: dict[tuple[str, int], Automation] = field(default_factory=dict)
    _workspaces: dict[str, tuple[float, Deps | None]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        ports: Ports,
        settings: Settings,
        *,
        ports_of: PortsOf | None = None,
        workspace_store: WorkspaceStore | None = None,
    ) -> Deps:
        """The services' dependencies over these ports; ``ports_of`` and ``workspace_store`` let them answer
        the dependencies of the stack's other workspaces (:meth:`in_workspace`)."""
        return cls(
            **{port.name: getattr(ports, port.name) for port in fields(Ports)},
            settings=settings,
            ports_of=ports_of,
            workspace_store=workspace_store,
        )

    def in_workspace(self, workspace: str) -> Deps:
        """The dependencies of a workspace of the stack: its stores, and its settings (its sender, default time
        zone and locale, brand and limits) over the stack's. The stack's own workspace without a stored profile
        is these deps; any other workspace must exist, else ``UnknownWorkspaceError``. A profile is read once
        per :data:`WORKSPACE_SECONDS` (it changes only when an operator changes it)."""
        now = time.monotonic()
        kept = self._workspaces.get(workspace)
        if kept is not None and kept[0] > now:
            return self._answer(workspace, kept[1])
        profile = self.workspace_store.get(workspace) if self.workspace_store is not None else None
        found: Deps | None
        if profile is not None:
            found = self._deps_of(profile)
        elif workspace == self.settings.workspace:
            found = self
        else:
            found = None
        if len(self._workspaces) >= _WORKSPACES_KEPT:
            self._workspaces.clear()
        ttl = WORKSPACE_SECONDS if found is not None else UNKNOWN_WORKSPACE_SECONDS
        self._workspaces[workspace] = (now + ttl, found)
        return self._answer(workspace, found)

    def forget_workspaces(self) -> None:
        """Read every workspace's profile again at its next use (a new process's view)."""
        self._workspaces.clear()

    @staticmethod
    def _answer(workspace: str, found: Deps | None) -> Deps:
        if found is None:
            raise UnknownWorkspaceError(workspace)
        return found

    def _deps_of(self, profile: Workspace) -> Deps:
        settings = self.settings.for_workspace(
            profile.id,
            sender_address=profile.sender_address,
            sender_name=profile.sender_name,
            timezone=profile.timezone,
            locale=profile.locale,
            brand_name=profile.brand_name,
            hard_bounce_rate_limit=profile.hard_bounce_rate_limit,
            complaint_rate_limit=profile.complaint_rate_limit,
        )
        if profile.id == self.settings.workspace:
            ports: Ports = self
        elif self.ports_of is not None:
            ports = self.ports_of(profile.id)
        else:
            raise UnknownWorkspaceError(profile.id)
        return Deps.of(ports, settings)

    def definition(self, automation_id: str, version: int) -> Automation:
        """A version as a validated model; parsed once per process (versions never change)."""
        key = (automation_id, version)
        found = self._parsed.get(key)
        if found is None:
            found = load_definition(self.automations.version(automation_id, version))
            if len(self._parsed) > _PARSED_KEPT:
                self._parsed.clear()
            self._parsed[key] = found
        return found


_current: Deps | None = None


def get_deps(workspace: str | None = None) -> Deps:
    """The process's dependencies, built on first use (not at import) from the settings read once; with a
    ``workspace``, that workspace's (:meth:`Deps.in_workspace`; ``UnknownWorkspaceError`` when it does not exist).

    They are built by :func:`automations.bootstrap.build_deps`, the one place that builds adapters: the entry
    points (the handlers, the management API's routes) take them from here.
    """
    if workspace is not None:
        return get_deps().in_workspace(workspace)
    global _current
    if _current is None:
        # Imported here, the one import of the services that goes up a layer: bootstrap builds the Deps of this
        # module (an import at the top would be circular), and it brings boto3 and pynamodb, which the handlers
        # load on their first request, not when they are imported.
        from automations.bootstrap import build_deps

        _current = build_deps(get_settings())
    return _current


def reset_deps() -> None:
    """Forget the process's dependencies (tests and the local stack rebuild them with new settings)."""
    global _current
    _current = None
    get_settings.cache_clear()


_access: AccessPorts | None = None


def get_access() -> AccessPorts:
    """The process's stores of keys and workspaces, built on first use (as :func:`get_deps` builds the Deps)."""
    global _access
    if _access is None:
        from automations.bootstrap import build_access

        _access = build_access(get_settings())
    return _access
