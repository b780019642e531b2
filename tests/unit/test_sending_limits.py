"""The sender's limits, without AWS: the pacer's spacing, the allowed senders (as IAM's StringLike matches
them), and the settings that carry both."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from automations.engine.email import sender_allowed
from automations.services.sending import Pacer
from automations.settings import Settings
from pydantic import ValidationError

from tests.support.settings import ENVIRON, settings_with


@dataclass
class FakeTime:
    now: float = 100.0
    slept: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)


def test_sends_are_spaced_by_the_interval_and_an_idle_pacer_does_not_wait() -> None:
    fake = FakeTime()
    pacer = Pacer(4.0, fake.clock, fake.sleep)
    assert pacer.interval == 0.25
    # Three sends at once: the first goes now, the next ones a quarter of a second apart
    assert [pacer.wait(), pacer.wait(), pacer.wait()] == [0.0, 0.25, 0.5]
    assert pacer.delay() == pytest.approx(0.75)
    # After a pause longer than the interval, the next send does not wait
    fake.now += 10
    assert pacer.wait() == 0.0 and pacer.delay() == pytest.approx(0.25)


def test_a_pacer_without_a_rate_never_waits() -> None:
    fake = FakeTime()
    pacer = Pacer(0.0, fake.clock, fake.sleep)
    assert [pacer.wait() for _ in range(5)] == [0.0] * 5 and fake.slept == []


def test_threads_of_one_process_share_the_pacer_slots() -> None:
    fake = FakeTime()
    pacer = Pacer(10.0, fake.clock, fake.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        waited = pacer.wait()
        with lock:
            waits.append(round(waited, 6))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every thread got its own slot: no two sends in the same tenth of a second
    assert sorted(waits) == [round(0.1 * n, 6) for n in range(8)]


@pytest.mark.parametrize(
    ("address", "patterns", "allowed"),
    [
        ("hello@acme.example", ["hello@acme.example"], True),
        ("Hello@acme.example", ["hello@acme.example"], False),  # IAM's StringLike is case-sensitive
        ("billing@acme.example", ["hello@acme.example"], False),
        ("spring@news.acme.example", ["*@news.acme.example"], True),
        ("spring@news.acme.example.evil", ["*@news.acme.example"], False),
        ("a@acme.example", ["?@acme.example"], True),
        ("ab@acme.example", ["?@acme.example"], False),
        ("x.y@acme.example", ["x.y@acme.example"], True),
        ("xzy@acme.example", ["x.y@acme.example"], False),  # a dot is a dot, not any character
        ("anyone@acme.example", [], False),
    ],
)
def test_allowed_senders_match_as_iam_string_like_does(address: str, patterns: list[str], allowed: bool) -> None:
    assert sender_allowed(address, patterns) is allowed


def test_the_senders_are_the_sender_address_then_the_allowed_senders() -> None:
    settings = settings_with(
        sender_address="hello@acme.example", allowed_senders=" billing@acme.example,,*@news.example "
    )
    assert settings.senders() == ("hello@acme.example", "billing@acme.example", "*@news.example")
    assert settings_with(sender_address="hello@acme.example").senders() == ("hello@acme.example",)


def test_sending_settings_are_read_from_the_environment_and_checked() -> None:
    environ = {**ENVIRON, "MAX_SEND_RATE": "0", "SENDING_CONCURRENCY": "2", "ALLOWED_SENDERS": "billing@acme.example"}
    settings = Settings.from_environ(environ)
    assert (settings.max_send_rate, settings.sending_concurrency) == (0.0, 2)
    assert settings.allowed_senders == "billing@acme.example"
    assert Settings.from_environ(ENVIRON).max_send_rate is None  # not set: not paced (tests, tools)
    with pytest.raises(ValidationError, match="MAX_SEND_RATE"):
        Settings.from_environ({**ENVIRON, "MAX_SEND_RATE": "-1"})
    with pytest.raises(ValidationError, match="SENDING_CONCURRENCY"):
        Settings.from_environ({**ENVIRON, "SENDING_CONCURRENCY": "0"})
