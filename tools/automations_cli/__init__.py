"""The ``automations`` command: validate definitions locally, and manage automations through the API."""

from automations_cli.main import app

__all__ = ["app"]
