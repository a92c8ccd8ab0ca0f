"""Who counts as one client, and how long a wrong password waits."""

from __future__ import annotations

import pytest

from services.auth.login_attempts.service import client_key, failure_delay


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "ip:198.51.100.7"),
        ("198.51.100.7:5555", "ip:198.51.100.7"),
        ("::ffff:198.51.100.7", "ip:198.51.100.7"),  # IPv4-mapped IPv6 is the IPv4 client
        ("2001:db8:1:2::1", "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "ip:2001:db8:1:2::/64"),
        ("[2001:DB8:1:2::abcd]:443", "ip:2001:db8:1:2::/64"),
        ("::1", "ip:::/64"),
        ("testclient", "ip:testclient"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address: str, key: str) -> None:
    assert client_key(address) == key


def test_neighbouring_ipv6_networks_are_different_clients() -> None:
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")


def test_a_junk_address_cannot_make_a_long_key() -> None:
    assert len(client_key("x" * 10_000)) == len("ip:") + 64


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (3, 0.0), (4, 0.5), (5, 1.0), (6, 2.0), (7, 4.0), (8, 4.0), (10**6, 4.0)],
)
def test_delays_start_after_the_threshold_double_and_stop_at_the_cap(failures: int, delay: float) -> None:
    assert failure_delay(failures, 3, base=0.5, cap=4.0) == delay


def test_a_zero_threshold_delays_the_first_failure() -> None:
    assert failure_delay(1, 0, base=0.5, cap=4.0) == 0.5


@pytest.mark.parametrize(("base", "cap"), [(0.0, 4.0), (0.5, 0.0)])
def test_a_zero_base_or_cap_turns_delays_off(base: float, cap: float) -> None:
    assert failure_delay(50, 3, base=base, cap=cap) == 0.0
