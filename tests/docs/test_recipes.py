"""
Every shell, make and Python recipe of README.md and docs/ that can run here, run from the doc
itself against the emulator, in a sandbox (tests/docs/sandbox.py). Placeholders are replaced
by what the sandbox has (each replacement must find its text, so a doc edit cannot silently
turn one off). Blocks that cannot run here are listed with a reason in tests/docs/catalogue.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output

from .blocks import Block, all_blocks
from .sandbox import BIN, REPO, Sandbox

Recipe = Callable[[Sandbox, Block], None]
RECIPES: dict[str, Recipe] = {}


def recipe(*keys: str) -> Callable[[Recipe], Recipe]:
    def register(function: Recipe) -> Recipe:
        for key in keys:
            RECIPES[key] = function
        return function

    return register


def substitute(text: str, *pairs: tuple[str, str]) -> str:
    """
    Replace each placeholder; each must be there (a doc edit may not turn one off silently).
    """
    for old, new in pairs:
        assert old in text, f"the recipe no longer says {old!r}: update its substitution"
        text = text.replace(old, new)
    return text


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def _block(key: str) -> Block:
    from .test_catalogue import covering

    found = [block for block in all_blocks() if covering(block.identity, [key])]
    assert found, f"no block for {key}"
    return found[0]


@pytest.fixture(name="sandbox")
def _sandbox(tmp_path: Path, spatiafi_emulator: EmulatorHandle) -> Sandbox:
    return Sandbox(tmp_path / "sandbox", spatiafi_emulator)


# -- README.md ------------------------------------------------------------------------------


@recipe("README.md::export SPATIAFI_USERNAME=*")
def _quick_start(sandbox: Sandbox, block: Block) -> None:
    env_file = sandbox.work / "run" / "app" / "spatiafi.env"
    env_file.parent.mkdir(parents=True)
    script = substitute(
        block.text,
        ("you@example.com", DEFAULT_EMAIL),
        ("SPATIAFI_PASSWORD=...", f"SPATIAFI_PASSWORD={DEFAULT_PASSWORD}"),
        ("/run/app/spatiafi.env", str(env_file)),
    )
    ok(sandbox.run(script))
    assert any("deploy.sh ran" in line for line in sandbox.ran())
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "SPATIAFI_ACCESS_TOKEN=" in env_file.read_text()


@recipe("README.md::include spatiafi.mk", "docs/scripting.md::include spatiafi.mk")
def _makefile(sandbox: Sandbox, block: Block) -> None:
    sandbox.spatiafi_ops("credentials", "create")
    (sandbox.work / "Makefile").write_text(block.text, encoding="utf-8")
    targets = [line.split(":")[0] for line in block.text.splitlines() if line.endswith(":")]
    ok(sandbox.run(f"make --no-print-directory {' '.join(targets)}"))
    assert len(sandbox.ran()) == len(targets), sandbox.ran()


@recipe("README.md::spatiafi-ops emulator serve*", "docs/emulator.md::spatiafi-ops emulator serve*")
def _serve(sandbox: Sandbox, block: Block) -> None:
    text = block.text.replace("--port 8000", "--port 0")  # a fixed port may be taken here
    for line in filter(None, (line.strip() for line in text.splitlines())):
        process = subprocess.Popen(
            ["bash", "-c", f"exec {line}"],
            env=sandbox.env,
            cwd=sandbox.work,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            info = sandbox.run(
                f"python -c 'import urllib.request; urllib.request.urlopen(\"{url}/_emulator\")'"
            )
            ok(info)
        finally:
            process.terminate()
            process.wait(timeout=10)


@recipe("README.md::import spatiafi_ops#2", "docs/emulator.md::import spatiafi_ops")
def _python_emulator(sandbox: Sandbox, block: Block) -> None:
    assert ok(sandbox.run(block.text, shell="python")).strip() == "1"  # one token request


@recipe("docs/emulator.md::import spatiafi_ops#2")
def _pytest_fixture(sandbox: Sandbox, block: Block) -> None:
    (sandbox.work / "test_pipeline.py").write_text(block.text, encoding="utf-8")
    done = sandbox.run("python -m pytest -q -p no:cacheprovider test_pipeline.py")
    assert "2 passed" in ok(done)


# -- docs/files.md, docs/logging.md, docs/network.md ---------------------------------------


def _credentials_json(emulator: EmulatorHandle) -> str:
    created = emulator.create_client()
    return json.dumps(
        {
            "user_id": created.user_id,
            "client_id": created.client_id,
            "client_secret": created.client_secret,
        }
    )


@recipe("docs/files.md::spatiafi-ops credentials import*")
def _imports(sandbox: Sandbox, block: Block) -> None:
    """Alternatives, one per line: each in a fresh sandbox with what it imports."""
    lines = [line for line in block.text.splitlines() if line.strip()]
    for number, line in enumerate(lines):
        world = Sandbox(sandbox.root / f"line-{number}", sandbox.emulator)
        config = world.home / ".config" / "spatiafi"
        config.mkdir(parents=True)
        text = _credentials_json(world.emulator)
        (config / "app_credentials.json").write_text(text)  # py-spatiafi's file: 0644
        (config / "app_credentials.json").chmod(0o644)
        (world.home / "Downloads").mkdir()
        (world.home / "Downloads" / "app_credentials.json").write_text(text)
        (world.work / "creds.json").write_text(text)
        world.env["CREDENTIALS_JSON"] = text
        ok(world.run(line))
        words = line.split()
        global_options = words[words.index("spatiafi-ops") + 1 : words.index("credentials")]
        token = world.spatiafi_ops(*global_options, "token")
        assert token.count(".") == 2, line


@recipe("docs/logging.md::import logging", "docs/logging.md::import structlog")
def _logging(sandbox: Sandbox, block: Block) -> None:
    mint = (
        "\nimport spatiafi_ops\n"
        "creds = spatiafi_ops.AppCredentials(client_id=%r, client_secret=%r)\n"
        "spatiafi_ops.mint_token(creds, spatiafi_ops.Settings(auth_url=%r))\n"
    )
    created = sandbox.emulator.create_client()
    script = block.text + mint % (created.client_id, created.client_secret, sandbox.emulator.url)
    ok(sandbox.run(script, shell="python"))


@recipe("docs/network.md::spatiafi-ops --allow-insecure-transport*")
def _cleartext(sandbox: Sandbox, block: Block) -> None:
    created = sandbox.emulator.create_client()
    sandbox.env |= {
        "SPATIAFI_CLIENT_ID": created.client_id,
        "SPATIAFI_CLIENT_SECRET": created.client_secret,
    }
    script = substitute(block.text, ("http://auth.internal", sandbox.emulator.url))
    assert ok(sandbox.run(script)).count(".") == 4  # two tokens


# -- docs/many-machines.md -------------------------------------------------------------------


@recipe("docs/many-machines.md::# on every host*")
def _every_host(sandbox: Sandbox, block: Block) -> None:
    sandbox.env |= sandbox.login()
    results = [json.loads(line) for line in ok(sandbox.run(block.text)).splitlines()]
    assert [result["action"] for result in results] == ["created", "unchanged"]


@recipe("docs/many-machines.md::# the single rotator*")
def _single_rotator(sandbox: Sandbox, block: Block) -> None:
    """moto's server is AWS Secrets Manager, a gh stand-in GitHub; the first run is
    ``credentials ensure`` with the same sinks (examples/kubernetes does the same)."""
    from tests.aws import moto_server
    from tests.aws.conftest import REGION

    process, endpoint = moto_server.start()
    try:
        sandbox.env |= {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(sandbox.root / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(sandbox.root / "aws-credentials"),
        }
        sinks = ["aws-secretsmanager:prod/spatiafi", "github:acme/deploy/environments/prod"]
        sandbox.spatiafi_ops("credentials", "ensure", *(f"--publish={sink}" for sink in sinks))
        sandbox.env |= sandbox.login()
        out = ok(sandbox.run(block.text))
    finally:
        moto_server.stop(process)
    assert json.loads(out.splitlines()[0])["action"] == "unchanged"
    assert out.splitlines()[1].count(".") == 2  # the consumer's token
    assert any("job.sh ran" in line for line in sandbox.ran())
    published = json.loads((sandbox.gh_secrets / "SPATIAFI_APP_CREDENTIALS").read_text())
    assert published["client_id"] == json.loads(out.splitlines()[0])["client_id"]


@recipe("docs/many-machines.md::# HashiCorp Vault*")
def _other_stores(sandbox: Sandbox, block: Block) -> None:
    """Each --publish of the block on a first ``credentials ensure``, with stand-ins for
    vault, kubectl, glab and op (tests/docs/stand_ins.py; jq is the real one). The Secret
    kubectl applies is mounted as kubelet would, and a consumer reads it through its links."""
    stores = sandbox.root / "stores"
    stores.mkdir()
    for tool in ("vault", "kubectl", "glab", "op"):
        sandbox.script(
            sandbox.stand_ins / tool,
            f'#!/bin/sh\nexec "{sys.executable}" -m tests.docs.stand_ins "$0" "$@"\n',
        )
    sandbox.env |= {"RECIPE_STORES": str(stores), "PYTHONPATH": str(REPO), **sandbox.login()}
    options = " ".join(
        line for line in block.text.splitlines() if line.strip() and not line.startswith("#")
    )
    result = json.loads(ok(sandbox.run(f"spatiafi-ops credentials ensure {options}")))
    assert result["action"] == "created"
    assert sorted(path.name for path in stores.iterdir()) == ["glab", "kubernetes", "op", "vault"]
    secret = stores / "kubernetes" / "spatiafi" / "credentials.json"
    assert secret.is_symlink()
    token = sandbox.spatiafi_ops("token", f"--credentials-from=file:{secret}")
    assert token.count(".") == 2


# -- docs/deployments.md ------------------------------------------------------------------------


@recipe("docs/deployments.md::export HTTPS_PROXY=*")
def _behind_a_proxy(sandbox: Sandbox, block: Block) -> None:
    """proxy.example.com cannot be reached from here, which is the point: loopback never
    goes through it."""
    sandbox.spatiafi_ops("credentials", "create")
    out = ok(sandbox.run(block.text))
    assert "reached directly" in out
    assert out.splitlines()[-1].count(".") == 2


# -- docs/scripting.md -------------------------------------------------------------------------


@recipe("docs/scripting.md::spatiafi-ops exec -- ./deploy.sh*", "docs/scripting.md::set -eu")
def _exec(sandbox: Sandbox, block: Block) -> None:
    sandbox.spatiafi_ops("credentials", "create")
    sandbox.spatiafi_ops("--profile", "ci", "credentials", "create")
    ok(sandbox.run(block.text))
    assert sandbox.ran(), "no command got the token"


@recipe("docs/scripting.md::spatiafi-ops --profile ci --auth-url*")
def _global_options(sandbox: Sandbox, block: Block) -> None:
    """The right line works; the wrong one says where the option goes (exit 2)."""
    sandbox.spatiafi_ops("--profile", "ci", "credentials", "create")
    script = substitute(block.text, ("https://auth.example.com", sandbox.emulator.url))
    right, wrong = [line for line in script.splitlines() if line.strip()]
    ok(sandbox.run(right))
    refused = sandbox.run(wrong)
    assert refused.returncode == 2
    assert "global options go before the command: `spatiafi-ops --profile ci token`" in (
        refused.stderr
    )


@recipe('docs/scripting.md::eval "$(_SPATIAFI_OPS_COMPLETE=bash_source*')
def _completion(sandbox: Sandbox, block: Block) -> None:
    """bash evaluates its line; zsh and fish are not installed here, so their scripts are
    generated (the part before the shell reads them) and checked to be non-empty."""
    bash, zsh, fish = [line.split("#")[0].strip() for line in block.text.splitlines()]
    ok(sandbox.run(f"{bash}\ncomplete -p spatiafi-ops"))
    for line in (zsh, fish):
        generator = line.removeprefix('eval "$(').removesuffix(')"').removesuffix(" | source")
        assert "spatiafi-ops" in ok(sandbox.run(generator))


# -- the tests -------------------------------------------------------------------------------


def _recipe_params() -> Iterator[object]:
    for key in sorted(RECIPES):
        yield pytest.param(key, id=key)


@pytest.mark.posix("bash, make and #! stand-ins")
@pytest.mark.parametrize("key", list(_recipe_params()))
def test_the_recipe_runs_as_written(sandbox: Sandbox, key: str) -> None:
    """The block, with its placeholders filled in, exits 0 against the emulator."""
    RECIPES[key](sandbox, _block(key))


def test_the_sandbox_uses_this_checkout_s_cli() -> None:
    """A recipe's spatiafi-ops is the one under test, not one installed elsewhere."""
    assert (BIN / "spatiafi-ops").exists()
    assert os.access(BIN / "spatiafi-ops", os.X_OK)
    record_output()
    assert sys.executable.startswith(str(BIN.parent))
