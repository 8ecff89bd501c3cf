"""Sending one webhook request: pinned to the vetted addresses, bounded by one deadline, never raising.

``urllib`` and friends resolve the host again when they connect, and DNS may answer differently
than when the URL was vetted (DNS rebinding): a tenant's name could then point at our own network.
So the connection goes to the vetted ``addresses[0]`` (the next one only if connecting to it
fails), while TLS (SNI and the certificate check) and the ``Host`` header use the host name; the
host is never resolved here.

The limit bounds the whole attempt (connecting, the TLS handshake, sending, waiting for the
response and reading the part of its body we keep), not each socket operation: a receiver sending
a byte a second would otherwise hold a worker for as long as it liked. So every send and receive
is given the time left before one deadline. Should the deadline pass once the status line and
headers are in, the status stands (the receiver has answered) with the part of the body read.

Redirects are not followed (a 3xx is an outcome like any other: its target was never vetted).
Only the first ``RESPONSE_BODY_BYTES`` of the body are read, for the delivery log; the connection
is then closed, never drained. Network, TLS and protocol failures are outcomes with an ``error``,
never exceptions: the caller records them and retries. The error says what failed and never
carries the request's body or headers (they hold signatures).
"""

from __future__ import annotations

import email.utils
import functools
import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.webhooks.urls import DEFAULT_PORTS, VettedUrl

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

RESPONSE_BODY_BYTES = 1024
DEFAULT_TIMEOUT_S = 15.0
MAX_RETRY_AFTER_S = 86400.0
USER_AGENT = "Ticketing-Webhooks/1.0"
MAX_ERROR_CHARS = 200
# Headers that describe this connection and request: ours to set, whatever the caller passes.
_OURS = frozenset({"host", "content-length", "user-agent", "connection", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None  # the HTTP status, None when no response came
    latency_ms: int  # from the start of connecting to the end of reading what we keep
    body: str  # the first RESPONSE_BODY_BYTES of the response body, decoded leniently
    error: str | None  # why no response came: "timeout: ...", "connect: ...", "tls: ...", "protocol: ..."
    retry_after_s: float | None  # the response's Retry-After in seconds, whatever the status
    address: str | None  # the IP address connected to

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from ``now`` (timezone-aware) by a ``Retry-After`` value (RFC 9110 §10.2.3:
    delay-seconds or an HTTP-date), within 0 and ``MAX_RETRY_AFTER_S``; None if missing or invalid."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        # Ten digits or more is far past the cap (and int() refuses very long strings).
        seconds = MAX_RETRY_AFTER_S if len(digits) > 9 else float(digits)
        return min(seconds, MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP-dates are in GMT anyway
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_S)


def _time_left(deadline: float) -> float:
    """Seconds before ``deadline`` (on ``time.monotonic``); ``TimeoutError`` once it has passed
    (a socket timeout of 0 would mean non-blocking, not "no time")."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline has passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """The socket as ``http.client`` reads it, each receive given the time left. Closing it leaves
    the socket open: the connection closes that."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._sock.settimeout(_time_left(self._deadline))
        return self._sock.recv_into(buffer)


class _DeadlineResponse(http.client.HTTPResponse):
    """A response to POST whose status line, headers and body are all read before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__(sock, method="POST")
        self.fp.close()  # the socket's own file, whose every read would wait the whole timeout
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


def _open(address: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection to an IP address (no name is ever resolved here)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(_time_left(deadline))
        sock.connect((address, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


@functools.cache
def _default_context() -> ssl.SSLContext:
    # Loading the system's CA certificates takes a while; a context is safe to share between threads.
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """One request over a connection to a vetted address, TLS for https, within a deadline.

    ``stage`` says what was under way, for the error should it fail; ``address`` is the one
    connected to. Not reused: ``post`` closes it after one response.
    """

    def __init__(self, vetted: VettedUrl, *, deadline: float, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(vetted.host, vetted.port)
        self.vetted = vetted
        self.deadline = deadline
        self.ssl_context = ssl_context
        self.stage = "while connecting"
        self.address: str | None = None

    def connect(self) -> None:
        """Connect to the first vetted address that takes the connection, then TLS with the host
        name; ``OSError`` naming the last address if none did."""
        failed: tuple[str, OSError] | None = None
        for address in self.vetted.addresses:
            try:
                sock = _open(address, self.port, self.deadline)
            except TimeoutError:
                raise  # the time is up: no time for another address either
            except OSError as error:
                failed = (address, error)
                continue
            self.address = address
            if self.vetted.scheme == "https":
                self.stage = "during the TLS handshake"
                sock.settimeout(_time_left(self.deadline))
                context = self.ssl_context or _default_context()
                try:
                    sock = context.wrap_socket(sock, server_hostname=self.vetted.host)
                except BaseException:
                    sock.close()
                    raise
            self.sock = sock
            return
        assert failed is not None
        last_address, last_error = failed
        tried = len(self.vetted.addresses)
        others = f" (and {tried - 1} other address{'es' if tried > 2 else ''})" if tried > 1 else ""
        raise OSError(f"{_describe(last_error)} at {last_address} port {self.port}{others}")

    def send(self, data: Any) -> None:  # http.client's type for data is private to typeshed
        if self.sock is not None:
            self.sock.settimeout(_time_left(self.deadline))
        super().send(data)

    def getresponse(self) -> http.client.HTTPResponse:
        """The response, read within the deadline; without the base's keep-alive bookkeeping (this
        connection carries one request), so it never closes the socket under the unread body."""
        response = _DeadlineResponse(self.sock, self.deadline)
        try:
            response.begin()
        except BaseException:
            response.close()
            raise
        return response


def host_header(vetted: VettedUrl) -> str:
    """The ``Host`` header for a vetted URL: the host (an IPv6 literal in brackets), with the port
    unless it is the scheme's default."""
    host = f"[{vetted.host}]" if ":" in vetted.host else vetted.host
    return host if vetted.port == DEFAULT_PORTS[vetted.scheme] else f"{host}:{vetted.port}"


def _request_headers(vetted: VettedUrl, body: bytes, given: Mapping[str, str]) -> dict[str, str]:
    headers = {name: value for name, value in given.items() if name.lower() not in _OURS}
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    headers["Host"] = host_header(vetted)
    headers["User-Agent"] = USER_AGENT
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    return headers


def _describe(error: BaseException) -> str:
    """An error in a few words: the OS's message without its errno, TLS's reason."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        text = f"certificate verify failed: {error.verify_message}"
    elif isinstance(error, OSError) and not isinstance(error, ssl.SSLError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _failure(error: OSError | http.client.HTTPException, stage: str, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"timeout: no response within {timeout_s:g} s ({stage})"
    if isinstance(error, ssl.SSLError):
        return f"tls: {_describe(error)}"
    if isinstance(error, http.client.HTTPException):  # before OSError: RemoteDisconnected is both
        return f"protocol: {_describe(error)}"
    if stage == "while connecting":
        return f"connect: {_describe(error)}"
    return f"connect: {_describe(error)} ({stage})"


def _kept_body(response: http.client.HTTPResponse) -> bytes:
    """Up to ``RESPONSE_BODY_BYTES`` of the body; what came before the deadline (or the connection
    failing) if the rest is slower."""
    kept = bytearray()
    while len(kept) < RESPONSE_BODY_BYTES:
        try:
            chunk = response.read1(RESPONSE_BODY_BYTES - len(kept))
        except (OSError, http.client.HTTPException):
            break
        if not chunk:
            break
        kept += chunk
    return bytes(kept)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def post(
    vetted: VettedUrl,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
) -> Outcome:
    """POST ``body`` to the vetted URL, pinned to its addresses, within ``timeout_s`` in all.

    ``ssl_context`` replaces the default (system CAs, host name checked) for https.
    """
    if not vetted.addresses:
        raise ValueError("a vetted URL has at least one address")
    for address in vetted.addresses:
        ipaddress.ip_address(address)  # ValueError: addresses are IPs, never names to resolve
    if vetted.scheme not in DEFAULT_PORTS:
        raise ValueError(f"cannot send to a {vetted.scheme!r} URL")
    if not timeout_s > 0:
        raise ValueError("timeout_s must be positive")
    request_headers = _request_headers(vetted, body, headers)

    started = time.monotonic()
    connection = _PinnedConnection(vetted, deadline=started + timeout_s, ssl_context=ssl_context)
    response: http.client.HTTPResponse | None = None
    try:
        try:
            connection.connect()
            connection.stage = "while sending the request"
            connection.request("POST", vetted.path_and_query, body=body, headers=request_headers)
            connection.stage = "while waiting for the response"
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            failure = _failure(error, connection.stage, timeout_s)
            return Outcome(None, _ms_since(started), "", failure, None, connection.address)
        retry_after_s = parse_retry_after(response.getheader("Retry-After"), now=datetime.now(UTC))
        kept = _kept_body(response)
        return Outcome(
            status=response.status,
            latency_ms=_ms_since(started),
            body=kept.decode("utf-8", errors="replace"),
            error=None,
            retry_after_s=retry_after_s,
            address=connection.address,
        )
    finally:
        if response is not None:
            response.close()
        connection.close()
