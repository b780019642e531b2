"""The workspaces' webhook signing secrets in Secrets Manager: one secret per workspace, named
``<prefix>/<workspace>``, whose value is the JSON of a :class:`~automations.ports.WebhookSecret`.

A secret is created by whoever needs it first (the webhook function, or the management API's
``GET /v1/webhook-secret``); it is read at most once per :data:`SECRET_MAX_AGE_SECONDS` by each process unless a
fresh value is asked for. Secrets made this way live outside the stack's template: deleting the stack leaves
them (docs/operations.md says how to remove them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from automations.ports import WebhookSecret

#: How long a process keeps a secret it read before reading it again (a rotation reaches every process by then;
#: the previous secret keeps signing for a day, so no receiver misses a webhook meanwhile).
SECRET_MAX_AGE_SECONDS = 300.0


def secret_name(prefix: str, workspace: str) -> str:
    return f"{prefix.rstrip('/')}/{workspace}"


@dataclass
class SecretsManagerWebhookSecrets:
    """:class:`automations.ports.WebhookSecretStore` of one workspace over Secrets Manager."""

    client: Callable[[], Any]
    prefix: str
    workspace: str
    max_age: float = SECRET_MAX_AGE_SECONDS
    _kept: dict[str, tuple[float, WebhookSecret]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return secret_name(self.prefix, self.workspace)

    def get(self, *, fresh: bool = False) -> WebhookSecret | None:
        kept = self._kept.get(self.name)
        if kept is not None and not fresh and kept[0] > time.monotonic():
            return kept[1]
        try:
            value = self.client().get_secret_value(SecretId=self.name)["SecretString"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return self._keep(WebhookSecret.from_json(json.loads(value)))

    def create(self, secret: WebhookSecret) -> WebhookSecret:
        try:
            self.client().create_secret(
                Name=self.name,
                SecretString=json.dumps(secret.as_json()),
                Description=f"Webhook signing secret of workspace {self.workspace}",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceExistsException":
                raise
            found = self.get(fresh=True)
            if found is None:
                raise
            return found
        return self._keep(secret)

    def put(self, secret: WebhookSecret) -> None:
        self.client().put_secret_value(SecretId=self.name, SecretString=json.dumps(secret.as_json()))
        self._keep(secret)

    def _keep(self, secret: WebhookSecret) -> WebhookSecret:
        self._kept[self.name] = (time.monotonic() + self.max_age, secret)
        return secret
