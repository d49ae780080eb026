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


class _NeedMore(Exception):
    """
    The body has not fully arrived yet.
    """


class _Refused(Exception):
    """
    The body cannot be read: answer *status* and stop reading at *end*.
    """

    def __init__(self, status: int, detail: str, end: int) -> None:
        super().__init__(status)
        self.status, self.detail, self.end = status, detail, end


def _chunked(buffer: bytes, head: bytes, expects: bool) -> Framing:
    try:
        body, end = _decode_chunked(buffer, len(head))
    except _NeedMore:
        return Framing(head, None, expects_continue=expects)
    except _Refused as exc:
        return Framing(head, exc.end, error=exc.status, detail=exc.detail)
    return Framing(head, end, body=body)


def _decode_chunked(buffer: bytes, position: int) -> tuple[bytes, int]:
    """
    Return a chunked body (RFC 9112 §7.1) and the offset past it; trailers are dropped.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        newline = _line_end(buffer, position, _MAX_CHUNK_LINE)
        line = buffer[position:newline].split(b";")[0].strip()
        try:
            size = int(line, 16)
            if size < 0 or line.startswith((b"+", b"-")):
                raise ValueError(line)
        except ValueError:
            raise _Refused(400, _BAD_CHUNK, newline + 1) from None
        total += size
        if total > MAX_BODY:
            raise _Refused(413, _TOO_LARGE, newline + 1)
        position = newline + 1
        if size == 0:
            break
        chunks.append(buffer[position : position + size])
        position = _line_end(buffer, position + size, _MAX_CHUNK_LINE) + 1
    while True:  # trailers, up to the blank line
        newline = _line_end(buffer, position, MAX_HEAD)
        line, position = buffer[position : newline + 1], newline + 1
        if line in (b"\r\n", b"\n"):
            return b"".join(chunks), position


def _line_end(buffer: bytes, start: int, limit: int) -> int:
    """
    Return the offset of the newline that ends the line at *start*.
    """
    newline = buffer.find(b"\n", start, start + limit)
    if newline >= 0:
        return newline
    if len(buffer) - start >= limit:
        raise _Refused(400, _BAD_CHUNK, len(buffer))
    raise _NeedMore
