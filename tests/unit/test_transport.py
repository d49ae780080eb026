"""
The transport's rules that need no socket: what is loopback, what is cleartext.
"""

from __future__ import annotations

import pytest

from spatiafi_ops._errors import InsecureTransport
from spatiafi_ops._watchdog import check_cleartext, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
    ],
)
def test_loopback_is_localhost_127_8_and_ipv6_one(host: str, loopback: bool) -> None:
    """Only names that cannot leave the machine: no resolver is asked."""
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("url", "proxy", "allowed", "refused"),
    [
        ("https://auth.example.com/x", None, False, False),
        ("https://auth.example.com/x", "http://proxy.example.com:3128", False, False),
        ("http://127.0.0.1:8080/x", None, False, False),
        ("http://localhost/x", "http://127.0.0.1:3128", False, False),
        ("http://[::1]:9/x", None, False, False),
        ("http://auth.example.com/x", None, False, True),
        ("HTTP://auth.example.com/x", None, False, True),
        ("http://127.0.0.1/x", "http://proxy.example.com:3128", False, True),
        ("http://127.0.0.1/x", "user:pw@proxy.example.com:3128", False, True),
        ("http://auth.example.com/x", None, True, False),
        ("http://127.0.0.1/x", "http://proxy.example.com:3128", True, False),
    ],
    ids=[
        "https",
        "https-via-proxy",
        "loopback",
        "loopback-via-loopback-proxy",
        "ipv6-loopback",
        "far-host",
        "far-host-upper-scheme",
        "via-far-proxy",
        "via-far-proxy-no-scheme",
        "far-host-allowed",
        "via-far-proxy-allowed",
    ],
)
def test_cleartext_leaves_this_machine_only_when_allowed(
    url: str, proxy: str | None, allowed: bool, refused: bool
) -> None:
    """http:// to a far host, or through a far proxy, is refused naming the option."""
    if not refused:
        check_cleartext(url, proxy, allowed=allowed)
        return
    with pytest.raises(InsecureTransport, match="--allow-insecure-transport"):
        check_cleartext(url, proxy, allowed=allowed)
