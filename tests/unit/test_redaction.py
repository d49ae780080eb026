"""
Secrets never reach logs: key-based masking and value-based scrubbing (SPEC §6).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from spatiafi_ops import _logging
from spatiafi_ops._redaction import REDACTED, forget_secrets, known_secrets, register_secret, scrub

SECRET = "s3cr3t-Value/with+odd=chars"


@pytest.fixture(name="registered")
def _registered() -> Iterator[str]:
    register_secret(SECRET)
    yield SECRET
    forget_secrets()


@pytest.fixture(name="log_stream")
def _log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    _logging.configure(log_format="json", level="debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def test_scrub_replaces_every_spelling_of_a_registered_secret(registered: str) -> None:
    """The raw value, its URL-encoding and its base64 are all scrubbed."""
    text = " ".join(
        [registered, quote(registered, safe=""), base64.b64encode(registered.encode()).decode()]
    )
    scrubbed = scrub(text)
    assert registered not in scrubbed
    assert quote(registered, safe="") not in scrubbed
    assert scrubbed.count(REDACTED) == 3


def test_short_values_are_not_registered() -> None:
    """Registering a tiny value would scrub ordinary words out of every message."""
    register_secret("abc")
    assert scrub("abc abc") == "abc abc"


def test_json_logs_mask_secret_keys_at_any_depth(log_stream: io.StringIO) -> None:
    """Keys that name secrets are masked, even nested in dicts and lists."""
    structlog.get_logger().info(
        "event",
        client_secret="x" * 10,
        nested={"password": "y" * 10, "ok": 1},
        items=[{"token": "z"}],
    )
    event = json.loads(log_stream.getvalue())
    assert event["client_secret"] == REDACTED
    assert event["nested"] == {"password": REDACTED, "ok": 1}
    assert event["items"] == [{"token": REDACTED}]


def test_json_logs_scrub_known_values_in_any_field(
    registered: str, log_stream: io.StringIO
) -> None:
    """A registered secret inside the event text or an innocent field is scrubbed."""
    structlog.get_logger().warning(f"failed with {registered}", detail=f"body: {registered}")
    line = log_stream.getvalue()
    assert registered not in line
    assert json.loads(line)["detail"] == f"body: {REDACTED}"


def test_exception_text_and_traceback_are_scrubbed(
    registered: str, log_stream: io.StringIO
) -> None:
    """Rendered exceptions pass through the same scrubbing, and locals are not shown."""
    local_secret = registered  # would appear if locals were rendered
    try:
        raise RuntimeError(f"boom {local_secret}")
    except RuntimeError:
        structlog.get_logger().exception("crashed")
    output = log_stream.getvalue()
    assert "boom" in output
    assert registered not in output


@given(
    secrets=st.lists(st.text(min_size=6, max_size=20), min_size=1, max_size=8),
    filler=st.lists(st.text(max_size=12), min_size=1, max_size=8),
)
def test_scrub_removes_every_registered_value_and_keeps_other_text(
    secrets: list[str], filler: list[str]
) -> None:
    """Interleaved secrets all disappear; text that holds none comes back unchanged."""
    forget_secrets()
    try:
        for value in secrets:
            register_secret(value)
        mixed = "".join(f + s for f, s in zip(filler, secrets, strict=False))
        scrubbed = scrub(mixed)
        assert all(value not in scrubbed for value in secrets) or any(
            value in REDACTED for value in secrets
        )
        clean = "".join(filler)
        if not any(value in clean for value in known_secrets()):
            assert scrub(clean) == clean
    finally:
        forget_secrets()
