"""The email side on the in-memory fakes: a queued request delivered, SES's events fed back, unsubscribe links,
for unit tests of the sending, feedback and unsubscribe services that run in milliseconds.

:class:`Mailroom` extends :class:`~tests.support.services.World` (the same fakes and services' Deps) with the
settings the sender needs (a sender address, the unsubscribe base URL and the secret that signs its tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from automations.engine.effects import EmailRequest
from automations.ports import WHOLE, EmailRecord, message_id_for
from automations.services import feedback, sending
from automations.services.feedback import FeedbackResult
from automations.settings import Settings

from tests.conftest import load_event
from tests.support.services import QUEUE, SENDER, World
from tests.support.settings import settings_with

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:automations-unsubscribe-AbCdEf"
SECRET = "s3cret-for-links"
BASE_URL = "https://api.acme.example/u"


def mail_settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "sender_address": SENDER,
        "email_queue_url": QUEUE,
        "unsubscribe_base_url": BASE_URL,
        "unsubscribe_secret_arn": SECRET_ARN,
    }
    return settings_with(**{**values, **changes})


def request(run_id: str = "run_1", **changes: Any) -> EmailRequest:
    """A transactional email of ``welcome`` (step ``hello``) to Ana."""
    fields: dict[str, Any] = {
        "workspace": "default",
        "automation_id": "welcome",
        "version": 1,
        "run_id": run_id,
        "step": "hello",
        "type": "transactional",
        "recipients": ("ana@example.com",),
        "subject": "Hello Ana",
        "html": "<p>Hello Ana</p>",
        "text": "Hello Ana",
        "person": "c_1",
    }
    fields.update(changes)
    return EmailRequest(**fields)


@dataclass
class Mailroom(World):
    settings: Settings = field(default_factory=mail_settings)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fakes.secrets.values[SECRET_ARN] = SECRET

    def send(self, email: EmailRequest) -> list[sending.Delivery]:
        """What send_email does with one queue message, now."""
        return sending.send_request(self.deps, email, self.now)

    def record(self, run_id: str = "run_1", address: str = "ana@example.com", step: str = "hello") -> EmailRecord:
        found = self.deps.messages.get(run_id, step, message_id_for(self.settings.workspace, run_id, step, address))
        assert found is not None, f"no record of {run_id}/{step}/{address}"
        return found

    def sent_to(self) -> list[str]:
        """The recipients the provider took, in order."""
        return [prepared.email.to for prepared in self.fakes.email_sender.sent]

    def ses_event(self, record: EmailRecord, kind: str, **detail: Any) -> str:
        """SES's event about one of the emails, as SNS delivers it (JSON)."""
        made = feedback.simulated_record(record, kind, self.now, sender=SENDER, detail=detail or None)
        return json.dumps(made)

    def sample_event(self, name: str, record: EmailRecord) -> str:
        """One of SES's documented samples (``tests/events``) about one of the emails, as SNS delivers it."""
        text = json.dumps(load_event(name))
        for placeholder, value in {
            "__AUTOMATION__": record.automation_id,
            "__RUN__": record.run_id,
            "__STEP__": record.step,
            "__MESSAGE__": record.message_id,
            "__SES_MESSAGE_ID__": record.ses_message_id or "ses-none",
            "__RECIPIENT__": record.address,
        }.items():
            text = text.replace(placeholder, value)
        return text

    def feed(self, *events: str) -> list[FeedbackResult]:
        """What stats_webhook does with SES's events, now, one after the other."""
        return [feedback.handle(self.deps, raw, self.now) for raw in events]

    def counted(self, automation_id: str = "welcome", step: str = WHOLE) -> dict[str, int]:
        """The counters of the automation (or one of its steps), every day summed; only the ones not 0."""
        return {name: value for name, value in self.deps.stats.read(automation_id)[step].items() if value}
