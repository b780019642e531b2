"""The webhook HTTP client against a real receiver on 127.0.0.1: outcomes, limits, and what it refuses to reach.

Nothing here needs the internet: receivers listen on the loopback address (the client allows it as the local
stack does), and host names are resolved by a stand-in for :func:`socket.getaddrinfo`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from automations.adapters import webhook_http
from automations.adapters.webhook_http import (
    RESERVED_HEADERS,
    WebhookHttpClient,
    WebhookRefusedError,
    address_problem,
    check_headers,
    check_url,
    post,
)
from automations.errors import AutomationsError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BODY = b'{"event": "quote.requested", "id": 7}'
#: The local stack's client, with short timeouts so that the slow cases stay fast.
LOCAL = WebhookHttpClient(allow_loopback_http=True, connect_timeout=1.0, total_timeout=0.5)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: what it answers on each path, and each request it got."""

    port: int
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server_names: list[str | None] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: bytes, content_type: str = "application/json", **extra: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Internal", "not kept")
            for name, value in extra.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def handle_request(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            receiver.requests.append(received)
            route = self.path.split("?", 1)[0]
            if route == "/ok":
                self.answer(200, json.dumps({"received": True, "id": 42}).encode())
            elif route == "/echo":
                self.answer(201, json.dumps({"host": received.headers.get("Host"), "path": self.path}).encode())
            elif route == "/text":
                self.answer(202, b"thanks", "text/plain")
            elif route == "/empty":
                self.send_response(204)
                self.end_headers()
            elif route == "/unavailable":
                self.answer(503, b'{"error": "down"}')
            elif route == "/busy":
                self.answer(429, b"slow down", "text/plain", Retry_After="120")
            elif route == "/bad":
                self.answer(400, b'{"error": "no such quote"}')
            elif route == "/gone":
                self.answer(410, b"")
            elif route == "/redirect":
                self.answer(302, b"", Location=receiver.url("/ok"))
            elif route == "/large":
                self.answer(200, b'"' + b"a" * 100_000 + b'"')
            elif route == "/exact":
                self.answer(200, b"b" * webhook_http.MAX_RESPONSE_BYTES, "text/plain")
            elif route == "/deep":
                self.answer(200, b"[" * 1000 + b"]" * 1000)
            elif route == "/nan":
                self.answer(200, b'{"value": NaN}')
            elif route == "/slow":
                receiver.release.wait(5)
                self.answer(200, b"{}")
            elif route == "/drip":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    if receiver.release.wait(0.05):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
            elif route == "/hangup":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.answer(404, b"")

        do_POST = do_PUT = do_PATCH = do_GET = handle_request

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def _serve(receiver: Receiver, server: ThreadingHTTPServer) -> Iterator[Receiver]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(port=0)
    server = _Server(("127.0.0.1", 0), _handler(receiver))
    receiver.port = server.server_address[1]
    yield from _serve(receiver, server)


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path


def _certificate(tmp_path: Path, name: str) -> Certificate:
    """A self-signed certificate for one DNS name."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "receiver.pem", tmp_path / "receiver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(cert_file, key_file)


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Certificate]]:
    """A receiver over TLS on 127.0.0.1 whose certificate names hooks.example.com; it notes each SNI name."""
    certificate = _certificate(tmp_path, "hooks.example.com")
    receiver = Receiver(port=0)
    server = _Server(("127.0.0.1", 0), _handler(receiver))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)

    def note_name(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        receiver.server_names.append(name)

    context.sni_callback = note_name
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    for served in _serve(receiver, server):
        yield served, certificate


Resolved = dict[str, list[list[str]]]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Resolved:
    """Names resolved by a stand-in for getaddrinfo: each name's answers, one list per lookup, the last one
    repeated; address literals and other names go to the real getaddrinfo (which needs no network for
    literals). The lookups made are noted under ``"lookups"``."""
    answers: Resolved = {"lookups": []}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return real(host, port, *args, **kwargs)
        answers["lookups"].append([name])
        queue = answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        out: list[tuple[Any, ...]] = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if ip.version == 4:
                out.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)))
            else:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# --- outcomes -----------------------------------------------------------------------------------------------


def test_a_2xx_is_delivered_with_its_json_body_and_the_request_as_given(receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/ok?quote=7"), {"X-Source": "automations", "webhook-id": "r:s"}, BODY)
    assert result.outcome == "delivered" and result.ok and not result.retryable and not result.refused
    assert result.status == 200
    assert result.body == {"received": True, "id": 42} and result.is_json and not result.truncated
    assert result.headers == {"content-type": "application/json"}
    assert result.reason == ""
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/ok?quote=7", BODY)
    assert request.headers["X-Source"] == "automations"
    assert request.headers["webhook-id"] == "r:s"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["Content-Length"] == str(len(BODY))
    assert request.headers["User-Agent"] == webhook_http.USER_AGENT


def test_put_and_patch_are_sent_and_other_methods_refused(receiver: Receiver) -> None:
    for method in ("PUT", "patch"):
        assert LOCAL.post(receiver.url("/ok"), {}, BODY, method=method).ok
    assert [request.method for request in receiver.requests] == ["PUT", "PATCH"]
    for method in ("GET", "DELETE", "POST\r\nX: y"):
        result = LOCAL.post(receiver.url("/ok"), {}, BODY, method=method)
        assert result.refused and result.outcome == "failed"
    assert len(receiver.requests) == 2


def test_text_and_empty_bodies(receiver: Receiver) -> None:
    text = LOCAL.post(receiver.url("/text"), {}, BODY)
    assert (text.outcome, text.status, text.body, text.is_json) == ("delivered", 202, "thanks", False)
    assert text.headers == {"content-type": "text/plain"}
    empty = LOCAL.post(receiver.url("/empty"), {}, BODY)
    assert (empty.outcome, empty.status, empty.body) == ("delivered", 204, None)


@pytest.mark.parametrize(("path", "status"), [("/unavailable", 503), ("/busy", 429)])
def test_5xx_and_429_are_retried(receiver: Receiver, path: str, status: int) -> None:
    result = LOCAL.post(receiver.url(path), {}, BODY)
    assert result.outcome == "retry" and result.retryable and not result.ok
    assert result.status == status
    assert str(status) in result.reason


def test_429_keeps_retry_after(receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/busy"), {}, BODY)
    assert result.headers == {"content-type": "text/plain", "retry-after": "120"}
    assert result.body == "slow down"


@pytest.mark.parametrize(("path", "status"), [("/bad", 400), ("/gone", 410), ("/nowhere", 404)])
def test_other_4xx_fail_at_once(receiver: Receiver, path: str, status: int) -> None:
    result = LOCAL.post(receiver.url(path), {}, BODY)
    assert result.outcome == "failed" and not result.retryable and not result.refused
    assert result.status == status
    if path == "/bad":
        assert result.body == {"error": "no such quote"}


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/redirect"), {}, BODY)
    assert result.outcome == "failed" and not result.retryable
    assert result.status == 302
    assert result.headers["location"] == receiver.url("/ok")
    assert "redirect" in result.reason
    assert [request.path for request in receiver.requests] == ["/redirect"]


def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver) -> None:
    started = time.monotonic()
    result = LOCAL.post(receiver.url("/slow"), {}, BODY)
    assert time.monotonic() - started < 2
    assert result.outcome == "retry" and result.status is None
    assert "timed out" in result.reason


def test_the_total_time_holds_however_slowly_the_body_trickles(receiver: Receiver) -> None:
    started = time.monotonic()
    result = LOCAL.post(receiver.url("/drip"), {}, BODY)
    assert time.monotonic() - started < 2
    assert result.outcome == "retry"
    assert result.reason == "timed out after 0.5 s"


def test_a_receiver_that_hangs_up_is_retried(receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/hangup"), {}, BODY)
    assert result.outcome == "retry" and result.status is None
    assert "connection" in result.reason


def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = LOCAL.post(f"http://127.0.0.1:{port}/ok", {}, BODY)
    assert result.outcome == "retry" and result.status is None
    assert result.reason.startswith("could not connect")


def test_a_name_that_does_not_resolve_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    result = post("https://hooks.example.com/x", {}, BODY)
    assert result.outcome == "retry"
    assert result.reason.startswith("the host did not resolve")


def test_a_large_body_is_cut_at_64_kb(receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/large"), {}, BODY)
    assert result.ok and result.truncated and not result.is_json
    assert isinstance(result.body, str)
    assert len(result.body.encode()) == webhook_http.MAX_RESPONSE_BYTES == 64 * 1024
    assert result.body.startswith('"aaa')
    exact = LOCAL.post(receiver.url("/exact"), {}, BODY)
    assert exact.ok and not exact.truncated and len(exact.body) == 64 * 1024


def test_json_too_deep_or_with_nan_is_kept_as_text(receiver: Receiver) -> None:
    deep = LOCAL.post(receiver.url("/deep"), {}, BODY)
    assert deep.ok and not deep.is_json and deep.body.startswith("[[[")
    nan = LOCAL.post(receiver.url("/nan"), {}, BODY)
    assert nan.ok and not nan.is_json and nan.body == '{"value": NaN}'


def test_the_production_defaults() -> None:
    client = WebhookHttpClient()
    assert (client.connect_timeout, client.total_timeout) == (3.0, 10.0)
    assert not client.allow_loopback_http
    assert client.max_body == 64 * 1024


# --- where a webhook may not go -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.0.0.1/hook", "private"),
        ("https://172.16.5.4/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.1.2.3:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("https://169.254.10.10/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://100.127.255.254/", "carrier-grade NAT"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://240.0.0.1/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("https://[2002:a00:1::]/", "private"),
    ],
)
def test_addresses_inside_are_refused(url: str, why: str) -> None:
    result = post(url, {}, BODY)
    assert result.refused and result.outcome == "failed" and not result.retryable
    assert result.status is None
    assert result.reason.startswith("refused: ")
    assert why in result.reason
    assert check_url(url) and why in check_url(url)[0]


@pytest.mark.parametrize("url", ["https://2130706433/", "https://0x7f.1/", "https://127.1/"])
def test_other_notations_of_loopback_are_refused_once_resolved(url: str) -> None:
    # The real getaddrinfo turns these numeric forms into 127.0.0.1 without a DNS query
    result = post(url, {}, BODY)
    assert result.refused
    assert "127.0.0.1, a loopback address" in result.reason


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "https://"),
        ("ftp://example.com/hook", "https://"),
        ("//example.com/hook", "https://"),
        ("hooks.example.com/x", "https://"),
        ("https://user:secret@example.com/hook", "user name or password"),
        ("https:///hook", "no host"),
        ("https://example.com:99999/", "not valid"),
        ("https://example.com:0/", "not valid"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/a\r\nHost: evil", "line breaks"),
        ("", "non-empty"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(url: str, why: str) -> None:
    result = post(url, {}, BODY)
    assert result.refused
    assert why in result.reason
    assert why in check_url(url)[0]


def test_public_https_urls_pass_the_static_check() -> None:
    assert check_url("https://crm.example.com/hooks/quote?id=7") == []
    assert check_url("https://93.184.216.34:8443/x") == []
    assert check_url("https://[2606:2800:220:1::1]/x") == []
    assert check_url("http://127.0.0.1:3000/x", allow_loopback_http=True) == []
    assert check_url("http://10.0.0.1/x", allow_loopback_http=True)


def test_a_name_resolving_inside_is_refused_without_connecting(dns: Resolved, receiver: Receiver) -> None:
    dns["hooks.example.com"] = [["10.1.2.3"]]
    result = post(f"https://hooks.example.com:{receiver.port}/ok", {}, BODY)
    assert result.refused and "resolves to 10.1.2.3, a private address" in result.reason
    # Even the local stack's client refuses it: only loopback is allowed there
    assert LOCAL.post(f"https://hooks.example.com:{receiver.port}/ok", {}, BODY).refused
    assert receiver.requests == []


def test_one_address_inside_among_public_ones_refuses_the_whole_request(dns: Resolved) -> None:
    dns["hooks.example.com"] = [["93.184.216.34", "169.254.169.254", "2606:2800:220:1::1"]]
    result = post("https://hooks.example.com/ok", {}, BODY)
    assert result.refused and "169.254.169.254, an instance metadata address" in result.reason


def test_the_name_is_resolved_once_and_the_address_checked_is_the_one_connected(
    dns: Resolved, receiver: Receiver
) -> None:
    # DNS rebinding: the first answer passes the check, any later one would reach inside
    dns["hooks.example.com"] = [["127.0.0.1"], ["10.1.2.3"]]
    result = LOCAL.post(f"http://hooks.example.com:{receiver.port}/echo", {}, BODY)
    assert result.ok, result.reason
    assert dns["lookups"] == [["hooks.example.com"]]
    # The receiver got the name in the Host header
    assert result.body == {"host": f"hooks.example.com:{receiver.port}", "path": "/echo"}


def test_plain_http_is_allowed_to_loopback_only_and_only_when_the_stack_allows_it(
    dns: Resolved, receiver: Receiver
) -> None:
    assert post(receiver.url("/ok"), {}, BODY).refused
    assert LOCAL.post(receiver.url("/ok"), {}, BODY).ok
    assert LOCAL.post(f"http://[::ffff:127.0.0.1]:{receiver.port}/ok", {}, BODY).ok
    dns["hooks.example.com"] = [["93.184.216.34"]]
    result = LOCAL.post("http://hooks.example.com/ok", {}, BODY)
    assert result.refused and "loopback address only" in result.reason
    dns["localhost"] = [["127.0.0.1", "::1"]]
    assert "a loopback address" in post("https://localhost/ok", {}, BODY).reason


def test_a_name_with_no_address_is_refused(dns: Resolved) -> None:
    dns["hooks.example.com"] = [[]]
    result = post("https://hooks.example.com/ok", {}, BODY)
    assert result.refused and "no IPv4 or IPv6 address" in result.reason


# --- TLS to the address checked, with the name ----------------------------------------------------------------


def test_tls_goes_to_the_resolved_address_with_the_name_for_sni_and_the_certificate(
    dns: Resolved, tls_receiver: tuple[Receiver, Certificate]
) -> None:
    receiver, certificate = tls_receiver
    dns["hooks.example.com"] = [["127.0.0.1"], ["10.1.2.3"]]
    client = WebhookHttpClient(
        allow_loopback_http=True, connect_timeout=1.0, total_timeout=2.0, ca_certs=str(certificate.cert_file)
    )
    result = client.post(f"https://hooks.example.com:{receiver.port}/echo?x=1", {}, BODY)
    assert result.ok, result.reason
    assert result.body == {"host": f"hooks.example.com:{receiver.port}", "path": "/echo?x=1"}
    assert receiver.server_names == ["hooks.example.com"]
    assert dns["lookups"] == [["hooks.example.com"]]


def test_a_certificate_for_another_name_fails_tls(dns: Resolved, tls_receiver: tuple[Receiver, Certificate]) -> None:
    receiver, certificate = tls_receiver
    dns["other.example.com"] = [["127.0.0.1"]]
    client = WebhookHttpClient(
        allow_loopback_http=True, connect_timeout=1.0, total_timeout=2.0, ca_certs=str(certificate.cert_file)
    )
    result = client.post(f"https://other.example.com:{receiver.port}/ok", {}, BODY)
    assert result.outcome == "retry"
    assert result.reason.startswith("TLS failed")
    assert receiver.requests == []


def test_an_untrusted_certificate_fails_tls(dns: Resolved, tls_receiver: tuple[Receiver, Certificate]) -> None:
    receiver, _ = tls_receiver
    dns["hooks.example.com"] = [["127.0.0.1"]]
    client = WebhookHttpClient(allow_loopback_http=True, connect_timeout=1.0, total_timeout=2.0)
    result = client.post(f"https://hooks.example.com:{receiver.port}/ok", {}, BODY)
    assert result.outcome == "retry" and result.reason.startswith("TLS failed")
    assert receiver.requests == []


# --- headers ------------------------------------------------------------------------------------------------


def test_ordinary_headers_pass() -> None:
    assert check_headers({"X-Source": "automations", "Authorization": "Bearer abc", "Content-Type": "x/y"}) == []
    assert check_headers({}) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Source": "a\r\nX-Injected: 1"},
        {"X-Source": "a\nb"},
        {"X-Source": "a\rb"},
        {"X-Bad\r\nName": "a"},
    ],
)
def test_line_breaks_are_refused(headers: dict[str, str], receiver: Receiver) -> None:
    problems = check_headers(headers)
    assert len(problems) == 1
    assert "line break" in problems[0] or "not a valid HTTP header name" in problems[0]
    result = LOCAL.post(receiver.url("/ok"), headers, BODY)
    assert result.refused and result.outcome == "failed"
    assert receiver.requests == []


@pytest.mark.parametrize("name", sorted(RESERVED_HEADERS))
def test_reserved_names_are_refused_whatever_their_case(name: str) -> None:
    for spelled in (name, name.upper(), name.title()):
        [problem] = check_headers({spelled: "x"})
        assert "set by the product" in problem


def test_the_named_reserved_headers_are_all_there() -> None:
    named = {"host", "content-length", "transfer-encoding", "connection"}
    named |= {"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"}
    assert named <= RESERVED_HEADERS


def test_other_header_problems() -> None:
    assert "control character" in check_headers({"X-A": "a\x00b"})[0]
    assert "not a valid HTTP header name" in check_headers({"X A": "b"})[0]
    assert "not a valid HTTP header name" in check_headers({"": "b"})[0]
    assert "given twice" in check_headers({"X-A": "1", "x-a": "2"})[0]
    assert "Latin-1" in check_headers({"X-A": "\u2603"})[0]
    assert check_headers({"X-A": "Zoë\tand tab"}) == []
    assert "longer than" in check_headers({"X-A": "a" * 9000})[0]
    assert "at most" in check_headers({f"X-{i}": "v" for i in range(51)})[0]
    assert "not text" in check_headers({"X-A": 1})[0]  # type: ignore[dict-item]


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "Connection"])
def test_post_refuses_transport_headers(name: str, receiver: Receiver) -> None:
    result = LOCAL.post(receiver.url("/ok"), {name: "1"}, BODY)
    assert result.refused and "set by the product" in result.reason
    assert receiver.requests == []


def test_post_sends_the_signature_headers_it_is_given(receiver: Receiver) -> None:
    signed = {
        "webhook-id": "run:step",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1,abc=",
        "Idempotency-Key": "run:step",
        "content-type": "application/json",
    }
    assert LOCAL.post(receiver.url("/ok"), signed, BODY).ok
    [request] = receiver.requests
    assert {name: request.headers[name] for name in signed} == signed


def test_the_refused_error_is_typed() -> None:
    assert issubclass(WebhookRefusedError, AutomationsError)
    assert address_problem(ipaddress.ip_address("93.184.216.34")) is None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_problem(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) == "a private address"
