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
        ("https://auth.example.com/x", None, False, None),
        ("https://auth.example.com/x", "http://proxy.example.com:3128", False, None),
        ("http://127.0.0.1:8080/x", None, False, None),
        ("http://localhost/x", "http://127.0.0.1:3128", False, None),
        ("http://[::1]:9/x", None, False, None),
        ("http://auth.example.com/x", None, False, "--allow-insecure-transport"),
        ("HTTP://auth.example.com/x", None, False, "--allow-insecure-transport"),
        ("http://127.0.0.1/x", "http://proxy.example.com:3128", False, "add 127.0.0.1 to NO_PROXY"),
        ("http://127.0.0.1/x", "user:pw@proxy.example.com:3128", False, "to NO_PROXY"),
        ("http://auth.example.com/x", None, True, None),
        ("http://127.0.0.1/x", "http://proxy.example.com:3128", True, None),
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
    url: str, proxy: str | None, allowed: bool, refused: str | None
) -> None:
    """http:// to a far host is refused naming the option; through a far proxy (which only
    a caller's own proxies can make), naming NO_PROXY: the option would send it in the clear."""
    if refused is None:
        check_cleartext(url, proxy, allowed=allowed)
        return
    with pytest.raises(InsecureTransport, match=refused) as caught:
        check_cleartext(url, proxy, allowed=allowed)
    assert ("proxy" in str(caught.value)) != ("--allow-insecure-transport" in str(caught.value))
