"""
Releases people can pin and trust: one version, a changelog, a license, an sdist that builds.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from spatiafi_ops import __version__

from .conftest import REPO

SCRIPTS = REPO / ".github" / "scripts"
# Keep a Changelog 1.1.0: the kinds of change, in its order.
CHANGE_KINDS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _script(name: str) -> ModuleType:
    qualified = f"spatiafi_release_{name}"
    spec = importlib.util.spec_from_file_location(qualified, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _build(target: str, source: Path, dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(dest)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = dest.glob("*.tar.gz" if target == "sdist" else "*.whl")
    return built


def test_the_changelog_has_unreleased_work_above_the_current_version() -> None:
    """
    Keep a Changelog: [Unreleased] first, then the package's own version, dated.
    """
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    assert re.fullmatch(rf"\[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}", headings[1])
    kinds = re.findall(r"^### (.+)$", text, re.MULTILINE)
    assert kinds
    assert set(kinds) <= set(CHANGE_KINDS)


def test_changelog_entries_are_one_sentence_per_line() -> None:
    """
    Each entry is one line ending in a full stop, so merges touch only their own lines.
    """
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = [line for line in text.splitlines() if line.startswith("- ")]
    assert entries
    for entry in entries:
        assert entry.endswith("."), entry
        assert not re.search(r"\.\s+[A-Z]", entry.rstrip(".")), f"two sentences: {entry}"


def test_the_license_is_the_mit_license_the_metadata_names() -> None:
    """
    LICENSE holds the MIT text and the holder pyproject names as the authors.
    """
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 spatiafi-ops contributors" in text
    assert 'license = "MIT"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def test_release_notes_come_from_the_changelog_section_of_the_tag() -> None:
    """
    The release workflow's check: the tag must be v + the version, and the section exists.
    """
    notes = _script("release_notes")
    body = notes.release_notes(f"v{__version__}")
    assert body.startswith("### ")
    assert "## [" not in body  # the next section is left out
    for tag in (__version__, f"v{__version__}.1", "v0.0.0"):
        with pytest.raises(notes.ReleaseError):
            notes.release_notes(tag)
    with pytest.raises(notes.ReleaseError, match=re.escape("no '## [9.9.9] - YYYY-MM-DD'")):
        notes.changelog_section("## [Unreleased]\n\n- x.\n", "9.9.9")


def test_the_wheel_check_keeps_only_what_each_platform_installs() -> None:
    """
    check_wheels.py evaluates markers for the target, not for the Python running it.
    """
    wheels = _script("check_wheels")
    text = (
        "tomli==2.5.0 ; python_full_version < '3.11' \\\n    --hash=sha256:aa\n"
        "joserfc==1.8.0 ; python_full_version >= '3.11' \\\n    --hash=sha256:bb\n"
        "pywin==1 ; sys_platform == 'win32' \\\n    --hash=sha256:cc\n"
        "click==8.5.1 \\\n    --hash=sha256:dd\n    # via spatiafi-ops\n"
    )
    linux, windows = wheels.PLATFORMS[0], wheels.PLATFORMS[-1]
    old = wheels.requirements_for(text, wheels.marker_environment(linux, "3.10"))
    assert re.findall(r"^(\S+)==", old, re.MULTILINE) == ["tomli", "click"]
    assert "--hash=sha256:aa" in old
    assert ";" not in old
    new = wheels.requirements_for(text, wheels.marker_environment(windows, "3.13"))
    assert re.findall(r"^(\S+)==", new, re.MULTILINE) == ["joserfc", "pywin", "click"]


def test_the_wheel_check_covers_every_hosted_runner_and_python() -> None:
    """
    Six runner platforms, Windows on ARM included, and Python 3.10 to 3.14 (3.11 on ARM
    Windows, where CPython starts); each keeps exactly one pin of every requirement.

    Static: the download itself needs the package index, so CI's requirements job runs it.
    """
    wheels = _script("check_wheels")
    assert wheels.PYTHONS == ("3.10", "3.11", "3.12", "3.13", "3.14")
    tags = {platform.name: platform.tags for platform in wheels.PLATFORMS}
    assert set(tags) == {
        "linux-x86_64",
        "linux-arm64",
        "macos-x86_64",
        "macos-arm64",
        "windows-x64",
        "windows-arm64",
    }
    assert tags["windows-arm64"] == ("win_arm64",)
    text = (REPO / "actions" / "requirements.txt").read_text(encoding="utf-8")
    body = text.split("\n", 2)[2]  # past the two lines of uv's header
    names = {name.lower() for name in re.findall(r"^([A-Za-z0-9_.-]+)==", body, re.MULTILINE)}
    for platform in wheels.PLATFORMS:
        assert platform.oldest_python == ("3.11" if platform.name == "windows-arm64" else "3.10")
        for python in wheels.PYTHONS[wheels.PYTHONS.index(platform.oldest_python) :]:
            kept = wheels.requirements_for(body, wheels.marker_environment(platform, python))
            pins = [name.lower() for name in re.findall(r"^(\S+)==", kept, re.MULTILINE)]
            assert len(pins) == len(set(pins)), (platform.name, python)
            if python != "3.10":
                pins += ["tomli", "typing-extensions"]  # backports 3.10 alone needs
            assert sorted(set(pins)) == sorted(names), (platform.name, python)
    arm = wheels.marker_environment(wheels.PLATFORMS[-1], "3.13")
    kept = wheels.requirements_for(body, arm)
    assert re.findall(r"^cryptography==(\S+)", kept, re.MULTILINE) == ["51.0.1"]


@pytest.mark.slow
def test_the_sdist_holds_the_package_and_builds_the_same_wheel(tmp_path: Path) -> None:
    """
    The sdist leaves the tests out (they need the whole repository) yet builds the wheel.
    """
    sdist = _build("sdist", REPO, tmp_path / "sdist")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        archive.extractall(tmp_path / "unpacked", filter="data")
    top = {name.split("/", 1)[0] for name in names}
    assert top == {
        "spatiafi_ops",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
        ".gitignore",
    }

    (unpacked,) = (tmp_path / "unpacked").iterdir()
    from_sdist = _build("wheel", unpacked, tmp_path / "from-sdist")
    from_tree = _build("wheel", REPO, tmp_path / "from-tree")
    assert from_sdist.name == from_tree.name == f"spatiafi_ops-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(from_sdist) as one, zipfile.ZipFile(from_tree) as other:
        assert sorted(one.namelist()) == sorted(other.namelist())
        metadata = one.read(f"spatiafi_ops-{__version__}.dist-info/METADATA").decode()
        assert f"spatiafi_ops-{__version__}.dist-info/licenses/LICENSE" in one.namelist()
    assert f"Version: {__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata


def test_docs_install_only_what_exists() -> None:
    """
    No page installs spatiafi-ops from a package index by name or pins a version it never had.
    """
    pages = [
        REPO / "README.md",
        REPO / "actions" / "README.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / "examples").rglob("*.yml"),
    ]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        # By name from an index ("pip install spatiafi-ops"), not a direct reference (" @ git+").
        assert not re.search(
            r"pip install (-U )?['\"]?spatiafi-ops(\[[\w,]+\])?(?![\w.[-])(?!\s*@)", text
        ), page
        assert not re.search(r"spatiafi-ops==|version: \d", text), page
        for tag in re.findall(r"# v(\d+\.\d+\.\d+)", text):
            assert "spatiafi-ops" not in text.split(f"# v{tag}")[0].splitlines()[-1], page


def test_pypi_publishing_is_trusted_and_inert_until_switched_on() -> None:
    """
    release.yml's pypi job: Trusted Publishing (id-token on that job alone, no password),
    the pypi environment, off unless the repository variable says so; the attested files.
    """
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text("utf-8"))
    jobs = workflow["jobs"]
    pypi = jobs["pypi"]
    assert pypi["if"] == "vars.PYPI_PUBLISH == 'true'"
    assert pypi["environment"]["name"] == "pypi"
    assert pypi["permissions"] == {"id-token": "write"}
    assert set(pypi["needs"]) == {"build", "attest"}
    (publish,) = [step for step in pypi["steps"] if "gh-action-pypi-publish" in step["uses"]]
    assert re.fullmatch(r"pypa/gh-action-pypi-publish@[0-9a-f]{40}", publish["uses"])
    assert not {"password", "user"} & set(publish.get("with") or {})
    with_id_token = {name for name, job in jobs.items() if "id-token" in job["permissions"]}
    assert with_id_token == {"attest", "pypi"}  # Sigstore signing, PyPI's OIDC exchange


def test_project_urls_name_the_repository_readme_installs_from() -> None:
    """
    Homepage, Source, Issues and Changelog all point at README's OWNER/spatiafi-ops.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    urls = project["urls"]
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog"}
    repository = "https://github.com/OWNER/spatiafi-ops"
    assert f"git+{repository}@vX.Y.Z" in (REPO / "README.md").read_text(encoding="utf-8")
    for url in urls.values():
        assert url.startswith(repository), url
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert "oauth2" in project["keywords"]
