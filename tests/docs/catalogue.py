"""
What happens to every fenced block of README.md and docs/, and to every file of examples/:
run here from the doc (tests/docs/test_recipes.py), run by another test (named), or not
executable, with the reason. A key is ``FILE::`` and the start of the block's first line;
a key ending in ``*`` covers every block whose identity starts with the rest. Each block and
example file is covered by exactly one key, and each key covers one at least
(tests/docs/test_catalogue.py).
"""

from __future__ import annotations

OUTPUT = "an example of what a command prints (or of one HTTP exchange), not a recipe"
HTTP = (
    "one request and answer of the emulator's control API, shown for reference; "
    "tests/emulator/ probes every route with hand-built requests"
)
GITHUB = "needs GitHub (a signed tag pushed, a release's attestation, the remote's tags)"
INSTALL = "installs packages; tests/unit/test_packaging.py builds the wheel and checks it"

# Blocks run by another test, which says so in its docstring; the node must exist.
RUN_ELSEWHERE: dict[str, str] = {
    "docs/many-machines.md::spec:": (
        "tests/deployments/test_kubernetes.py::test_the_cronjob_runs_as_written"
    ),
    "docs/deployments.md::apiVersion: v1": (
        "tests/deployments/test_kubernetes.py::test_the_consumer_pod_of_the_docs_runs"
    ),
    "examples/kubernetes/rotator-cronjob.yaml": (
        "tests/deployments/test_kubernetes.py::test_the_cronjob_runs_as_written"
    ),
    "examples/cron/spatiafi-rotate": (
        "tests/deployments/test_cron_systemd.py::test_sixty_nights_from_an_empty_config_dir"
    ),
    "examples/cron/spatiafi-rotate.cron": (
        "tests/deployments/test_cron_systemd.py::test_sixty_nights_from_an_empty_config_dir"
    ),
    "examples/systemd/spatiafi-rotate.service": (
        "tests/deployments/test_cron_systemd.py::test_the_systemd_service_as_written"
    ),
    "examples/systemd/spatiafi-rotate.timer": (
        "tests/actions/test_rotation_examples.py::test_systemd_units_verify"
    ),
    "examples/systemd/spatiafi-rotate-alert@.service": (
        "tests/actions/test_rotation_examples.py::test_systemd_on_failure_alerts_with_the_units_exit_code"
    ),
    "examples/demo.py": "tests/deployments/test_proxy.py::test_make_demo_runs_behind_the_proxy",
    "examples/spatiafi.mk": "tests/actions/test_makefile.py",
    "README.md::make demo*": "tests/e2e/test_demo.py",
}

NOT_EXECUTABLE: dict[str, str] = {
    "README.md::pip install ./spatiafi_ops-X.Y.Z*": INSTALL,
    "README.md::- id: spatiafi": (
        "a step to paste into a workflow (OWNER/<full-commit-sha> are the reader's); the same "
        "action runs from .github/workflows/selftest.yml in tests/docs/test_workflows.py"
    ),
    "README.md::import spatiafi_ops": (
        "reaches the real API (api.spatiafi.com) with a password the reader supplies; each "
        "call is covered by tests/e2e/test_python_api.py"
    ),
    "README.md::def test_my_pipeline*": "a fragment (its body is `...`); docs/emulator.md's "
    "complete version is run",
    "README.md::make test*": (
        "the project's own targets (this test is part of make test); CI runs them"
    ),
    "docs/logging.md::from . import _log": "package-internal code (a relative import)",
    "docs/many-machines.md::pip install*": INSTALL,
    "docs/many-machines.md::aws secretsmanager create-secret*": (
        "the aws CLI (not a test dependency); tests/aws create the same secret with boto3 "
        "against moto"
    ),
    "docs/aws-rotation.md::export SPATIAFI_STORE=*": (
        "names a real secret in a real account; tests/aws/test_secret_store.py runs the same "
        "create, rotate and token with SPATIAFI_STORE against moto's server and the emulator"
    ),
    "docs/aws-rotation.md::spatiafi-ops --store*": (
        "names a real secret; tests/aws/test_secret_store.py runs token with --store and "
        "SPATIAFI_STORE against moto's server"
    ),
    "docs/aws-rotation.md::pip install --target*": (
        "builds and deploys a Lambda function with the aws CLI (not a test dependency); "
        "tests/aws/test_aws_rotation.py drives the handler as Secrets Manager does"
    ),
    "docs/aws-rotation.md::aws secretsmanager rotate-secret*": (
        "the aws CLI (not a test dependency); tests/aws/test_aws_rotation.py calls "
        "RotateSecret with boto3 against moto, then the handler's steps"
    ),
    "docs/aws-rotation.md::{*": "an IAM policy document, not a recipe",
    "docs/releasing.md::git tag -s*": GITHUB,
    "docs/releasing.md::gh attestation verify*": GITHUB,
    "docs/releasing.md::git ls-remote*": GITHUB,
    "docs/releasing.md::- uses: OWNER*": "a line to paste into a workflow (a pinned action)",
    "examples/kubernetes/rotator-cronjob-secretsmanager.yaml": (
        "needs EKS with pod identity and a real secret; its commands (ensure, then rotate "
        "with SPATIAFI_STORE and no volume) run in tests/aws/test_secret_store.py and "
        "tests/aws/test_secret_store_crash.py against moto's server"
    ),
    "examples/workflows/secretsmanager-rotation.yml": (
        "needs GitHub's OIDC and an AWS role; its commands (ensure, rotate with "
        "SPATIAFI_STORE) run in tests/aws/test_secret_store.py against moto's server"
    ),
    "examples/workflows/deploy.yml": (
        "a workflow for the reader's repository (OWNER/<full-commit-sha>, secrets, "
        "./scripts/deploy.sh); its action runs from selftest.yml in tests/docs/test_workflows.py"
    ),
    "examples/workflows/long-job.yml": (
        "a workflow for the reader's repository; tests/actions/test_token_action.py runs its "
        "token action and re-mint"
    ),
    "examples/workflows/nightly-rotation.yml": (
        "writes GitHub secrets (write-back: repository); tests/actions/test_rotate_action.py "
        "runs the rotate action with a gh stand-in"
    ),
    "examples/workflows/shared-rotation.yml": (
        "writes GitHub secrets of several repositories; tests/actions/test_rotate_action.py "
        "runs the rotate action with a gh stand-in"
    ),
    "examples/zizmor.yml": "a lint configuration, read by make lint",
    "docs/emulator.md::{*": OUTPUT,
    "docs/emulator.md::[*": OUTPUT,
    "docs/files.md::{*": OUTPUT,
    "docs/logging.md::{*": OUTPUT,
    "docs/many-machines.md::{*": OUTPUT,
    **dict.fromkeys(
        [
            "docs/emulator.md::POST /api/v1/auth/jwt/token",
            "docs/emulator.md::GET /*",
            "docs/emulator.md::POST /_emulator/*",
            "docs/emulator.md::PUT /_emulator/*",
            "docs/emulator.md::DELETE /_emulator/*",
        ],
        HTTP,
    ),
}
