"""shared.webhooks.sender: one POST, pinned to the vetted address, within one deadline, never raising.

A real ``ThreadingHTTPServer`` on 127.0.0.1 (an ephemeral port) stands in for the receiver; each
test steers its answer and reads back what it received. The host name in every ``VettedUrl`` is
``receiver.example``, which does not resolve: a request arriving at all shows the connection went
to the vetted address. Handlers that wait, wait on an event the fixture sets at teardown, so no
thread outlives its test.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.webhooks import sender
from shared.webhooks.sender import MAX_RETRY_AFTER_S, RESPONSE_BODY_BYTES, Outcome, parse_retry_after
from shared.webhooks.urls import VettedUrl

HOST = "receiver.example"
BODY = b'{"type":"ticket.created","data":{"id":"TCK-42","title":"Caf\xc3\xa9"}}'
HEADERS = {
    "webhook-id": "msg_0190b2a3c4d5e6f7",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}
SHORT_TIMEOUT_S = 0.3
# Upper bound for anything that should end at SHORT_TIMEOUT_S: generous, for loaded CI machines.
TIMEOUT_CEILING_S = 2.5

Respond = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Received:
    method: str
    path: str
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    respond: Respond | None = None
    requests: list[Received] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # e.g. the client leaving mid-response
    server_names: list[str | None] = field(default_factory=list)  # SNI, for TLS
    release: threading.Event = field(default_factory=threading.Event)  # set at teardown


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # no handler waits on a silent client past teardown
    server: Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver.requests.append(Received(self.command, self.path, self.headers, body))
        (receiver.respond or reply(200, b"ok"))(self)

    do_GET = do_POST  # a followed redirect would show up

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close joins the handlers' threads

    def __init__(self, receiver: Receiver, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.receiver = receiver
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        # The handshake runs in the handler's thread (finish_request), not the accepting one.
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(5)
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.receiver.errors.append(error)


def reply(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if status not in (204, 304):
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def serve(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    receiver = Receiver()
    server = Server(receiver, tls)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
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
    yield from serve()


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused (no race for a closed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def vetted(
    port: int,
    *,
    host: str = HOST,
    scheme: str = "http",
    addresses: tuple[str, ...] = ("127.0.0.1",),
    path_and_query: str = "/hook?x=1",
) -> VettedUrl:
    return VettedUrl(
        url=f"{scheme}://{host}:{port}{path_and_query}",
        scheme=scheme,
        host=host,
        port=port,
        path_and_query=path_and_query,
        addresses=addresses,
    )


def timed_post(url: VettedUrl, *, timeout_s: float = sender.DEFAULT_TIMEOUT_S) -> tuple[Outcome, float]:
    started = time.monotonic()
    outcome = sender.post(url, BODY, HEADERS, timeout_s=timeout_s)
    return outcome, time.monotonic() - started


# --- delivery ------------------------------------------------------------------------------------


def test_a_2xx_succeeds_and_the_request_arrives_as_sent(receiver: Receiver) -> None:
    receiver.respond = reply(200, b'{"received": true}')
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)

    assert outcome.succeeded
    assert outcome.status == 200
    assert outcome.body == '{"received": true}'
    assert outcome.error is None
    assert outcome.retry_after_s is None
    assert outcome.address == "127.0.0.1"
    assert 0 <= outcome.latency_ms < 5000

    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook?x=1", BODY)
    for name, value in HEADERS.items():
        assert request.headers.get_all(name) == [value]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Ticketing-Webhooks/1.0"
    assert request.headers["Content-Length"] == str(len(BODY))


def test_the_connection_is_pinned_and_host_is_the_vetted_name(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[object] = []

    def no_dns(*args: object, **kwargs: object) -> object:
        looked_up.append(args)
        raise AssertionError("the sender resolved a name")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)

    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)

    assert outcome.succeeded, outcome
    assert looked_up == []
    [request] = receiver.requests
    assert request.headers.get_all("Host") == [f"{HOST}:{receiver.port}"]


def test_an_ipv6_literal_host_is_bracketed_in_host(receiver: Receiver) -> None:
    outcome = sender.post(vetted(receiver.port, host="2001:db8::1"), BODY, HEADERS)
    assert outcome.succeeded, outcome
    assert receiver.requests[0].headers["Host"] == f"[2001:db8::1]:{receiver.port}"


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("https", HOST, 443, HOST),
        ("http", HOST, 80, HOST),
        ("https", HOST, 80, f"{HOST}:80"),
        ("http", HOST, 8443, f"{HOST}:8443"),
        ("https", "2001:db8::1", 443, "[2001:db8::1]"),
        ("https", "2001:db8::1", 8443, "[2001:db8::1]:8443"),
        ("https", "93.184.215.14", 443, "93.184.215.14"),
    ],
)
def test_host_header_has_the_port_only_when_not_the_default(
    scheme: str, host: str, port: int, expected: str
) -> None:
    assert sender.host_header(vetted(port, scheme=scheme, host=host)) == expected


def test_a_given_content_type_is_kept_and_connection_headers_are_ours(receiver: Receiver) -> None:
    given = {
        "Content-Type": "application/cloudevents+json",
        "Host": "evil.internal",
        "content-length": "1",
        "User-Agent": "curl/8",
    }
    outcome = sender.post(vetted(receiver.port), BODY, given)
    assert outcome.succeeded, outcome
    [request] = receiver.requests
    assert request.headers.get_all("Content-Type") == ["application/cloudevents+json"]
    assert request.headers.get_all("Host") == [f"{HOST}:{receiver.port}"]
    assert request.headers.get_all("Content-Length") == [str(len(BODY))]
    assert request.headers.get_all("User-Agent") == ["Ticketing-Webhooks/1.0"]
    assert request.body == BODY


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_statuses_succeed(receiver: Receiver, status: int) -> None:
    receiver.respond = reply(status)
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert (outcome.status, outcome.succeeded, outcome.error, outcome.body) == (status, True, None, "")


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirects_are_outcomes_and_never_followed(receiver: Receiver, status: int) -> None:
    location = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.respond = reply(status, b"moved", (("Location", location),))
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert (outcome.status, outcome.succeeded, outcome.error) == (status, False, None)
    # A followed redirect would have been recorded before post returned (the receiver records a
    # request before answering it).
    assert [r.path for r in receiver.requests] == ["/hook?x=1"]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 413, 500, 502, 503])
def test_4xx_and_5xx_do_not_succeed(receiver: Receiver, status: int) -> None:
    receiver.respond = reply(status, b"nope")
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert (outcome.status, outcome.succeeded, outcome.error, outcome.body) == (status, False, None, "nope")


def test_outcome_succeeded_is_2xx_only() -> None:
    def outcome(status: int | None) -> Outcome:
        return Outcome(status, 1, "", None if status else "connect: refused", None, None)

    assert [outcome(s).succeeded for s in (None, 100, 199, 200, 250, 299, 300, 404)] == [
        False,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]


# --- the response body -----------------------------------------------------------------------------


def test_a_large_body_is_cut_to_1024_bytes(receiver: Receiver) -> None:
    large = bytes(ord("a") + i % 26 for i in range(64 * 1024))
    receiver.respond = reply(200, large)
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.succeeded
    assert RESPONSE_BODY_BYTES == 1024
    assert outcome.body == large[:1024].decode()


def test_a_chunked_body_is_cut_to_1024_bytes(receiver: Receiver) -> None:
    chunks = [bytes([ord("a") + n]) * 300 for n in range(10)]

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(500)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in chunks:
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    receiver.respond = respond
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.status == 500
    assert outcome.body == b"".join(chunks)[:1024].decode()


def test_a_large_body_is_not_drained(receiver: Receiver) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(100 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"x" * 8192)
        receiver.release.wait(10)  # the other 100 MB never come

    receiver.respond = respond
    outcome, elapsed = timed_post(vetted(receiver.port), timeout_s=5.0)
    assert (outcome.status, outcome.body) == (200, "x" * 1024)
    assert elapsed < TIMEOUT_CEILING_S


def test_the_body_is_decoded_leniently(receiver: Receiver) -> None:
    # The cut falls inside the two bytes of "é"; invalid bytes become U+FFFD too.
    receiver.respond = reply(400, b"\xff" + b"a" * 1022 + "é".encode() + b"tail")
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.body == "\ufffd" + "a" * 1022 + "\ufffd"


# --- time limits ---------------------------------------------------------------------------------


def test_a_slow_receiver_times_out_within_the_limit(receiver: Receiver) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        if not receiver.release.wait(10):
            reply(200)(handler)

    receiver.respond = respond
    outcome, elapsed = timed_post(vetted(receiver.port), timeout_s=SHORT_TIMEOUT_S)
    assert outcome.status is None and not outcome.succeeded
    assert outcome.error is not None and outcome.error.startswith("timeout: ")
    assert "while waiting for the response" in outcome.error
    assert outcome.address == "127.0.0.1"
    assert SHORT_TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_CEILING_S
    assert SHORT_TIMEOUT_S * 1000 - 50 <= outcome.latency_ms < TIMEOUT_CEILING_S * 1000


def test_a_trickling_status_line_still_hits_the_overall_deadline(receiver: Receiver) -> None:
    # Each byte comes well within the limit; all of them together do not.
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def respond(handler: BaseHTTPRequestHandler) -> None:
        for byte in response:
            if receiver.release.wait(0.05):
                return
            handler.wfile.write(bytes([byte]))

    receiver.respond = respond
    outcome, elapsed = timed_post(vetted(receiver.port), timeout_s=SHORT_TIMEOUT_S)
    assert outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("timeout: ")
    assert SHORT_TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_CEILING_S


def test_a_trickling_body_is_cut_at_the_deadline_and_the_status_stands(receiver: Receiver) -> None:
    content = b"0123456789" * 10

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        for byte in content:
            if receiver.release.wait(0.05):
                return
            handler.wfile.write(bytes([byte]))

    receiver.respond = respond
    outcome, elapsed = timed_post(vetted(receiver.port), timeout_s=SHORT_TIMEOUT_S)
    assert (outcome.status, outcome.succeeded, outcome.error) == (200, True, None)
    assert 0 < len(outcome.body) < len(content)
    assert content.decode().startswith(outcome.body)
    assert SHORT_TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_CEILING_S


def test_a_silent_server_times_out_waiting_for_the_response(silent_port: int) -> None:
    outcome, elapsed = timed_post(vetted(silent_port), timeout_s=SHORT_TIMEOUT_S)
    assert outcome.status is None
    assert (
        outcome.error == f"timeout: no response within {SHORT_TIMEOUT_S} s (while waiting for the response)"
    )
    assert elapsed < TIMEOUT_CEILING_S


def test_a_silent_server_times_out_in_the_tls_handshake(silent_port: int) -> None:
    outcome, elapsed = timed_post(vetted(silent_port, scheme="https"), timeout_s=SHORT_TIMEOUT_S)
    assert outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("timeout: ")
    assert "during the TLS handshake" in outcome.error
    assert elapsed < TIMEOUT_CEILING_S


# --- connection failures -----------------------------------------------------------------------------


def test_a_refused_connection_is_an_error_outcome(refusing_port: int) -> None:
    outcome, elapsed = timed_post(vetted(refusing_port))
    assert (outcome.status, outcome.succeeded, outcome.address, outcome.retry_after_s) == (
        None,
        False,
        None,
        None,
    )
    assert outcome.error == f"connect: Connection refused at 127.0.0.1 port {refusing_port}"
    assert elapsed < TIMEOUT_CEILING_S


def test_the_next_address_is_tried_when_connecting_to_the_first_fails(receiver: Receiver) -> None:
    # The receiver listens on 127.0.0.1 only, so 127.0.0.2 (loopback too) refuses the same port.
    outcome = sender.post(vetted(receiver.port, addresses=("127.0.0.2", "127.0.0.1")), BODY, HEADERS)
    assert outcome.succeeded, outcome
    assert outcome.address == "127.0.0.1"
    assert len(receiver.requests) == 1


def test_when_every_address_refuses_the_error_says_so(refusing_port: int) -> None:
    outcome = sender.post(vetted(refusing_port, addresses=("127.0.0.2", "127.0.0.1")), BODY, HEADERS)
    assert outcome.status is None
    assert outcome.error == (
        f"connect: Connection refused at 127.0.0.1 port {refusing_port} (and 1 other address)"
    )


def test_no_response_at_all_is_a_protocol_error(receiver: Receiver) -> None:
    def hang_up(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True

    receiver.respond = hang_up
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.status is None
    assert outcome.error == "protocol: Remote end closed connection without response"


def test_a_response_that_is_not_http_is_a_protocol_error(receiver: Receiver) -> None:
    def garbage(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        handler.close_connection = True

    receiver.respond = garbage
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("protocol: ")
    assert len(outcome.error) <= 220


def test_programming_errors_raise() -> None:
    with pytest.raises(ValueError, match="at least one address"):
        sender.post(vetted(1, addresses=()), BODY, HEADERS)
    with pytest.raises(ValueError):
        sender.post(vetted(1, addresses=("receiver.example",)), BODY, HEADERS)
    with pytest.raises(ValueError, match="positive"):
        sender.post(vetted(1), BODY, HEADERS, timeout_s=0)


# --- Retry-After ---------------------------------------------------------------------------------


def test_retry_after_in_seconds_from_a_429(receiver: Receiver) -> None:
    receiver.respond = reply(429, b"slow down", (("Retry-After", "120"),))
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert (outcome.status, outcome.succeeded, outcome.retry_after_s) == (429, False, 120.0)


def test_retry_after_as_an_http_date_from_a_503(receiver: Receiver) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    receiver.respond = reply(503, b"", (("Retry-After", email.utils.format_datetime(when, usegmt=True)),))
    outcome = sender.post(vetted(receiver.port), BODY, HEADERS)
    assert outcome.status == 503
    assert outcome.retry_after_s is not None
    assert 80 <= outcome.retry_after_s <= 90


def test_retry_after_is_kept_whatever_the_status(receiver: Receiver) -> None:
    receiver.respond = reply(200, b"", (("Retry-After", "5"),))
    assert sender.post(vetted(receiver.port), BODY, HEADERS).retry_after_s == 5.0
    receiver.respond = reply(503, b"", (("Retry-After", "soon"),))
    assert sender.post(vetted(receiver.port), BODY, HEADERS).retry_after_s is None


NOW = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("007", 7.0),
        ("-1", None),
        ("+5", None),
        ("1.5", None),
        ("1e3", None),
        ("5 6", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are not DIGIT
        ("soon", None),
        ("86400", MAX_RETRY_AFTER_S),
        ("86401", MAX_RETRY_AFTER_S),
        ("9" * 5000, MAX_RETRY_AFTER_S),
        ("0" * 20 + "5", 5.0),
        ("Sun, 01 Jun 2025 12:01:30 GMT", 90.0),  # IMF-fixdate
        ("Sunday, 01-Jun-25 12:01:30 GMT", 90.0),  # obsolete RFC 850
        ("Sun Jun  1 12:01:30 2025", 90.0),  # obsolete asctime
        ("Sun, 01 Jun 2025 11:59:00 GMT", 0.0),  # past
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER_S),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_retry_after("5", now=dt.datetime(2025, 6, 1))


# --- TLS -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert_pem: bytes
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for receiver.example."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(cert_pem, directory / "cert.pem", directory / "key.pem")


@pytest.fixture
def tls_receiver(certificate: Certificate) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    names: list[str | None] = []

    def record_server_name(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = record_server_name
    for receiver in serve(context):
        receiver.server_names = names
        yield receiver


@pytest.fixture
def trusting(certificate: Certificate) -> ssl.SSLContext:
    """A client context that trusts the receiver's certificate (and checks the host name)."""
    return ssl.create_default_context(cadata=certificate.cert_pem.decode())


def test_https_with_a_trusted_certificate_succeeds(tls_receiver: Receiver, trusting: ssl.SSLContext) -> None:
    tls_receiver.respond = reply(201, b"created")
    outcome = sender.post(vetted(tls_receiver.port, scheme="https"), BODY, HEADERS, ssl_context=trusting)
    assert (outcome.status, outcome.succeeded, outcome.body, outcome.error) == (201, True, "created", None)
    assert tls_receiver.server_names == [HOST]  # SNI is the host name, not the address
    [request] = tls_receiver.requests
    assert request.body == BODY
    assert request.headers["Host"] == f"{HOST}:{tls_receiver.port}"


def test_https_with_the_default_context_refuses_a_self_signed_certificate(tls_receiver: Receiver) -> None:
    outcome = sender.post(vetted(tls_receiver.port, scheme="https"), BODY, HEADERS)
    assert (outcome.status, outcome.succeeded) == (None, False)
    assert outcome.error is not None and outcome.error.startswith("tls: certificate verify failed")
    assert outcome.address == "127.0.0.1"
    assert tls_receiver.requests == []


def test_https_checks_the_certificate_against_the_vetted_host_name(
    tls_receiver: Receiver, trusting: ssl.SSLContext
) -> None:
    url = vetted(tls_receiver.port, scheme="https", host="other.example")
    outcome = sender.post(url, BODY, HEADERS, ssl_context=trusting)
    assert outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("tls: certificate verify failed")
    assert "other.example" in outcome.error
    assert tls_receiver.requests == []
