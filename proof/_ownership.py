"""
`make proof`, ownership: revoke only what is provably ours and no longer needed (issue 17).

Runs the eleven seen cases (tests/e2e/test_ownership.py, and the AWS answer check in
tests/aws/test_failures.py) and the random-sequence property
(tests/e2e/test_ownership_property.py) at 2,000 sequences, each through pytest in its own
process against the emulator, and reports every case and the property's counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from proof._common import Figure, Section, Table

ROOT = Path(__file__).resolve().parent.parent
CASES = "tests/e2e/test_ownership.py"
AWS_CASE = (
    "tests/aws/test_failures.py::"
    "test_a_200_that_does_not_name_our_version_of_the_secret_is_no_write"
)
PROPERTY = "tests/e2e/test_ownership_property.py"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging"]
PYTEST.append("--hypothesis-show-statistics")  # prints how many sequences ran
TITLES = {
    "1": "fleet run, a client another profile stores",
    "2": "rollback by import --force, then the nightly rotate",
    "3": "two hosts: another host's fresh client around our lost create",
    "4": "a sink owed the new client, a later run that does not name it",
    "5": "AWS answers 200 without our version of the secret",
    "6": "a copied journal's revoking list names another profile's client",
    "7": "hand revocation: shared, unknown and never-held clients",
    "8": "a created secret the store cannot hold: revoked at once, no loop",
    "9": "a journal written beside 7,000 clients is read back",
    "10": "a create in flight when killed: its late client tracked",
    "11": "?pair= on github: a failed last write puts the id back",
}


def _pytest(root: Path, name: str, targets: list[str], env: dict[str, str]) -> tuple[Path, str]:
    """
    Run pytest on *targets*; return its JUnit XML report and its output.
    """
    report = root / f"{name}.xml"
    run = subprocess.run(
        [*PYTEST, f"--junitxml={report}", *targets],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    return report, run.stdout + run.stderr


def _outcomes(report: Path) -> dict[str, bool]:
    """
    Return test name → passed, from a JUnit XML report (a missing report: nothing ran).
    """
    if not report.is_file():
        return {}
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        outcomes[case.get("name", "?")] = not failed and not skipped
    return outcomes


def ownership(root: Path, *, sequences: int) -> Section:
    """
    The eleven cases, and the property over *sequences* random sequences.
    """
    root.mkdir(parents=True, exist_ok=True)
    section = Section("Ownership: revoke only what is provably ours")
    report, _ = _pytest(root, "cases", [CASES, AWS_CASE], {})
    outcomes = _outcomes(report)
    rows = []
    for number, title in TITLES.items():
        runs = [ok for name, ok in outcomes.items() if re.match(rf"test_{number}_", name)]
        if number == "5":
            runs = [ok for name, ok in outcomes.items() if name.startswith("test_a_200_")]
        held = bool(runs) and all(runs)
        rows.append([number, title, str(len(runs)), "yes" if held else "**NO**"])
    passed = sum(row[-1] == "yes" for row in rows)
    section.figures.append(
        Figure("issue 17's seen cases that now hold", f"{passed}/{len(rows)}", "all", passed == 11)
    )
    section.tables.append(Table(["case", "what was seen", "tests", "holds"], rows))

    env = {"SPATIAFI_OWNERSHIP_EXAMPLES": str(sequences)}
    report, output = _pytest(root, "property", [PROPERTY], env)
    held = all(_outcomes(report).values()) and bool(_outcomes(report))
    found = re.search(r"(\d+) passing, (\d+) failing", output)
    ran = int(found.group(1)) + int(found.group(2)) if found else 0
    section.figures.append(
        Figure(
            "random sequences run (3 profiles x 2 config dirs, one account)",
            str(ran),
            f">= {sequences}",
            ran >= sequences,
        )
    )
    section.figures.append(
        Figure(
            "revocations of a client some profile stores; live clients no disk holds "
            "after one convergence run per config dir",
            "0; 0" if held else "found (see the pytest output)",
            "0; 0",
            held,
        )
    )
    section.notes += [
        "Each case is a pytest test against the emulator (or moto's stand-in for AWS) "
        "that failed on the code before the ownership rule; the table counts its tests "
        "(case 5 has four answers, the other cases one test each).",
        "The property drives the library in-process: create, create --force, rotate, "
        "import --force, revoke, fleet rotation, with lost create or DELETE answers and a "
        "kill at a random crash point (the crash hook replaced by one that raises: a fake "
        "crash point); then one `rotate --all-profiles` per config dir. A client counts as "
        "held by a disk when a profile stores it or a journal names it as the previous "
        "client, an unfinished change's, a possible orphan or one listed for the user.",
    ]
    return section
