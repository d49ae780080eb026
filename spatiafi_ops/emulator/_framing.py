"""
Where one HTTP/1.1 request ends in the bytes read so far (RFC 9112 §6), without I/O.

The event loop buffers a connection's bytes until a whole request is there, then hands it to
a worker: a client that sends half a request holds a buffer, never a thread. The body is
decoded here, once; the request handler takes it from the ``Framing``.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY = 1 << 20
# The request line and the headers together (the stdlib refuses a single line beyond 64 KiB).
MAX_HEAD = 1 << 16
_MAX_CHUNK_LINE = 1024
_BAD_CHUNK = "Invalid chunked body"
_TOO_LARGE = "Request Entity Too Large"


class HeadTooLarge(ValueError):
    """
    The request line (414) or the headers (431) outgrew ``MAX_HEAD`` before they ended.
    """

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Framing:
    """
    A request whose head is complete.

    ``end`` is the offset just past the request (``None`` while its body is still arriving);
    ``body`` is the decoded body once ``end`` is known. ``error`` is the status to answer
    instead (400 malformed length or chunk, 413 too large), with ``detail``: the request ends
    where the error was found and the connection is then closed.
    """

    head: bytes
    end: int | None
    body: bytes = b""
    error: int | None = None
    detail: str = ""
    expects_continue: bool = False


def content_length(text: str) -> int | None:
    """
    Return the value of a ``Content-Length`` header, or ``None`` if it is not a number.
    """
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def frame(buffer: bytes) -> Framing | None:
    """
    Return the framing of the first request in *buffer*, or ``None`` until its head ends.

    Raises:
        HeadTooLarge: when the head is not complete within ``MAX_HEAD`` bytes.
    """
    head_end = _head_end(buffer)
    if head_end is None:
        if len(buffer) <= MAX_HEAD:
            return None
        raise HeadTooLarge(414 if buffer.find(b"\n", 0, MAX_HEAD) < 0 else 431)
    head = buffer[:head_end]
    fields = _fields(head)
    expects = fields.get(b"expect", b"").strip().lower() == b"100-continue"
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return _chunked(buffer, head, expects)
    length = content_length(fields.get(b"content-length", b"0").decode("latin-1"))
    if length is None:
        return Framing(head, head_end, error=400, detail="Invalid Content-Length")
    if length > MAX_BODY:
        return Framing(head, head_end, error=413, detail=_TOO_LARGE)
    end = head_end + length
    if len(buffer) < end:
        return Framing(head, None, expects_continue=expects)
    return Framing(head, end, body=buffer[head_end:end])


def _head_end(buffer: bytes) -> int | None:
    """
    Return the offset past the blank line that ends the head (a blank request line ends it
    too, as the stdlib's parser reads it).
    """
    start = 0
    while True:
        newline = buffer.find(b"\n", start, MAX_HEAD + 1)
        if newline < 0:
            return None
        line, start = buffer[start : newline + 1], newline + 1
        if line in (b"\r\n", b"\n"):
            return start


def _fields(head: bytes) -> dict[bytes, bytes]:
    """
    Return the header fields that frame the body, by lower-case name; the last one wins, as
    in the handler's view of the headers.
    """
    fields = {}
    for line in head.split(b"\n")[1:]:
        name, sep, value = line.partition(b":")
        name = name.lower()
        if sep and name in (b"content-length", b"transfer-encoding", b"expect"):
            fields[name] = value.strip()
    return fields


def _chunked(buffer: bytes, head: bytes, expects: bool) -> Framing:
    """
    Decode a chunked body (RFC 9112 §7.1); trailers are read and dropped.
    """
    position, chunks, total = len(head), [], 0
    while True:
        newline = buffer.find(b"\n", position, position + _MAX_CHUNK_LINE)
        if newline < 0:
            if len(buffer) - position >= _MAX_CHUNK_LINE:
                return Framing(head, len(buffer), error=400, detail=_BAD_CHUNK)
            return Framing(head, None, expects_continue=expects)
        line = buffer[position:newline].split(b";")[0].strip()
        try:
            size = int(line, 16)
            if size < 0 or line.startswith((b"+", b"-")):
                raise ValueError(line)
        except ValueError:
            return Framing(head, newline + 1, error=400, detail=_BAD_CHUNK)
        total += size
        if total > MAX_BODY:
            return Framing(head, newline + 1, error=413, detail=_TOO_LARGE)
        position = newline + 1
        if size == 0:
            return _trailers(buffer, head, position, b"".join(chunks), expects)
        data_end = position + size
        after = buffer.find(b"\n", data_end, data_end + _MAX_CHUNK_LINE)
        if after < 0:
            if len(buffer) - data_end >= _MAX_CHUNK_LINE:
                return Framing(head, len(buffer), error=400, detail=_BAD_CHUNK)
            return Framing(head, None, expects_continue=expects)
        chunks.append(buffer[position:data_end])
        position = after + 1


def _trailers(buffer: bytes, head: bytes, position: int, body: bytes, expects: bool) -> Framing:
    while True:
        newline = buffer.find(b"\n", position, position + MAX_HEAD)
        if newline < 0:
            if len(buffer) - position >= MAX_HEAD:
                return Framing(head, len(buffer), error=400, detail=_BAD_CHUNK)
            return Framing(head, None, expects_continue=expects)
        line, position = buffer[position : newline + 1], newline + 1
        if line in (b"\r\n", b"\n"):
            return Framing(head, position, body=body)
