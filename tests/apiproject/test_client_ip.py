"""The client address (docs/api.md, "Client addresses"): read as an IP address, whatever wraps
it."""

from types import SimpleNamespace

import pytest

from apiproject.api.ratelimit import NO_PEER_ADDRESS, client_ip, parse_ip


def request_from(remote_addr: str, forwarded_for: str | None = None) -> SimpleNamespace:
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return SimpleNamespace(META=meta)


@pytest.mark.parametrize(
    ("remote_addr", "expected"),
    [
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("::ffff:c633:6407", "198.51.100.7"),
        ("198.51.100.7:5678", "198.51.100.7"),
        ("[2001:db8:1:2::9]:80", "2001:db8:1:2::"),
        ("[::1]", "::"),
        ("[::ffff:198.51.100.7]:443", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
    ],
)
def test_the_peer_address_is_read_as_an_ip_address(settings, remote_addr, expected):
    settings.API_TRUSTED_PROXY_COUNT = 0

    assert client_ip(request_from(remote_addr)) == expected


def test_ipv4_clients_of_a_dual_stack_bind_have_their_own_buckets(settings):
    settings.API_TRUSTED_PROXY_COUNT = 0

    first = client_ip(request_from("::ffff:198.51.100.7"))
    second = client_ip(request_from("::ffff:203.0.113.9"))

    assert (first, second) == ("198.51.100.7", "203.0.113.9")


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("9.9.9.9:1234", "9.9.9.9"),
        ("9.9.9.9:65000", "9.9.9.9"),
        ("[2001:db8::1]:8443", "2001:db8::"),
        ("6.6.6.6, [::ffff:198.51.100.7]:1", "198.51.100.7"),
    ],
)
def test_a_forwarded_hop_is_read_as_an_ip_address(settings, forwarded_for, expected):
    settings.API_TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from("10.0.0.1", forwarded_for)) == expected


@pytest.mark.parametrize(
    "forwarded_for",
    ["unknown", "_hidden", "9.9.9.9:port", "9.9.9.9:", "[::1", "[::1]x", "1.2.3.4.5", "ab:cd"],
)
def test_a_forwarded_hop_that_is_no_ip_address_is_not_trusted(settings, forwarded_for):
    settings.API_TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from("10.0.0.1", forwarded_for)) == "10.0.0.1"


def test_a_peer_that_is_no_ip_address_without_one_forwarded_shares_its_bucket(settings):
    settings.API_TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from("", "junk")) == NO_PEER_ADDRESS


@pytest.mark.parametrize("text", ["", " ", "[]", "[]:80", ":80", "1.2.3.4:99999999999x"])
def test_parse_ip_refuses_junk(text):
    assert parse_ip(text) is None
