"""Client addresses and CIDR lists: X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from entrypoints.api.client_address import client_address, forwarded_for, resolve_client, via_https
from entrypoints.networks import in_networks, parse_address, parse_network, parse_networks
from entrypoints.settings import ConfigError, load_settings

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_a_network_is_a_cidr_or_a_bare_address() -> None:
    assert str(parse_network("10.0.0.0/8")) == "10.0.0.0/8"
    assert str(parse_network(" 192.0.2.7 ")) == "192.0.2.7/32"
    assert str(parse_network("2001:db8::/32")) == "2001:db8::/32"
    assert str(parse_network("::1")) == "::1/128"


def test_a_network_with_host_bits_set_says_which_network_was_meant() -> None:
    with pytest.raises(
        ValueError, match=r"'10.1.2.3/8' has host bits set: did you mean 10.0.0.0/8"
    ):
        parse_network("10.1.2.3/8")


@pytest.mark.parametrize("bad", ["10.0.0.300/8", "example.com", "", "10.0.0.0/33", "1.2.3.4/x"])
def test_a_value_that_is_no_network_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address or CIDR network"):
        parse_network(bad)


def test_a_bad_entry_in_a_list_is_named_by_its_position() -> None:
    with pytest.raises(ValueError, match=r"^\[1\] 'nope'"):
        parse_networks(["10.0.0.0/8", "nope"])


def test_the_settings_refuse_a_bad_allowlist_or_proxy_list_at_startup() -> None:
    with pytest.raises(ConfigError, match=r"api.ip_allowlist: \[0\] '10.0.0.1/8' has host bits"):
        load_settings(None, {"SCHEDULER_API__IP_ALLOWLIST": '["10.0.0.1/8"]'})
    with pytest.raises(ConfigError, match=r"api.trusted_proxies: \[0\] 'proxy'"):
        load_settings(None, {"SCHEDULER_API__TRUSTED_PROXIES": '["proxy"]'})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_addresses_are_read_in_the_forms_peers_and_proxies_write(text: str, expected: str) -> None:
    assert parse_address(text) == ip_address(expected)


@pytest.mark.parametrize("text", ["unknown", "testclient", "", "1.2.3"])
def test_a_name_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


def test_membership_never_matches_across_ip_versions_or_for_non_addresses() -> None:
    networks = parse_networks(["0.0.0.0/0"])
    assert in_networks(ip_address("203.0.113.9"), networks)
    assert not in_networks(ip_address("::1"), networks)
    assert not in_networks(None, networks)


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert resolve_client("203.0.113.5", ["10.9.9.9"], PROXIES) == "203.0.113.5"


def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    assert resolve_client("127.0.0.1", ["198.51.100.7"], PROXIES) == "198.51.100.7"


def test_the_right_most_untrusted_address_wins_over_what_the_client_wrote() -> None:
    # The client forged "1.1.1.1"; the edge proxy 10.0.0.2 appended the real 198.51.100.7;
    # the inner proxy 10.0.0.3 appended 10.0.0.2.
    chain = ["1.1.1.1", "198.51.100.7", "10.0.0.2"]
    assert resolve_client("10.0.0.3", chain, PROXIES) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_only_ends_at_its_left_most_entry() -> None:
    assert resolve_client("127.0.0.1", ["10.0.0.5", "10.0.0.6"], PROXIES) == "10.0.0.5"


def test_a_malformed_entry_stops_at_the_proxy_that_passed_it_on() -> None:
    assert resolve_client("127.0.0.1", ["198.51.100.7", "garbage", "10.0.0.2"], PROXIES) == (
        "10.0.0.2"
    )


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert resolve_client("127.0.0.1", ["198.51.100.7"], ()) == "127.0.0.1"


def test_a_peer_that_is_no_address_is_kept_as_it_is_and_an_absent_one_is_unknown() -> None:
    assert resolve_client("testclient", ["198.51.100.7"], PROXIES) == "testclient"
    assert resolve_client(None, [], PROXIES) == "unknown"


def test_every_forwarded_for_header_counts_in_order() -> None:
    headers = [(b"x-forwarded-for", b"1.1.1.1, 2.2.2.2"), (b"X-Forwarded-For", b"3.3.3.3")]
    assert forwarded_for(headers) == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_client_address_reads_an_asgi_scope() -> None:
    scope = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"198.51.100.7")],
    }
    assert client_address(scope, PROXIES) == "198.51.100.7"
    assert client_address(scope, ()) == "127.0.0.1"


def test_https_is_believed_from_the_server_itself_or_a_trusted_proxy_only() -> None:
    proto = [(b"x-forwarded-proto", b"https")]
    assert via_https({"scheme": "https", "client": ("203.0.113.5", 1)}, ())
    assert via_https({"scheme": "http", "client": ("127.0.0.1", 1), "headers": proto}, PROXIES)
    assert not via_https(
        {"scheme": "http", "client": ("203.0.113.5", 1), "headers": proto}, PROXIES
    )
    assert not via_https({"scheme": "http", "client": ("127.0.0.1", 1)}, PROXIES)
