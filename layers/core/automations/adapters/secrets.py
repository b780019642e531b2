"""Secrets Manager through Powertools' parameters utility: each secret read once, then kept for a while."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from automations.ports import NotFoundError

#: How long a value read from Secrets Manager is kept before it is read again.
SECRET_MAX_AGE_SECONDS = 900


@dataclass
class SecretsManagerSecrets:
    """:class:`automations.ports.Secrets` over Secrets Manager (the process's cached Powertools provider)."""

    max_age: int = SECRET_MAX_AGE_SECONDS

    def get(self, arn: str) -> str:
        try:
            value = parameters.get_secret(arn, max_age=self.max_age)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ResourceNotFoundException":
                raise NotFoundError(f"no secret {arn!r}") from None
            raise
        return value.decode() if isinstance(value, bytes) else str(value)
