"""shared.webhooks.urls: a webhook URL reaches only public addresses, however they are spelled.

A fake resolver stands in for DNS (no network), except where the real ``localhost`` is resolved.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

import pytest

from shared.webhooks.urls import (
    UrlPolicy,
    UrlRefused,
    VettedUrl,
    default_resolver,
    vet_address,
    vet_url,
)

STRICT = UrlPolicy()
LOCAL = UrlPolicy(require_https=False, allow_loopback=frozenset({"127.0.0.1", "localhost", "::1"}))
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0::/32, the server's IPv4, flags, then the client's port
    and IPv4 address, both inverted."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64)
    value |= 0x8000 << 48  # flags (cone NAT)
    value |= (40000 ^ 0xFFFF) << 32  # obfuscated port 40000
    value |= int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address(value))


TEREDO_PRIVATE_CLIENT = teredo("65.54.227.120", "10.0.0.1")


class FakeResolver:
    """A resolver answering from a table, recording its questions."""

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return list(self.table.get(host, []))


DNS = FakeResolver(
    {
        "hooks.example.com": [PUBLIC_V4, PUBLIC_V6],
        "mixed.example.com": [PUBLIC_V4, "10.1.2.3"],
        "mixed6.example.com": [PUBLIC_V6, "::ffff:169.254.169.254"],
        "metadata.example.com": ["169.254.169.254"],
        "rebind.example.com": ["127.0.0.1"],
        "localhost": ["127.0.0.1", "::1"],
        "odd.example.com": ["not-an-address"],
        "scoped.example.com": ["fe80::1%eth0"],
        "dupes.example.com": [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4],
        "nat64.example.com": ["64:ff9b::5db8:d70e"],
    }
)


def vet(url: str, policy: UrlPolicy = STRICT) -> VettedUrl:
    return vet_url(url, policy, resolve=DNS)


def refused(url: str, policy: UrlPolicy = STRICT) -> UrlRefused:
    with pytest.raises(UrlRefused) as info:
        vet(url, policy)
    return info.value


def test_public_https_url_is_accepted() -> None:
    vetted = vet("https://Hooks.Example.COM./in/tickets?tenant=7#frag")
    assert vetted == VettedUrl(
        url="https://Hooks.Example.COM./in/tickets?tenant=7#frag",
        scheme="https",
        host="hooks.example.com",
        port=443,
        path_and_query="/in/tickets?tenant=7",
        addresses=(PUBLIC_V4, PUBLIC_V6),
    )
    assert DNS.calls[-1] == ("hooks.example.com", 443)


def test_explicit_port_and_empty_path() -> None:
    vetted = vet("https://hooks.example.com:8443")
    assert (vetted.port, vetted.path_and_query) == (8443, "/")
    assert DNS.calls[-1] == ("hooks.example.com", 8443)


def test_addresses_keep_resolution_order_without_duplicates() -> None:
    assert vet("https://dupes.example.com/").addresses == (PUBLIC_V4, PUBLIC_V6)


def test_public_ip_literals_are_accepted() -> None:
    assert vet(f"https://{PUBLIC_V4}/").addresses == (PUBLIC_V4,)
    vetted = vet(f"https://[{PUBLIC_V6.upper()}]:444/x")
    assert (vetted.host, vetted.port, vetted.addresses) == (PUBLIC_V6, 444, (PUBLIC_V6,))
    assert vet("https://1572394766/").host == PUBLIC_V4  # decimal form, normalised


def test_public_ipv4_reached_through_nat64_or_mapping_is_accepted() -> None:
    assert vet("https://nat64.example.com/").addresses == ("64:ff9b::5db8:d70e",)
    mapped = str(ipaddress.ip_address(f"::ffff:{PUBLIC_V4}"))  # spelt differently across Pythons
    assert vet(f"https://[::ffff:{PUBLIC_V4}]/").addresses == (mapped,)


def test_http_refused_when_https_required() -> None:
    assert refused("http://hooks.example.com/").reason == "scheme"
    assert vet("http://hooks.example.com/", UrlPolicy(require_https=False)).port == 80


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/", "file:///etc/passwd", "gopher://hooks.example.com/", "hooks.example.com"],
)
def test_other_schemes_refused(url: str) -> None:
    assert refused(url, UrlPolicy(require_https=False)).reason == "scheme"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@hooks.example.com/",
        "https://user@hooks.example.com/",
        "https://@hooks.example.com/",
        "https://:pw@hooks.example.com/",
        "https://hooks.example.com@127.0.0.1/",
    ],
)
def test_credentials_refused(url: str) -> None:
    assert refused(url).reason == "credentials"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https:///path", "host"),
        ("https://", "host"),
        ("https://:443/", "host"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com:65536/", "syntax"),
        ("https://hooks.example.com:https/", "syntax"),
        ("https://[::1/", "syntax"),
        ("https://hooks example.com/", "syntax"),
        ("https://hooks.example.com\t/", "syntax"),
        ("https://hooks.example.com\\@127.0.0.1/", "syntax"),
        ("https://[fe80::1%25eth0]/", "host"),
        ("https://-bad-.example.com/", "host"),
        ("https://a..example.com/", "host"),
        ("https://hooks.example.com../", "host"),
        ("https://1.2.3.4.5/", "host"),
        ("https://08.0.0.1/", "host"),
        ("https://example.0x7f/", "host"),
        ("https://nowhere.example.com/", "resolve"),
        ("https://odd.example.com/", "resolve"),
    ],
)
def test_malformed_urls_refused(url: str, reason: str) -> None:
    assert refused(url).reason == reason


FORBIDDEN = [
    # loopback, unspecified, "this network"
    "127.0.0.1",
    "127.255.255.254",
    "[::1]",
    "0.0.0.0",  # noqa: S104
    "0.1.2.3",
    "[::]",
    # private
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "[fc00::1]",
    "[fd12:3456::1]",
    # link-local and metadata
    "169.254.0.1",
    "169.254.169.254",
    "169.254.170.2",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "100.100.100.200",
    # CGNAT, multicast, reserved, broadcast, documentation, site-local
    "100.64.1.1",
    "100.127.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "[ff02::1]",
    "[ff0e::1]",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "[2001:db8::1]",
    "[fec0::1]",
    # 127.0.0.1 in the odd IPv4 forms inet_aton takes
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "127.1",
    "017700000001",
    # IPv4 hidden in IPv6
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::127.0.0.1]",
    "[::10.0.0.1]",
    "[2002:7f00:1::]",
    "[2002:a9fe:a9fe::]",
    "[2002:a00:1::1]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::10.0.0.1]",
    "[64:ff9b:1::a9fe:a9fe]",
    f"[{TEREDO_PRIVATE_CLIENT}]",
]


@pytest.mark.parametrize("host", FORBIDDEN)
def test_forbidden_addresses_refused(host: str) -> None:
    def no_dns(name: str, port: int) -> list[str]:
        raise AssertionError(f"an IP literal is not resolved: {name}")

    with pytest.raises(UrlRefused) as info:
        vet_url(f"https://{host}/hook", STRICT, resolve=no_dns)
    assert info.value.reason == "address"


def test_teredo_helper_matches_the_rfc_example() -> None:
    # RFC 4380's example: server 65.54.227.120, client 192.0.2.45 port 40000.
    assert teredo("65.54.227.120", "192.0.2.45") == "2001:0:4136:e378:8000:63bf:3fff:fdd2"
    pair = ipaddress.IPv6Address(TEREDO_PRIVATE_CLIENT).teredo
    assert pair is not None
    server, client = pair
    assert (str(server), str(client)) == ("65.54.227.120", "10.0.0.1")


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.64.1.1", "CGNAT"),
        ("::ffff:127.0.0.1", "IPv4-mapped and carries 127.0.0.1: 127.0.0.1 is a loopback"),
        ("2002:a9fe:a9fe::", "6to4 and carries 169.254.169.254"),
        (TEREDO_PRIVATE_CLIENT, "Teredo and carries 10.0.0.1: 10.0.0.1 is a private"),
        ("64:ff9b::a9fe:a9fe", "NAT64 and carries 169.254.169.254"),
    ],
)
def test_refusals_say_why(address: str, says: str) -> None:
    with pytest.raises(UrlRefused, match=says):
        vet_address(ipaddress.ip_address(address), STRICT)


@pytest.mark.parametrize(
    "address",
    [f"2002:{0x5DB8:x}:{0xD70E:x}::1", teredo("65.54.227.120", PUBLIC_V4), f"::{PUBLIC_V4}"],
)
def test_deprecated_transition_forms_refused_even_when_public(address: str) -> None:
    with pytest.raises(UrlRefused, match=r"not sent to|reserved"):
        vet_address(ipaddress.ip_address(address), STRICT)


@pytest.mark.parametrize(
    "host", ["mixed.example.com", "mixed6.example.com", "metadata.example.com", "rebind.example.com"]
)
def test_any_bad_resolved_address_refuses(host: str) -> None:
    assert refused(f"https://{host}/").reason == "address"


def test_scoped_resolved_address_is_vetted_without_scope() -> None:
    with pytest.raises(UrlRefused, match="fe80::1 is a link-local"):
        vet("https://scoped.example.com/")


def test_zero_addresses_refused() -> None:
    error = refused("https://nowhere.example.com/")
    assert error.reason == "resolve"
    assert "does not resolve" in str(error)


def test_allow_list_permits_loopback() -> None:
    assert vet("http://127.0.0.1:4010/hook", LOCAL).addresses == ("127.0.0.1",)
    assert vet("http://[::1]:4010/hook", LOCAL).addresses == ("::1",)
    assert vet("http://localhost:4010/hook", LOCAL).addresses == ("127.0.0.1", "::1")


def test_allow_list_by_address_only() -> None:
    policy = UrlPolicy(allow_loopback=frozenset({"127.0.0.1"}))
    assert vet("https://127.0.0.1/", policy).host == "127.0.0.1"
    assert vet("https://0x7f.0.0.1/", policy).host == "127.0.0.1"
    with pytest.raises(UrlRefused, match="::1 is a loopback"):  # localhost also resolves to ::1
        vet("https://localhost/", policy)
    assert refused("https://127.0.0.2/", policy).reason == "address"


def test_allow_listed_host_must_still_resolve_to_loopback() -> None:
    policy = UrlPolicy(allow_loopback=frozenset({"mixed.example.com", "localhost"}))
    assert refused("https://mixed.example.com/", policy).reason == "address"
    resolve = FakeResolver({"localhost": ["127.0.0.1", "10.0.0.1"]})
    with pytest.raises(UrlRefused, match=re.escape("10.0.0.1 is a private")):
        vet_url("https://localhost/", policy, resolve=resolve)


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "[::ffff:10.0.0.1]"]
)
def test_allow_list_never_opens_private_or_metadata(host: str) -> None:
    listed = host.strip("[]")
    policy = UrlPolicy(require_https=False, allow_loopback=frozenset({listed, "localhost"}))
    assert refused(f"http://{host}/", policy).reason == "address"


def test_allow_list_never_opens_a_private_resolution_of_a_listed_name() -> None:
    policy = UrlPolicy(allow_loopback=frozenset({"metadata.example.com"}))
    assert refused("https://metadata.example.com/", policy).reason == "address"


def test_policy_from_env() -> None:
    policy = UrlPolicy.from_env(" LocalHost. , 127.0.0.1,[::0001],, ", require_https=False)
    assert policy == UrlPolicy(
        require_https=False, allow_loopback=frozenset({"localhost", "127.0.0.1", "::1"})
    )
    assert UrlPolicy.from_env(None, require_https=True) == STRICT
    assert UrlPolicy.from_env("", require_https=True).allow_loopback == frozenset()


def test_real_localhost_with_allow_list() -> None:
    addresses = default_resolver("localhost", 443)
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)
    vetted = vet_url("http://localhost:4010/hook", LOCAL)
    assert vetted.addresses == tuple(addresses)
    assert refused_real("http://localhost:4010/hook", UrlPolicy(require_https=False)) == "address"


def refused_real(url: str, policy: UrlPolicy) -> str:
    with pytest.raises(UrlRefused) as info:
        vet_url(url, policy)
    return info.value.reason


def test_default_resolver_on_an_ip_and_on_an_unencodable_name() -> None:
    assert default_resolver("127.0.0.1", 80) == ["127.0.0.1"]
    assert default_resolver("a" * 64 + ".example", 443) == []
