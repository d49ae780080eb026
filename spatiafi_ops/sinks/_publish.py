"""
Sinks: where a rotation publishes new credentials for the consumers that read them there.

``--publish SINK`` (repeatable; ``SPATIAFI_PUBLISH``, one per line) on every verb that
changes credentials. The engine publishes after the switch, journals each sink's success,
and revokes the previous client only once every sink has the new one (docs/many-machines.md)::

    command:SHELL-COMMAND                     the credentials as JSON on the command's stdin
    github:OWNER/REPO[/environments/ENV]      gh secret set (stdin), one JSON secret
    github:org/ORG                            ... an organisation secret
    aws-secretsmanager:SECRET-ID              a new AWSCURRENT version (extra spatiafi-ops[aws])

A sink raises ``SecretStoreUnavailable`` (exit 4, a later run resumes) or
``SecretStoreRefused`` (exit 5, refused or misconfigured), never with a secret in the text.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

from .._children import run_child
from .._environ import child_environment
from .._errors import SecretStoreRefused, SecretStoreUnavailable, UsageError
from .._models import Payload
from .._redaction import MAX_DETAIL, printable

# sysexits.h EX_TEMPFAIL: "temporary failure, try again later" — a command's way to say
# it could not reach its store; any other failure means it refused.
EX_TEMPFAIL = 75
DEFAULT_SECRET_NAME = "SPATIAFI_APP_CREDENTIALS"
# The undo of a pair's id may run past the sink's budget by this much: a failed undo leaves
# a new id with the old secret until the next run.
UNDO_TIME = 10.0
_GITHUB_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


class Sink(Protocol):
    """
    A place credentials are published to; ``target`` is its spec, which names it in results.
    """

    @property
    def target(self) -> str:
        """
        Return the sink's spec as given (never holds a secret).
        """

    def publish(self, payload: Payload, *, timeout: float) -> None:
        """
        Write *payload* within *timeout* seconds; idempotent, so a rerun may repeat it.
        """


def _tail(stderr: bytes) -> str:
    """
    Return the last line a failed tool wrote, scrubbed and printable, for its error.
    """
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return printable(lines[-1], limit=MAX_DETAIL) if lines else "no output"


def _run(target: str, argv: list[str], data: bytes, *, timeout: float) -> tuple[int, bytes]:
    """
    Run *argv* with *data* on stdin and no credential in its environment, within *timeout*;
    return its exit status and the end of its stderr.

    Raises:
        SecretStoreRefused: when the program cannot be started.
        SecretStoreUnavailable: when it runs past *timeout* (it was stopped).
    """
    try:
        done = run_child(argv, data, timeout=timeout, env=child_environment(os.environ))
    except OSError as exc:
        raise SecretStoreRefused(
            f"cannot run the sink {target}: {exc.strerror or exc}", target=target
        ) from None
    if done.returncode is None:
        raise SecretStoreUnavailable(
            f"the sink {target} did not finish within {timeout:.0f}s and was stopped; "
            "a later run publishes again",
            target=target,
        )
    return done.returncode, done.stderr_tail


@dataclass(frozen=True)
class CommandSink:
    """
    ``command:SHELL-COMMAND``: runs through ``sh -c`` (``cmd /d /s /c`` on Windows) with
    the credentials JSON on stdin. Exit 0 publishes; 75 (EX_TEMPFAIL), a signal or a
    timeout is transient (exit 4); any other status is a refusal (exit 5).
    """

    command: str

    @property
    def target(self) -> str:
        return f"command:{self.command}"

    def publish(self, payload: Payload, *, timeout: float) -> None:
        if sys.platform == "win32":
            argv = [os.environ.get("COMSPEC", "cmd.exe"), "/d", "/s", "/c", self.command]
        else:
            argv = ["/bin/sh", "-c", self.command]
        code, stderr = _run(self.target, argv, payload.encoded(), timeout=timeout)
        if code == 0:
            return
        detail = _tail(stderr)
        if code < 0 or code == EX_TEMPFAIL:
            raise SecretStoreUnavailable(
                f"the sink {self.target} failed (status {code}: {detail}); a later run "
                "publishes again",
                target=self.target,
            )
        raise SecretStoreRefused(
            f"the sink {self.target} refused the credentials (status {code}: {detail})",
            target=self.target,
        )


@dataclass(frozen=True)
class GitHubSink:
    """
    ``github:OWNER/REPO[/environments/ENV]`` or ``github:org/ORG``, through ``gh secret set``
    with the value on stdin: one JSON secret (``?secret=NAME``, default
    ``SPATIAFI_APP_CREDENTIALS``), one write, so readers never see a mismatched pair; with
    ``?pair=PREFIX`` also py-spatiafi's ``PREFIXCLIENT_ID`` then ``PREFIXCLIENT_SECRET``
    (the id put back to the previous client's if the secret's write fails).
    """

    spec: str
    scope: tuple[str, ...]  # gh's arguments that choose the repository/environment/org
    secret: str = DEFAULT_SECRET_NAME
    pair_prefix: str | None = None

    @property
    def target(self) -> str:
        return self.spec

    def publish(self, payload: Payload, *, timeout: float) -> None:
        data = payload.to_json()
        end = time.monotonic() + timeout  # one budget for every value
        json_secret = json.dumps({k: v for k, v in data.items() if k != "profile"})
        self._set(self.secret, json_secret, end)
        if self.pair_prefix is None:
            return
        # The id first, then the secret: if the secret's write fails, the id is put back,
        # so readers of the pair never keep a new id with the old secret (which cannot mint).
        id_name = f"{self.pair_prefix}CLIENT_ID"
        self._set(id_name, payload.credentials.client_id, end)
        try:
            self._set(f"{self.pair_prefix}CLIENT_SECRET", payload.credentials.client_secret, end)
        except (SecretStoreUnavailable, SecretStoreRefused):
            if payload.previous_client_id is not None:
                self._set(id_name, payload.previous_client_id, end + UNDO_TIME)  # the undo
            raise

    def _set(self, name: str, value: str, end: float) -> None:
        """
        Set one GitHub secret with ``gh secret set`` (the value on stdin), by *end*.
        """
        argv = ["gh", "secret", "set", name, *self.scope]
        code, stderr = _run(
            self.target, argv, value.encode("utf-8"), timeout=end - time.monotonic()
        )
        if code == 0:
            return
        # gh's exit statuses: 4 = authentication needed, 1 = the call failed.
        detail = _tail(stderr)
        if code == 1:
            raise SecretStoreUnavailable(
                f"gh could not set {name} for {self.target} ({detail}); a later run "
                "publishes again",
                target=self.target,
            )
        raise SecretStoreRefused(
            f"gh refused to set {name} for {self.target} (status {code}: "
            f"{detail}); check GH_TOKEN and its permissions",
            target=self.target,
        )


def _github_sink(spec: str, rest: str) -> GitHubSink:
    path, _, query = rest.partition("?")
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == "org":
        scope: tuple[str, ...] = ("--org", parts[1])
    elif len(parts) == 2:
        scope = ("--repo", f"{parts[0]}/{parts[1]}")
    elif len(parts) == 4 and parts[2] == "environments":
        scope = ("--repo", f"{parts[0]}/{parts[1]}", "--env", parts[3])
    else:
        raise UsageError(
            f"{spec!r} is not a GitHub sink; use github:OWNER/REPO, "
            "github:OWNER/REPO/environments/ENV or github:org/ORG"
        )
    if not all(_GITHUB_NAME.fullmatch(part) for part in parts):
        raise UsageError(f"{spec!r} names an invalid GitHub owner, repository or environment")
    options: Mapping[str, str] = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - {"secret", "pair"}
    if unknown:
        raise UsageError(f"{spec!r}: unknown option {sorted(unknown)[0]!r} (secret=, pair=)")
    secret = options.get("secret", DEFAULT_SECRET_NAME)
    pair = options.get("pair")
    for name in (secret, f"{pair}CLIENT_ID" if pair is not None else "X"):
        if not _SECRET_NAME.fullmatch(name):
            raise UsageError(f"{spec!r}: {name!r} cannot name a GitHub secret")
    return GitHubSink(spec, scope, secret, pair)


def parse_sink(spec: str, *, allow_insecure_transport: bool = False) -> Sink:
    """
    Return the sink that *spec* names; *allow_insecure_transport* lets a network sink
    send in cleartext beyond loopback (``--allow-insecure-transport``).

    Raises:
        UsageError: for an unknown kind or a malformed spec (exit 2).
        MissingExtra: for ``aws-secretsmanager:`` without ``spatiafi-ops[aws]``.
    """
    kind, sep, rest = spec.strip().partition(":")
    if not sep or not rest:
        raise UsageError(
            f"{spec[:80]!r} is not a sink; use command:..., github:..., or "
            "aws-secretsmanager:SECRET-ID"
        )
    if kind == "command":
        return CommandSink(rest)
    if kind == "github":
        return _github_sink(spec.strip(), rest)
    if kind == "aws-secretsmanager":
        # the AWS adapter: only for an aws-secretsmanager: sink
        from .._aws import SecretsManagerSink

        return SecretsManagerSink(rest, allow_insecure_transport)
    raise UsageError(
        f"unknown sink kind {kind[:40]!r}; use command:, github: or aws-secretsmanager:"
    )


def parse_sinks(text: str, *, allow_insecure_transport: bool = False) -> tuple[Sink, ...]:
    """
    Return the sinks of ``SPATIAFI_PUBLISH``: one spec per line, blank lines skipped.
    """
    return tuple(
        parse_sink(line, allow_insecure_transport=allow_insecure_transport)
        for line in text.splitlines()
        if line.strip()
    )
