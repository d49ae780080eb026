"""
Stand-ins for the secret stores' CLIs that docs/many-machines.md publishes to (each would
reach a remote service): each reads what the ``command:`` sink pipes to it, checks it, and
keeps it where the test reads it. ``kubectl apply`` lays the Secret out as kubelet would
mount it (tests/deployments/kubernetes.py), so a consumer can read it with
``--credentials-from file:``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path


def _store(name: str, text: str) -> None:
    json.loads(text)  # each store gets one JSON object
    Path(os.environ["RECIPE_STORES"], name).write_text(text, encoding="utf-8")


def kubectl(args: list[str]) -> None:
    """
    ``create secret generic NAME --from-file=KEY=/dev/stdin --dry-run=client -o yaml`` and
    ``apply -f -``: nothing else.
    """
    import yaml

    if args[:3] == ["create", "secret", "generic"]:
        name = args[3]
        (source,) = [a.removeprefix("--from-file=") for a in args if a.startswith("--from-file=")]
        key, _, path = source.partition("=")
        assert path == "/dev/stdin", args
        assert "--dry-run=client" in args, args
        encoded = base64.b64encode(sys.stdin.buffer.read()).decode()
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
        yaml.safe_dump({**secret, "data": {key: encoded}}, sys.stdout)
        return
    assert args == ["apply", "-f", "-"], args
    from tests.deployments.kubernetes import secret_volume, update_secret

    applied = yaml.safe_load(sys.stdin)
    data = {key: base64.b64decode(value) for key, value in applied["data"].items()}
    volume = Path(os.environ["RECIPE_STORES"], "kubernetes", applied["metadata"]["name"])
    if volume.exists():
        update_secret(volume, data)
    else:
        volume.parent.mkdir(exist_ok=True)
        secret_volume(volume, data, default_mode=0o400)


def main() -> None:
    tool, args = Path(sys.argv[1]).name, sys.argv[2:]
    if tool == "kubectl":
        kubectl(args)
    elif tool == "vault":
        assert args == ["kv", "put", "-mount=secret", "spatiafi/prod", "-"], args
        _store("vault", sys.stdin.read())
    elif tool == "glab":
        assert args[:3] == ["variable", "set", "SPATIAFI_APP_CREDENTIALS"], args
        _store("glab", sys.stdin.read())
    elif tool == "op":
        assert args == ["item", "create", "--vault", "Ops", "-"], args
        _store("op", sys.stdin.read())
    else:
        raise SystemExit(f"no stand-in for {tool}")


if __name__ == "__main__":
    main()
