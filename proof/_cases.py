"""
The bad-input cases of `make proof`: malformed options, environment, files and server
responses, each with the exit code README: The CLI documents for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from proof._common import write_private
from proof._servers import Canned
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault

TOKEN_PATH = "/api/v1/auth/jwt/token"
BASIC_PATH = "/api/v1/auth/jwt/token/basic"
CLIENTS_PATH = "/api/v1/clients/"
JOURNALED = "journal of the create attempt (README: Rotation: journal before the remote write)"
STEAL = "{steal}/api/v1/auth/jwt/token"  # the second server a redirect points to
FAKE_JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwcm9vZiJ9." + "s" * 43


def _json(
    status: int, data: object, *headers: tuple[str, str]
) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
    return status, "application/json", json.dumps(data).encode(), tuple(headers)


def _user_token() -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
    return _json(200, {"access_token": FAKE_JWT, "token_type": "bearer", "expires_at": 4102444800})


@dataclass
class Case:
    """
    One malformed input and the exit code the documentation promises for it.
    """

    kind: str
    name: str
    args: list[str]
    expect: int
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    routes: Canned | None = None  # served by a canned server instead of the emulator
    faults: tuple[Fault, ...] = ()
    stdin: str | None = None
    user: bool = False
    stored: bool = True  # a valid stored credential to start from
    files_may_change: str = ""  # why a change on disk is by design, if it is
    also: tuple[int, ...] = ()  # other exit codes a careful reading of SPEC allows


def _file(name: str, data: bytes, mode: int = 0o600) -> Callable[[Path], None]:
    def setup(config: Path) -> None:
        write_private(config / name, data, mode)

    return setup


def _chmod(mode: int) -> Callable[[Path], None]:
    def setup(config: Path) -> None:
        (config / "app_credentials.json").chmod(mode)

    return setup


def _directory(config: Path) -> None:
    (config / "app_credentials.json").unlink()
    (config / "app_credentials.json").mkdir(mode=0o700)


def _without_secret(config: Path) -> None:
    data = json.loads((config / "app_credentials.json").read_text())
    del data["client_secret"]
    write_private(config / "app_credentials.json", json.dumps(data).encode())


def _bad_created_at(config: Path) -> None:
    data = json.loads((config / "app_credentials.json").read_text())
    data["created_at"] = "yesterday-ish"
    write_private(config / "app_credentials.json", json.dumps(data).encode())


def _token_body(body: bytes, content_type: str = "application/json", status: int = 200) -> Canned:
    return {TOKEN_PATH: (status, content_type, body, ())}


def cases() -> list[Case]:
    """
    Return the table's cases, in the order shown.
    """
    token = ["token", "--no-cache"]
    ensure = ["credentials", "ensure"]
    huge = b'{"access_token": "' + b"a" * (5 << 20) + b'", "token_type": "bearer"}'
    return [
        Case(
            "option",
            "`--auth-url ftp://example.com`",
            ["--auth-url", "ftp://example.com", *token],
            2,
        ),
        Case(
            "option",
            "`--auth-url` with port 99999",
            ["--auth-url", "http://127.0.0.1:99999", *token],
            2,
        ),
        Case(
            "option",
            "`--auth-url` with a query",
            ["--auth-url", "http://127.0.0.1/?a=1", *token],
            2,
        ),
        Case("option", "`--timeout soon`", ["--timeout", "soon", *token], 2),
        Case("option", "`--deadline -5`", ["--deadline", "-5", *token], 2),
        Case("option", "`--timeout 0`", ["--timeout", "0", *token], 2),
        Case("option", "`--profile ../etc`", ["--profile", "../etc", *token], 2),
        Case("option", "`token --min-ttl 10x`", ["token", "--min-ttl", "10x"], 2),
        Case(
            "option",
            "`rotate --max-age 5y`",
            ["credentials", "rotate", "--max-age", "5y"],
            2,
            user=True,
        ),
        Case("option", "unknown command `frobnicate`", ["frobnicate"], 2),
        Case("option", "unknown option `token --bogus`", ["token", "--bogus"], 2),
        Case("option", "`--log-level loud`", ["--log-level", "loud", *token], 2),
        Case("option", "`token --format yaml`", ["token", "--format", "yaml"], 2),
        Case(
            "option", "`emit --prefix 9BAD`", ["emit", "--format", "shell", "--prefix", "9BAD"], 2
        ),
        Case(
            "env", "`SPATIAFI_AUTH_URL=not a url`", token, 2, env={"SPATIAFI_AUTH_URL": "not a url"}
        ),
        Case("env", "`SPATIAFI_TIMEOUT=soon`", token, 2, env={"SPATIAFI_TIMEOUT": "soon"}),
        Case("env", "`SPATIAFI_PROFILE=a/b`", token, 2, env={"SPATIAFI_PROFILE": "a/b"}),
        Case("env", "`SPATIAFI_MIN_TTL=abc`", ["token"], 2, env={"SPATIAFI_MIN_TTL": "abc"}),
        Case(
            "env",
            "`SPATIAFI_CLIENT_ID` without secret, empty store",
            token,
            5,
            env={"SPATIAFI_CLIENT_ID": "a-client"},
            stored=False,
        ),
        Case(
            "env",
            "`SPATIAFI_PASSWORD=` (empty), empty store",
            ensure,
            2,
            env={"SPATIAFI_USERNAME": DEFAULT_EMAIL, "SPATIAFI_PASSWORD": ""},
            stored=False,
        ),
        Case(
            "env",
            "no `SPATIAFI_USERNAME`, empty store",
            ensure,
            2,
            env={"SPATIAFI_PASSWORD": DEFAULT_PASSWORD},
            stored=False,
        ),
        Case(
            "env",
            "`--password-stdin` with empty stdin",
            [*ensure, "--username", DEFAULT_EMAIL, "--password-stdin"],
            2,
            stdin="",
            stored=False,
        ),
        Case(
            "file",
            "credential file: truncated JSON",
            token,
            5,
            setup=_file("app_credentials.json", b'{"client_id": "x", "cli'),
        ),
        Case("file", "credential file: a directory", token, 5, setup=_directory),
        Case("file", "credential file: mode 0644", token, 5, setup=_chmod(0o644)),
        Case(
            "file",
            "credential file: invalid UTF-8",
            token,
            5,
            setup=_file("app_credentials.json", b'{"client_id": "\xff\xfe"}'),
        ),
        Case("file", "credential file: no client_secret", token, 5, setup=_without_secret),
        Case(
            "file",
            "credential file: a JSON array",
            token,
            5,
            setup=_file("app_credentials.json", b"[1, 2]"),
        ),
        Case("file", "credential file: bad created_at", token, 5, setup=_bad_created_at),
        Case(
            "file",
            "rotation-state.json: corrupt",
            ["credentials", "rotate", "--max-age", "0s"],
            5,
            setup=_file("rotation-state.json", b'{"version": 1, "rotation": {'),
            user=True,
        ),
        Case(
            "file", "`--config-dir` is a regular file", ["--config-dir", "/etc/hostname", *token], 2
        ),
        Case(
            "file",
            "`emit --format github` without `GITHUB_OUTPUT`",
            ["emit", "--format", "github"],
            5,
        ),
        Case(
            "file",
            "`emit --output` in a missing directory",
            ["emit", "--format", "dotenv", "--output", "/nonexistent/dir/.env"],
            5,
        ),
        Case("file", "no stored credentials", token, 5, stored=False),
        Case(
            "server",
            "token: 502 nginx HTML page, always",
            [*token],
            4,
            faults=(Fault(route="token", status=502),),
        ),
        Case(
            "server",
            "token: 500 text/plain, always",
            token,
            4,
            faults=(Fault(route="token", status=500),),
        ),
        Case(
            "server",
            "token: truncated JSON, always",
            token,
            4,
            faults=(Fault(route="token", kind="truncate"),),
        ),
        Case(
            "server",
            "token: connection dropped, always",
            token,
            4,
            faults=(Fault(route="token", kind="drop"),),
        ),
        Case(
            "server",
            "token: connection reset, always",
            token,
            4,
            faults=(Fault(route="token", kind="reset"),),
        ),
        Case(
            "server",
            "token: 429, Retry-After 99999",
            token,
            4,
            faults=(Fault(route="token", status=429, retry_after=99999),),
        ),
        Case("server", "token: nothing listening", ["--auth-url", "http://127.0.0.1:9", *token], 4),
        Case("server", "token: 200 `{}`", token, 4, routes=_token_body(b"{}")),
        Case(
            "server",
            "token: 200 `access_token: null`",
            token,
            4,
            routes=_token_body(b'{"access_token": null}'),
        ),
        Case(
            "server",
            "token: 200 `access_token: 12345` (a number)",
            token,
            4,
            routes=_token_body(
                b'{"access_token": 12345, "token_type": "bearer", "expires_at": 4102444800}'
            ),
        ),
        Case(
            "server",
            'token: 200 `expires_at: "soon"`',
            token,
            4,
            routes=_token_body(
                json.dumps(
                    {"access_token": FAKE_JWT, "token_type": "bearer", "expires_at": "soon"}
                ).encode()
            ),
        ),
        Case(
            "server",
            "token: 200 HTML page",
            token,
            4,
            routes=_token_body(b"<html><body>Welcome</body></html>", "text/html"),
        ),
        Case(
            "server",
            "token: 200 XML (wrong content type)",
            token,
            4,
            routes=_token_body(b"<token>abc</token>", "application/xml"),
        ),
        Case(
            "server",
            "token: 200 invalid UTF-8 body",
            token,
            4,
            routes=_token_body(b'{"access_token": "\xff\xfe\xfd", "expires_at": 4102444800}'),
        ),
        Case(
            "server",
            "token: 200 token without `expires_at`",
            token,
            4,
            also=(0,),
            routes=_token_body(
                json.dumps({"access_token": FAKE_JWT, "token_type": "bearer"}).encode()
            ),
        ),
        Case("server", "token: 200 JSON array", token, 4, routes=_token_body(b"[]")),
        Case("server", "token: 200, 5 MiB body", token, 4, routes=_token_body(huge)),
        Case(
            "server",
            "token: 401 HTML page",
            token,
            3,
            routes=_token_body(b"<h1>401 Authorization Required</h1>", "text/html", 401),
        ),
        Case(
            "server",
            "token: 400 `invalid_client`",
            token,
            3,
            routes={TOKEN_PATH: _json(400, {"error": "invalid_client"})},
        ),
        Case(
            "server",
            "token: 307 to another host",
            token,
            4,
            routes={TOKEN_PATH: (307, "text/plain", b"", (("location", STEAL),))},
        ),
        Case(
            "server",
            "ensure: login 200 without access_token",
            ensure,
            4,
            routes={BASIC_PATH: _json(200, {"token_type": "bearer"})},
            user=True,
            stored=False,
        ),
        Case("server", "ensure: login 404", ensure, 4, routes={}, user=True, stored=False),
        Case(
            "server",
            "ensure: create 201 without client_secret",
            ensure,
            4,
            routes={
                BASIC_PATH: _user_token(),
                CLIENTS_PATH: _json(201, {"client_id": "c-1", "user_id": "u"}),
            },
            user=True,
            stored=False,
            files_may_change=JOURNALED,
        ),
        Case(
            "server",
            "ensure: create 201 HTML page",
            ensure,
            4,
            routes={
                BASIC_PATH: _user_token(),
                CLIENTS_PATH: (201, "text/html", b"<p>created</p>", ()),
            },
            user=True,
            stored=False,
            files_may_change=JOURNALED,
        ),
    ]
