"""What a service receives: every port of the workspace (:class:`~automations.ports.Ports`, the clock included)
and the settings, built by :mod:`automations.bootstrap` (from the AWS adapters) or by a test (from fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from automations.language.loader import load_definition
from automations.language.model import Automation
from automations.ports import AccessPorts, Ports
from automations.settings import Settings, get_settings

#: How many parsed definitions a process keeps (versions never change, so any of them may be kept).
_PARSED_KEPT = 256


@dataclass(kw_only=True)
class Deps(Ports):
    """The ports and the settings of one workspace, as every service takes them."""

    settings: Settings
    _parsed: dict[tuple[str, int], Automation] = field(default_factory=dict)

    @classmethod
    def of(cls, ports: Ports, settings: Settings) -> Deps:
        """The services' dependencies over these ports."""
        return cls(**{port.name: getattr(ports, port.name) for port in fields(Ports)}, settings=settings)

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


def get_deps() -> Deps:
    """The process's dependencies, built on first use (not at import) from the settings read once.

    They are built by :func:`automations.bootstrap.build_deps`, the one place that builds adapters: the entry
    points (the handlers, the management API's routes) take them from here.
    """
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
