"""
Secrets never reach logs: key-based masking and value-based scrubbing (README: Security), in every
spelling, short or cut short; scrub() never raises; terminal controls are written out.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from spatiafi_ops import _logging
from spatiafi_ops._redaction import (
    REDACTED,
    forget_secrets,
    known_secrets,
    printable,
    redact_value,
    register_secret,
    scrub,
)

SECRET = "s3cr3t-Value/with+odd=chars"
USER, PASSWORD = "user@example.com", 'pä"ss\\w\tord'


@pytest.fixture(name="registered")
def _registered() -> Iterator[str]:
    register_secret(SECRET)
    yield SECRET
    forget_secrets()


@pytest.fixture(name="login")
def _login() -> Iterator[str]:
    """Registered as _api.py does for a Basic login: the password, and user:password."""
    register_secret(PASSWORD)
    register_secret(f"{USER}:{PASSWORD}")
    yield PASSWORD
    forget_secrets()


@pytest.fixture(name="log_stream")
def _log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    _logging.configure(log_format="json", level="debug", stream=stream, environ={})
    yield stream
    structlog.reset_defaults()


def b64(text: str, *, urlsafe: bool = False, padded: bool = True) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode(text.encode()).decode()
    return encoded if padded else encoded.rstrip("=")


def spellings(value: str) -> list[str]:
    return [
        value,
        quote(value, safe=""),
        quote(value),
        quote(value, safe="").lower(),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        *(b64(value, urlsafe=u, padded=p) for u in (False, True) for p in (False, True)),
    ]


@pytest.mark.parametrize("index", range(len(spellings(PASSWORD))))
def test_every_spelling_of_a_secret_is_scrubbed(login: str, index: int) -> None:
    """Raw, URL-encoded, JSON- and repr-escaped, base64 with and without padding."""
    spelling = spellings(login)[index]
    assert scrub(f"detail: <{spelling}> end") == f"detail: <{REDACTED}> end"


@pytest.mark.parametrize("urlsafe", [False, True])
def test_the_basic_header_is_scrubbed_whole_and_inside_longer_base64(
    login: str, urlsafe: bool
) -> None:
    """base64 of user:password, and the password inside any longer base64 text."""
    header = b64(f"{USER}:{login}", urlsafe=urlsafe)
    assert scrub(f"Authorization: Basic {header}") == f"Authorization: Basic {REDACTED}"
    for prefix in ("", "a", "ab", "abc", "x:"):
        blob = b64(f"{prefix}{login}{prefix}", urlsafe=urlsafe)
        assert REDACTED in scrub(blob), prefix


@pytest.mark.parametrize("end", ["", '"', " ...", "\u2026", "\n"])
def test_a_basic_header_cut_anywhere_leaks_nothing_of_the_password(login: str, end: str) -> None:
    """A server that truncates the echoed header: every cut keeps no base64 of the password."""
    header = b64(f"{USER}:{login}")
    user_part = len(b64(f"{USER}:", padded=False)) - 1  # chars made of user-name bits alone
    for cut in range(user_part, len(header) + 1):
        text = f"Basic {header[:cut]}{end}"
        assert scrub(text) == f"Basic {REDACTED}{end}", cut


def test_a_different_base64_value_sharing_a_prefix_is_kept(login: str) -> None:
    """Only a cut-short prefix counts: a longer, different base64 value stays as it is."""
    other = b64(f"{USER}:another-password-entirely")
    assert scrub(f"Basic {other}") == f"Basic {other}"


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("Qx9", "pw Qx9.", f"pw {REDACTED}."),
        ("Qx9", "Qx9", REDACTED),
        ("Qx9", "aQx9 Qx9b Qx9_", "aQx9 Qx9b Qx9_"),  # inside words: not the secret
        ("Qx9", '"Qx9"', f'"{REDACTED}"'),
        ("a", "a bug in a word", f"{REDACTED} bug in {REDACTED} word"),
        ("+-+", "x+-+y", f"x{REDACTED}y"),  # no word characters: no boundary to require
        ("é1", "'é1'", f"'{REDACTED}'"),
    ],
)
def test_short_secrets_are_scrubbed_as_whole_tokens(secret: str, text: str, expected: str) -> None:
    """A secret shorter than six characters is scrubbed where it stands alone."""
    register_secret(secret)
    try:
        assert scrub(text) == expected
    finally:
        forget_secrets()


def test_overlapping_secrets_leave_no_part_of_either() -> None:
    """Matches that overlap merge into one marker."""
    register_secret("xxxxxxAAAA")
    register_secret("AAAABBBBBB")
    try:
        assert scrub("<xxxxxxAAAABBBBBB>") == f"<{REDACTED}>"
    finally:
        forget_secrets()


@pytest.mark.parametrize(
    "value",
    [None, 42, b"bytes", ["list"], object()],
)
def test_scrub_accepts_any_object(registered: str, value: object) -> None:
    """Non-text is scrubbed as its str()."""
    assert scrub(value) == str(value)


def test_scrub_never_raises() -> None:
    """A lone surrogate in a secret, or an object whose str() fails, is no exception."""

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    register_secret("surrogate-\udc80-secret")
    try:
        assert scrub("x surrogate-\udc80-secret y") == f"x {REDACTED} y"
        assert scrub(Hostile()) == REDACTED
    finally:
        forget_secrets()


@given(
    secrets=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6),
    filler=st.lists(st.text(max_size=12), min_size=1, max_size=6),
)
def test_scrub_removes_every_registered_value_and_keeps_other_text(
    secrets: list[str], filler: list[str]
) -> None:
    """Interleaved secrets of any length disappear; text that holds none comes back unchanged."""
    forget_secrets()
    try:
        for value in secrets:
            register_secret(value)
        separator = " "  # stand-alone, so that short secrets count as tokens
        mixed = separator.join(f + separator + s for f, s in zip(filler, secrets, strict=False))
        scrubbed = scrub(mixed)
        for value in secrets:
            if value in REDACTED or value.strip() != value or not value.strip():
                continue
            if len(value) >= 6:
                assert value not in scrubbed
            else:
                assert not re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", scrubbed) or any(
                    value in other for other in secrets if other != value
                )
        clean = "".join(filler)
        if not any(value in clean for value in known_secrets()):
            assert scrub(clean) == clean
    finally:
        forget_secrets()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("red \x1b[31malert\x1b[0m", "red \\x1b[31malert\\x1b[0m"),
        ("over\rwrite", "over\\rwrite"),
        ("csi \x9b2J and bell \x07", "csi \\x9b2J and bell \\x07"),
        ("bidi \u202egnp.exe", "bidi \\u202egnp.exe"),
        ("lone \udc80", "lone \\udc80"),
        ("tab\tstays", "tab\tstays"),
        ("two\nlines", "two\\nlines"),
    ],
)
def test_printable_writes_out_terminal_controls(text: str, expected: str) -> None:
    """Escape sequences, CR, C1, bidi overrides and surrogates cannot reach a terminal raw."""
    assert printable(text) == expected


def test_printable_keeps_newlines_of_multiline_text() -> None:
    """A traceback keeps its lines; its escapes do not."""
    assert printable("a\nb\x1b", multiline=True) == "a\nb\\x1b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line\u2028separator", "line\\u2028separator"),
        ("para\u2029graph", "para\\u2029graph"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
    ],
)
def test_printable_writes_out_every_unprintable_character(text: str, expected: str) -> None:
    """Line separators and invisible characters, which a log viewer may act on, too."""
    assert printable(text) == expected


def test_printable_scrubs_before_it_escapes_or_cuts(registered: str) -> None:
    """One helper for log fields and peers' error text: scrubbed first, cut to the limit."""
    shown = printable(f"\x1b[2J{registered} " + "x" * 300, limit=60)
    assert registered not in shown
    assert shown.startswith("\\x1b[2J**redacted** ")
    assert len(shown) == 60
    assert shown.endswith("…")


def test_redact_value_masks_secret_keys_and_walks_nested_data(registered: str) -> None:
    """Keys naming secrets are masked; values scrubbed at any depth; odd objects become text."""
    value = {"password": "x", "nested": [{"detail": registered}], "n": 1, "path": object()}
    redacted = redact_value(None, value)
    assert redacted["password"] == REDACTED
    assert redacted["nested"] == [{"detail": REDACTED}]
    assert redacted["n"] == 1
    assert isinstance(redacted["path"], str)
    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    assert REDACTED in json.dumps(redact_value("deep", deep))


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
