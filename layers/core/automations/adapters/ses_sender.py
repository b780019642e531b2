"""The email sender port over SES v2 (:mod:`automations.adapters.ses` builds and classifies each request)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations.adapters import ses
from automations.ports import OutgoingEmail, PreparedEmail


@dataclass
class SesEmailSender:
    """:class:`automations.ports.EmailSender` over SES v2: one attempt per send (see :mod:`~automations.adapters.ses`).

    The ``sesv2`` client (and the ``ses`` one that reads the account's quota) is made on first use, once (by one
    thread: boto3's default session is not thread-safe).
    """

    make_client: Callable[[], Any]
    make_quota_client: Callable[[], Any] | None = None
    call_seconds: float = ses.CALL_SECONDS
    _client: Any = field(default=None, init=False, repr=False)
    _quota_client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self.make_client()
        return self._client

    @property
    def quota_client(self) -> Any:
        if self._quota_client is None:
            if self.make_quota_client is None:
                raise LookupError("this sender was built without a client for the account's quota")
            with self._lock:
                if self._quota_client is None:
                    self._quota_client = self.make_quota_client()
        return self._quota_client

    def prepare(self, email: OutgoingEmail, now: datetime) -> PreparedEmail:
        return PreparedEmail(email, ses.prepare(email, now))

    def submit(self, prepared: PreparedEmail) -> str:
        return ses.submit(self.client, prepared.request)

    def max_send_rate(self) -> float:
        return ses.account_send_rate(self.quota_client)
