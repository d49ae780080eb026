"""
The emulator's own compact-JWS (HS256) code: stdlib only, sharing nothing with the client side.

The client signs assertions with authlib; the emulator verifies them with this
module, so that a bug in one cannot be mirrored by the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 8192

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class JWTError(ValueError):
    """
    A token that is malformed, uses another algorithm, or carries a wrong signature.
    """


@dataclass(frozen=True)
class ParsedToken:
    """
    A compact JWS split into its decoded parts; nothing in it has been verified yet.
    """

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def b64url_encode(data: bytes) -> str:
    """
    Return *data* as unpadded base64url text (RFC 7515 §2).
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_HEADER_SEGMENT = b64url_encode(b'{"alg":"HS256","typ":"JWT"}')


def b64url_decode(text: str) -> bytes:
    """
    Return the bytes of unpadded base64url *text*, refusing padding and foreign characters.

    Raises:
        JWTError: when *text* is not strict unpadded base64url.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise JWTError("segment is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JWTError("segment is not unpadded base64url") from exc


def _refuse_constant(name: str) -> Any:
    # RFC 8259 §6: NaN and Infinity are not JSON numbers (Python's json accepts them).
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every token: json.loads(..., parse_constant=...) would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        # RFC 7519 §7.2: the segments are UTF-8 JSON.
        value = _DECODER.decode(b64url_decode(segment).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise JWTError(f"{what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise JWTError(f"{what} is not a JSON object")
    return value


def parse(token: str) -> ParsedToken:
    """
    Split a compact JWS into header, claims and signature without verifying anything.

    Raises:
        JWTError: when *token* is not three base64url segments of a JSON header and payload.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise JWTError("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("token is not a compact JWS (three dot-separated segments)")
    header = _json_object(parts[0], "header")
    claims = _json_object(parts[1], "payload")
    signature = b64url_decode(parts[2])
    return ParsedToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _sign(signing_input: bytes, key: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def verify_hs256(token: ParsedToken, key: bytes) -> None:
    """
    Check that *token* says HS256 and carries a valid HMAC-SHA256 signature under *key*.

    Only the exact algorithm ``HS256`` is accepted: ``none``, other HMAC sizes and every
    asymmetric algorithm are refused before any signature is computed.

    Raises:
        JWTError: on another algorithm or a wrong signature.
    """
    alg = token.header.get("alg")
    if alg != ALGORITHM:
        raise JWTError(f"algorithm {alg!r} is not accepted; use HS256")
    if "crit" in token.header:
        raise JWTError("critical header parameters are not supported")
    if not hmac.compare_digest(_sign(token.signing_input, key), token.signature):
        raise JWTError("signature is invalid")


def encode_hs256(claims: dict[str, Any], key: bytes) -> str:
    """
    Return a compact JWS of *claims*, signed HS256 with *key*.
    """
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{_HEADER_SEGMENT}.{payload}"
    signature = _sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{b64url_encode(signature)}"
