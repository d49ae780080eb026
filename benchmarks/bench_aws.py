"""
`make bench`: cached `spatiafi-ops token` reading its credentials from AWS Secrets Manager,
side by side with the same token from the profile and with the bare import, same run.

- profile: `spatiafi-ops token` from the profile's cache (what users without AWS run);
- aws: `spatiafi-ops token` with `SPATIAFI_CREDENTIALS_FROM=aws-secretsmanager:...`, its
  token cached too; goal: no more than the profile's plus one secret read, measured as a
  process that creates botocore's client and calls GetSecretValue once (and, for the
  record, the same through boto3, the layer spatiafi_ops._aws skips);
- bare import: requests + authlib + structlog + click + tenacity, bench_token.py's baseline;
- AWS modules that the profile's cached `token` imports (goal: none, the extra adds nothing).

AWS is moto's server (tests/aws/moto_server.py) on 127.0.0.1, with dummy credentials; the
machine's ~/.aws is never read. Runs interleave so that machine noise hits all alike.
Prints a table and exits non-zero if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, running

ROOT = Path(__file__).resolve().parent.parent
MOTO_SERVER = ROOT / "tests" / "aws" / "moto_server.py"
CLI = Path(sys.executable).with_name("spatiafi-ops")
BARE_IMPORT = "import requests, authlib.integrations.requests_client, structlog, click, tenacity"
SECRET = "spatiafi/bench"
ONE_READ = (
    "import botocore.session\n"
    "client = botocore.session.get_session().create_client('secretsmanager')\n"
    f"client.get_secret_value(SecretId={SECRET!r}, VersionStage='AWSCURRENT')\n"
)
ONE_READ_BOTO3 = (
    "import boto3\n"
    "client = boto3.session.Session().client('secretsmanager')\n"
    f"client.get_secret_value(SecretId={SECRET!r}, VersionStage='AWSCURRENT')\n"
)
AWS_MODULES_PROBE = (
    "import sys\n"
    "from spatiafi_ops.cli import cli\n"
    "try:\n"
    "    cli.main(['token'], standalone_mode=False)\n"
    "finally:\n"
    "    print(sum(m.partition('.')[0] in ('boto3', 'botocore') for m in sys.modules))\n"
)


def run_once(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed: {argv[:3]}: {proc.stderr[-500:]}")
    return elapsed, proc.stdout


def interleaved(
    commands: Mapping[str, tuple[Sequence[str], Mapping[str, str]]], runs: int
) -> dict[str, float]:
    """
    Return the median wall time of each command, the commands run in turn *runs* times.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            times[name].append(run_once(argv, env)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def start_moto() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(MOTO_SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        sys.exit("moto's server did not start")
    return process, f"http://127.0.0.1:{port}"


def aws_environment(home: Path, endpoint: str) -> dict[str, str]:
    return {
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "AKIABENCHMARKONLY000",
        "AWS_SECRET_ACCESS_KEY": "benchmark-only-not-a-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def publish_profile(env: Mapping[str, str]) -> None:
    """
    Publish the profile's credentials to the secret, as a rotator's --publish would.
    """
    code = (
        "from spatiafi_ops._aws import SecretsManagerSink\n"
        "from spatiafi_ops._config import Settings\n"
        "from spatiafi_ops.sinks._publish import Payload\n"
        "from spatiafi_ops.credentials._store import Store\n"
        "credentials = Store(Settings.from_env()).require()\n"
        f"SecretsManagerSink({SECRET!r}).publish(Payload('default', credentials, None),"
        " timeout=30)\n"
    )
    run_once([sys.executable, "-c", code], env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as scratch, running() as emulator:
            home = Path(scratch)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": scratch,
                "SPATIAFI_AUTH_URL": emulator.url,
                "SPATIAFI_USERNAME": DEFAULT_EMAIL,
                "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
                "SPATIAFI_LOG_LEVEL": "warning",
                **aws_environment(home, endpoint),
            }
            from_aws = {**env, "SPATIAFI_CREDENTIALS_FROM": f"aws-secretsmanager:{SECRET}"}
            run_once([str(CLI), "credentials", "create"], env)
            publish_profile(env)
            # Warm both caches (and the .pyc files): the runs below are cache hits.
            run_once([str(CLI), "token"], env)
            run_once([str(CLI), "token"], from_aws)
            before = emulator.counters().get("POST /api/v1/auth/jwt/token", 0)
            medians = interleaved(
                {
                    "bare": ([sys.executable, "-c", BARE_IMPORT], env),
                    "profile": ([str(CLI), "token"], env),
                    "aws": ([str(CLI), "token"], from_aws),
                    "one_read": ([sys.executable, "-c", ONE_READ], env),
                    "one_read_boto3": ([sys.executable, "-c", ONE_READ_BOTO3], env),
                    "python": ([sys.executable, "-c", "pass"], env),
                },
                args.runs,
            )
            mints = emulator.counters().get("POST /api/v1/auth/jwt/token", 0) - before
            probe = run_once([sys.executable, "-c", AWS_MODULES_PROBE], env)[1]
            aws_modules = int(probe.splitlines()[-1])  # after the token
    finally:
        assert moto.stdin is not None
        moto.stdin.close()
        moto.wait(timeout=10)

    bare, profile, aws = medians["bare"], medians["profile"], medians["aws"]
    # One secret read, the interpreter's start excluded.
    read = medians["one_read"] - medians["python"]
    read_boto3 = medians["one_read_boto3"] - medians["python"]
    figures = {
        "runs": args.runs,
        "bare_import_s": round(bare, 4),
        "profile_cached_token_s": round(profile, 4),
        "aws_cached_token_s": round(aws, 4),
        "one_secret_read_s": round(read, 4),
        "one_secret_read_boto3_s": round(read_boto3, 4),
        "aws_over_profile_s": round(aws - profile, 4),
        "profile_ratio": round(profile / bare, 3),
        "aws_ratio": round(aws / bare, 3),
        "mints_during_runs": mints,
        "aws_modules_on_profile_path": aws_modules,
    }
    goals = {
        # 10 % of the read for the noise of a shared machine.
        "aws_is_one_read_plus_cache_hit": aws - profile <= 1.1 * read,
        "cache_hits_only": mints == 0,
        "profile_path_imports_no_aws": aws_modules == 0,
    }
    verdict = {key: "ok" if met else "MISSED" for key, met in goals.items()}
    print(f"spatiafi-ops token with AWS, median of {args.runs} interleaved runs (127.0.0.1)")
    print(f"  bare import baseline          {bare * 1000:7.1f} ms")
    print(
        f"  token (cached, profile)       {profile * 1000:7.1f} ms   "
        f"ratio {figures['profile_ratio']:.3f}"
    )
    print(
        f"  token (cached, aws source)    {aws * 1000:7.1f} ms   "
        f"ratio {figures['aws_ratio']:.3f}  {(aws - profile) * 1000:+.1f} ms on profile"
    )
    print(
        f"  one secret read (botocore)    {read * 1000:7.1f} ms   "
        f"goal: aws - profile <= 1.1 x this  {verdict['aws_is_one_read_plus_cache_hit']}"
    )
    print(f"  the same read through boto3   {read_boto3 * 1000:7.1f} ms")
    print(
        f"  mints during the runs         {mints:7d}      "
        f"goal == 0     {verdict['cache_hits_only']}"
    )
    print(
        f"  AWS modules, profile path     {aws_modules:7d}      "
        f"goal == 0     {verdict['profile_path_imports_no_aws']}"
    )
    if args.json:
        args.json.write_text(json.dumps({**figures, "goals_met": goals}, indent=2) + "\n")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
