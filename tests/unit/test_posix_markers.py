"""
Every POSIX-only test says so: ``@pytest.mark.posix(reason)`` or a platform guard (run by
``make lint`` and ``make test``; the check is tests/posix_uses.py, the skip tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import skip_posix_only
from tests.posix_uses import scan, scan_source

REPO = Path(__file__).resolve().parents[2]

# Each probe is a whole test module with one unmarked POSIX-only use, and what is reported.
UNMARKED = [
    ("import signal\ndef test_x(code):\n    assert code == -signal.SIGKILL\n", "signal.SIGKILL"),
    ("import os, signal\ndef test_x(p):\n    os.kill(p, signal.SIGTERM)\n", "sends signal.SIGTERM"),
    ("import signal\ndef test_x(p):\n    p.send_signal(signal.SIGINT)\n", "sends signal.SIGINT"),
    ("import os\ndef test_x(tmp_path):\n    os.mkfifo(tmp_path / 'f')\n", "os.mkfifo"),
    ("import os\ndef test_x():\n    assert os.getuid()\n", "os.getuid"),
    ("import os\ndef test_x(p):\n    os.chown(p, 1, 1)\n", "os.chown"),
    ("def test_x():\n    import fcntl\n", "imports fcntl"),
    ("def test_x():\n    import resource\n", "imports resource"),
    ("import socket\ndef test_x():\n    socket.socket(socket.AF_UNIX)\n", "socket.AF_UNIX"),
    (
        "import stat\ndef test_x(p):\n    assert stat.S_IMODE(p.stat().st_mode) == 0o600\n",
        "asserts",
    ),
    ("def test_x(p):\n    assert p.stat().st_mode & 0o777 == 0o644\n", "POSIX mode 0o777"),
    ("def test_x(record):\n    assert record['mode'] == '0o600'\n", "POSIX mode 0o600"),
    ("def test_x(p):\n    p.write_text('#!/bin/sh\\necho hi\\n')\n", "#! script"),
    ("def test_x(p, py):\n    p.write_text(f'#!{py}\\n')\n", "#! script"),
    ("import subprocess\ndef test_x():\n    subprocess.run(['bash', '-c', 'true'])\n", "'bash'"),
    ("import subprocess\ndef test_x():\n    subprocess.run(['make', 'lint'])\n", "'make'"),
    ("def test_x(p):\n    p.symlink_to('elsewhere')\n", "symbolic link"),
    ("import subprocess\ndef test_x():\n    subprocess.run([], preexec_fn=id)\n", "preexec_fn"),
    # Through a helper, a fixture, a module constant, an imported helper's module.
    (
        "import os\ndef helper():\n    os.setsid()\ndef test_x():\n    helper()\n",
        "os.setsid (through helper)",
    ),
    (
        "import os, pytest\n@pytest.fixture(name='fifo')\ndef _fifo(tmp_path):\n"
        "    os.mkfifo(tmp_path / 'f')\ndef test_x(fifo):\n    pass\n",
        "os.mkfifo (through _fifo)",
    ),
    (
        "SCRIPT = '#!/bin/sh\\n'\ndef test_x(p):\n    p.write_text(SCRIPT)\n",
        "#! script (through SCRIPT)",
    ),
    (
        "BASH = ['bash', '-c']\nclass Job:\n    def run(self):\n        return BASH\n"
        "def test_x():\n    Job().run()\n",
        "(through Job)",
    ),
    # A mark that is not the posix mark, or a skipif about something else, covers nothing.
    (
        "import os, shutil, pytest\n@pytest.mark.skipif(shutil.which('x') is None, reason='x')\n"
        "def test_x():\n    os.getuid()\n",
        "os.getuid",
    ),
    (
        "import os, pytest\n@pytest.mark.slow\ndef test_x():\n    os.getuid()\n",
        "os.getuid",
    ),
    # Run when Windows imports the module, before any mark could skip it.
    ("import pytest, fcntl\npytestmark = pytest.mark.posix('locks')\n", "imports fcntl"),
    ("import os, pytest\nUID = os.getuid()\npytestmark = pytest.mark.posix('x')\n", "os.getuid"),
]

COVERED = [
    "import os, pytest\n@pytest.mark.posix('FIFOs')\ndef test_x(t):\n    os.mkfifo(t)\n",
    "import os, pytest\npytestmark = pytest.mark.posix('FIFOs')\n"
    "def test_x(t):\n    os.mkfifo(t)\n",
    "import os, pytest\npytestmark = [pytest.mark.posix('FIFOs'), pytest.mark.slow]\n"
    "def test_x(t):\n    os.mkfifo(t)\n",
    "import os, pytest\n@pytest.mark.posix('FIFOs')\nclass TestX:\n"
    "    def test_x(self, t):\n        os.mkfifo(t)\n",
    "import os, pytest\nclass TestX:\n    pytestmark = pytest.mark.posix('FIFOs')\n"
    "    def test_x(self, t):\n        os.mkfifo(t)\n",
    "import os, pytest\nPOSIX = pytest.mark.posix('FIFOs')\n@POSIX\ndef test_x(t):\n"
    "    os.mkfifo(t)\n",
    "import os, sys\ndef test_x(t):\n    if sys.platform != 'win32':\n        os.mkfifo(t)\n",
    "import os, sys\ndef test_x(t):\n    x = os.getuid() if sys.platform != 'win32' else 0\n",
    "import os, sys, pytest\ndef test_x(t):\n    if sys.platform == 'win32':\n"
    "        pytest.skip('no FIFOs')\n    os.mkfifo(t)\n",
    "import os, sys, pytest\n@pytest.mark.skipif(sys.platform == 'win32', reason='FIFOs')\n"
    "def test_x(t):\n    os.mkfifo(t)\n",
    "import os, pytest\n@pytest.mark.parametrize('cmd', [['py'], pytest.param(['bash'],"
    " marks=pytest.mark.posix('bash'))])\ndef test_x(cmd):\n    pass\n",
    "import os, pytest\ndef helper():\n    os.setsid()\n@pytest.mark.posix('sessions')\n"
    "def test_x():\n    helper()\n",
    "import signal\ndef test_x():\n    assert signal.SIGTERM == 15\n",  # named, not sent
    "def test_x(p):\n    p.chmod(0o600)\n    assert p.read_text() == 'x'\n",  # chmod is portable
    "import os, pytest\ndef helper():\n    os.setsid()\n",  # a helper no test reaches
    # A type annotation names a class without running it.
    "BASH = ['bash']\nclass Job:\n    def run(self):\n        return BASH\n"
    "JOBS: list[Job] = []\ndef test_x(job: Job) -> Job:\n    return JOBS\n",
]


def test_no_test_needs_posix_without_saying_so() -> None:
    """tests/: 0 unmarked uses of what Windows lacks."""
    # The check and these probes only name what they look for.
    itself = {Path(__file__).resolve(), REPO / "tests" / "posix_uses.py"}
    findings = scan(REPO, (p for p in (REPO / "tests").rglob("*.py") if p not in itself))
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize(("source", "reported"), UNMARKED)
def test_an_unmarked_posix_use_is_found(source: str, reported: str) -> None:
    """Each kind of use, unmarked and unguarded, is one finding naming it and its test."""
    (finding,) = scan_source(source)
    assert reported in finding.use
    assert finding.path == "tests/unit/test_probe.py"
    assert "without @pytest.mark.posix" in str(finding)


@pytest.mark.parametrize("source", COVERED)
def test_a_marked_or_guarded_use_is_not_found(source: str) -> None:
    """The marker on the test, its class or module, an alias, or a sys.platform guard."""
    assert scan_source(source) == []


def test_an_import_carries_a_helpers_use_across_modules(tmp_path: Path) -> None:
    """A test that imports a helper from another test module inherits its uses."""
    package = tmp_path / "tests"
    package.mkdir()
    (package / "test_helpers.py").write_text(
        "import signal\ndef crash(code):\n    assert code == -signal.SIGKILL\n"
    )
    (package / "test_user.py").write_text(
        "from tests.test_helpers import crash\ndef test_x():\n    crash(1)\n"
    )
    (finding,) = scan(tmp_path, package.glob("*.py"))
    assert finding.path == "tests/test_user.py"
    assert finding.test == "test_x"
    assert finding.use == "uses signal.SIGKILL (through crash)"


def test_the_marker_skips_on_windows_only_and_says_why(request: pytest.FixtureRequest) -> None:
    """posix(reason) adds a skip with its reason on win32, nothing elsewhere."""
    item = request.node
    item.add_marker(pytest.mark.posix("FIFOs"))
    skip_posix_only(item, "linux")
    skip_posix_only(item, "darwin")
    assert list(item.iter_markers("skip")) == []
    skip_posix_only(item, "win32")
    (skip,) = item.iter_markers("skip")
    assert skip.kwargs == {"reason": "POSIX only: FIFOs"}


@pytest.mark.parametrize("mark", [pytest.mark.posix(), pytest.mark.posix(" "), pytest.mark.posix])
def test_a_marker_without_a_reason_is_a_usage_error(
    request: pytest.FixtureRequest, mark: pytest.MarkDecorator
) -> None:
    """On every platform, so that Linux catches it before Windows would skip silently."""
    request.node.add_marker(mark)
    with pytest.raises(pytest.UsageError, match="needs one reason"):
        skip_posix_only(request.node, "linux")
