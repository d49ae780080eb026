"""
docs/emulator.md cannot drift: its HTTP examples are sent exactly as written, in order, to a
fresh emulator, and every answer is compared with the documented one.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from spatiafi_ops.cli._emulator import serve_command
from spatiafi_ops.emulator import EmulatorConfig, EmulatorHandle

from .doc_examples import (
    README,
    examples,
    guide_text,
    parse_request,
    python_blocks,
    same_shape,
    time_rejections,
)

# Values that differ from run to run: only their JSON type is compared.
DYNAMIC = frozenset(
    {
        "access_token",
        "client_id",
        "client_secret",
        "created_at",
        "expires_at",
        "id",
        "issuer",
        "now",
        "token_url",
        "user_id",
    }
)


def _send(
    handle: EmulatorHandle, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(handle.url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def test_every_documented_example_is_what_the_emulator_does(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    Each ```http request of the guide, sent byte for byte, gets the documented answer.
    """
    handle = spatiafi_emulator_factory()
    seen: dict[str, str] = {}
    documented = examples(guide_text())
    assert len(documented) >= 12
    for example in documented:
        request = example.request
        for old, new in seen.items():
            request = request.replace(old, new)
        method, path, headers, body = parse_request(request)
        status, data, _ = _send(handle, method, path, headers, body)
        where = request.partition("\n")[0]
        assert status == example.status, (where, data)
        if example.body is None:
            assert data == b"", where
        else:
            same_shape(json.loads(example.body), json.loads(data), DYNAMIC, seen, where)


def test_documented_paths_cover_the_control_api() -> None:
    """
    Every control route is shown with a body (or its answer) in the guide.
    """
    shown = {parse_request(e.request)[:2] for e in examples(guide_text())}
    for method, path in [
        ("GET", "/_emulator"),
        ("POST", "/_emulator/users"),
        ("POST", "/_emulator/clients"),
        ("GET", "/_emulator/clients"),
        ("PUT", "/_emulator/faults"),
        ("GET", "/_emulator/counters"),
        ("PUT", "/_emulator/clock"),
        ("POST", "/_emulator/reset"),
    ]:
        assert (method, path) in shown, (method, path)
    assert any(m == "DELETE" and p.startswith("/_emulator/clients/") for m, p in shown)


def test_every_serve_option_and_config_field_is_documented() -> None:
    """
    The guide lists each `emulator serve` option and each EmulatorConfig field.
    """
    text = guide_text()
    for param in serve_command.params:
        names = [*param.opts, *param.secondary_opts]
        if "--help" in names:
            continue
        assert any(f"`{name}" in text for name in names), names
    for field in dataclasses.fields(EmulatorConfig):
        assert f"`{field.name}`" in text, field.name


@pytest.mark.parametrize(
    "failure",
    [
        "`exp` passed",
        "`iat` in the future",
        "`nbf` in the future",
        "`exp - iat` too long",
        "no `iat`, `exp` too far",
    ],
)
def test_time_rejection_table_is_complete(failure: str) -> None:
    """
    Each time failure has a documented description (checked against the server in
    test_clock.py).
    """
    assert failure in time_rejections(guide_text())


@pytest.mark.parametrize("source", ["guide", "readme"])
def test_running_snippets_run(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    """
    The running() examples of the guide and the README run as written: create_client()
    feeds mint_token() directly, and the counters see that one mint.
    """
    text = guide_text() if source == "guide" else README.read_text(encoding="utf-8")
    (snippet,) = python_blocks(text, "with running() as emulator:")
    exec(compile(snippet, f"<{source} snippet>", "exec"), {})
    # The last line: library silence (no token_minted line before it) is tested elsewhere.
    assert capsys.readouterr().out.splitlines()[-1] == "1"  # one mint, before the faults
