"""Vetting of webhook URLs against server-side request forgery (SSRF).

A webhook URL is chosen by a tenant and fetched by us, from inside our network, so it must never
reach our own services, the cloud's metadata endpoints, or anything else not on the public
internet. A URL is accepted only if its scheme is https (http only where the policy allows it), it
carries no credentials, and every address its host stands for is public: an IP literal is vetted
as is (including the odd IPv4 forms ``2130706433``, ``0177.0.0.1`` and ``0x7f.1``, which
``inet_aton`` and therefore the system resolver accept), and a host name is resolved and *every*
address vetted, since a client may connect to any of them. IPv4 addresses hidden in IPv6 forms
(IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) are unwrapped and vetted too.

Vetting at registration is not enough on its own: DNS can change between vetting and delivery
(DNS rebinding). So the result keeps the addresses in resolution order, and delivery connects to
``addresses[0]`` while sending SNI/Host for the host name (connection pinning).

The policy's ``allow_loopback`` lets the local stack and tests deliver to loopback listeners; it
opens loopback addresses only, never private, link-local or metadata ranges, whatever it lists.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"https": 443, "http": 80}
MAX_HOST_LENGTH = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")

# Cloud metadata services (AWS IMDS v4/v6 and ECS task metadata, Alibaba): named for a clear message;
# each is also inside a range refused below.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

# Refused whatever the running Python's ``ipaddress`` tables say (they have changed between patch
# releases); the ``is_*`` checks in ``_problem`` cover the rest.
_REFUSED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a loopback", ("127.0.0.0/8", "::1/128")),
    ("an unspecified", ("0.0.0.0/32", "::/128")),
    ("a 'this network'", ("0.0.0.0/8",)),
    ("a private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("a link-local", ("169.254.0.0/16", "fe80::/10")),
    ("a shared (CGNAT)", ("100.64.0.0/10",)),
    ("a multicast", ("224.0.0.0/4", "ff00::/8")),
    ("a reserved", ("240.0.0.0/4", "fec0::/10")),
    ("a broadcast", ("255.255.255.255/32",)),
)
_REFUSED_NETWORKS = tuple(
    (kind, tuple(ipaddress.ip_network(n) for n in networks)) for kind, networks in _REFUSED
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UrlRefused(ValueError):
    """A webhook URL that may not be used; ``reason`` says which rule refused it.

    Reasons: ``syntax``, ``scheme``, ``credentials``, ``host``, ``port``, ``resolve``, ``address``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _normal_host(value: str) -> str:
    """A host as compared and resolved: lowercase, without brackets or one trailing dot; IP
    addresses in their canonical form."""
    host = value.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class UrlPolicy:
    require_https: bool = True
    # Hosts or addresses that may be delivered to although loopback (local stack, tests).
    allow_loopback: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_loopback", frozenset(_normal_host(h) for h in self.allow_loopback))

    @classmethod
    def from_env(cls, value: str | None, *, require_https: bool) -> UrlPolicy:
        """A policy from a comma-separated allow-list (``"localhost,127.0.0.1"``); None or empty
        allows no loopback."""
        hosts = (part for part in (value or "").split(","))
        return cls(require_https=require_https, allow_loopback=frozenset(h for h in hosts if h.strip()))


@dataclass(frozen=True)
class VettedUrl:
    url: str  # as given
    scheme: str
    host: str  # lowercase, no trailing dot; an IP literal in canonical form, IPv6 without brackets
    port: int
    path_and_query: str
    addresses: tuple[str, ...]  # in resolution order: delivery connects to the first


def _problem(ip: IPAddress) -> str | None:
    """What makes an address unfit to deliver to (``"a private"``), or None if it is public."""
    if ip in METADATA:
        return "a cloud metadata"
    for kind, networks in _REFUSED_NETWORKS:
        if any(ip in network for network in networks if network.version == ip.version):
            return kind
    if ip.is_loopback:
        return "a loopback"
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_reserved:
        return "a reserved"
    if ip.is_private or not ip.is_global:
        return "a non-public"
    return None


def _embedded(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str, bool] | None:
    """The IPv4 address an IPv6 address carries, the form's name, and whether the IPv6 address is
    as good as its IPv4 one (IPv4-mapped and NAT64 reach it; the deprecated transition forms are
    refused however public their IPv4 address is)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped", True
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64", True
    if ip in _NAT64_LOCAL:
        # Local-use NAT64 (RFC 8215): the translator is in our own network. The /96 layout is
        # the common one; the address is refused either way.
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "local-use NAT64", False
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4", False
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo", False
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ``::`` and ``::1`` are themselves, not IPv4
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible", False
    return None


def vet_address(ip: IPAddress, policy: UrlPolicy, *, host: str | None = None) -> None:
    """Refuse (``UrlRefused``, reason ``address``) an address that is not public.

    A loopback address is allowed when it, or the ``host`` name it was resolved from, is in the
    policy's ``allow_loopback``; nothing else is ever allowed by that list.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).partition("%")[0])
        embedded = _embedded(ip)
        if embedded is not None:
            inner, form, reaches = embedded
            try:
                vet_address(inner, policy, host=host)
            except UrlRefused as refused:
                raise UrlRefused("address", f"{ip} is {form} and carries {inner}: {refused}") from None
            if reaches:
                return
            raise UrlRefused("address", f"{ip} is a {form} address, which webhooks are not sent to")
    problem = _problem(ip)
    if problem is None:
        return
    listed = str(ip) in policy.allow_loopback or (host is not None and host in policy.allow_loopback)
    if problem == "a loopback" and ip.is_loopback and listed:
        return
    raise UrlRefused("address", f"{ip} is {problem} address")


def default_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, without duplicates or IPv6 scope ids, in the order the
    system resolver gives them; empty if it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: dict[str, None] = {}
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[str(sockaddr[0]).partition("%")[0]] = None
    return list(found)


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host spells, in any form the system resolver would take as one."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused("host", f"{host!r} is not an IPv6 address") from None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _hostname(host: str) -> str:
    """A host name in its ASCII (IDNA) form, checked label by label."""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlRefused("host", f"{host!r} is not a valid host name") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > MAX_HOST_LENGTH or not all(_LABEL.match(label) for label in labels):
        raise UrlRefused("host", f"{host!r} is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise UrlRefused("host", f"{host!r} is neither an IPv4 address nor a host name")
    return ascii_host


def _parsed_addresses(values: Iterable[str], host: str) -> tuple[IPAddress, ...]:
    found: dict[IPAddress, None] = {}
    for value in values:
        try:
            found[ipaddress.ip_address(value.partition("%")[0])] = None
        except ValueError:
            raise UrlRefused("resolve", f"{host!r} resolved to {value!r}, not an address") from None
    return tuple(found)


def vet_url(url: str, policy: UrlPolicy, *, resolve: Resolver = default_resolver) -> VettedUrl:
    """The URL, its parts and the addresses to connect to, or ``UrlRefused``."""
    if any(ch <= " " or ch in {"\x7f", "\\"} for ch in url):
        raise UrlRefused("syntax", "a URL has no spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused("syntax", f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    allowed = ("https",) if policy.require_https else ("https", "http")
    if scheme not in allowed:
        raise UrlRefused("scheme", f"the URL's scheme must be {' or '.join(allowed)}")
    if "@" in parts.netloc:
        raise UrlRefused("credentials", "a webhook URL may not carry a user name or password")
    if not parts.hostname:
        raise UrlRefused("host", "the URL has no host")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise UrlRefused("port", f"port {port} is not between 1 and 65535")
    host = parts.hostname.lower().removesuffix(".")
    if "%" in host:
        raise UrlRefused("host", "an address with a zone id is not a webhook host")
    if not host:
        raise UrlRefused("host", "the URL has no host")

    literal = _ip_literal(host)
    if literal is not None:
        host = str(literal)
        vet_address(literal, policy)
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        host = _hostname(host)
        addresses = _parsed_addresses(resolve(host, port), host)
        if not addresses:
            raise UrlRefused("resolve", f"{host!r} does not resolve to any address")
        for address in addresses:
            vet_address(address, policy, host=host)

    path = parts.path or "/"
    return VettedUrl(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        path_and_query=f"{path}?{parts.query}" if parts.query else path,
        addresses=tuple(str(a) for a in addresses),
    )
