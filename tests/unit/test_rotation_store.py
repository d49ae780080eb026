"""
The engine's persistence seam over the config directory (``FileStore``): current
credentials, journal, switch, keep, and who holds a client, read at each call.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spatiafi_ops import Settings
from spatiafi_ops._models import AppCredentials
from spatiafi_ops.credentials._store import Store
from spatiafi_ops.rotation import CredentialStore, FileStore
from spatiafi_ops.rotation._state import Previous, RotationState

ONE = "00000000-0000-4000-8000-000000000001"
TWO = "00000000-0000-4000-8000-000000000002"


def file_store(config_dir: Path, profile: str = "default") -> FileStore:
    return FileStore(Store(Settings(config_dir=config_dir, profile=profile)))


def creds(client_id: str) -> AppCredentials:
    return AppCredentials(client_id, "s" * 43, "user-1", 1.0)


def test_a_file_store_is_a_credential_store(tmp_path: Path) -> None:
    store: CredentialStore = file_store(tmp_path)
    assert store.profile == "default"
    assert store.current() is None
    assert store.load_journal() == RotationState()


def test_switch_keep_and_the_journal_round_trip(tmp_path: Path) -> None:
    store = file_store(tmp_path, "a")
    store.switch(creds(ONE), replacing=None)
    store.switch(creds(TWO), replacing=creds(ONE))
    store.keep(creds(ONE))
    state = RotationState(previous=Previous(creds(ONE), "r-1", None))
    store.save_journal(state)
    assert store.current() == creds(TWO)
    assert store.load_journal().previous == state.previous
    assert [p.name.endswith(f"-{ONE}.json") for p in (tmp_path / "profiles/a/backups").iterdir()]


def test_holders_are_every_profile_storing_the_client_read_at_each_call(tmp_path: Path) -> None:
    a, b, c = (file_store(tmp_path, name) for name in ("a", "b", "c"))
    a.switch(creds(ONE), replacing=None)
    assert a.holders(ONE) == {"a"}
    b.switch(creds(ONE), replacing=None)  # after the first question: still seen
    c.switch(creds(TWO), replacing=None)
    assert a.holders(ONE) == {"a", "b"}
    assert a.claimed_client_ids() >= {ONE, TWO}


def test_a_corrupt_credentials_file_holds_no_client(tmp_path: Path) -> None:
    """No consumer can mint with it, so it keeps nothing alive (its own runs exit 5)."""
    a, b = file_store(tmp_path, "a"), file_store(tmp_path, "b")
    a.switch(creds(ONE), replacing=None)
    b.switch(creds(ONE), replacing=None)
    (tmp_path / "profiles/b/app_credentials.json").write_text("{not json")
    assert a.holders(ONE) == {"a"}


@pytest.mark.posix("symbolic links to a file need no privilege")
def test_a_credentials_file_we_may_not_read_may_hold_any_client(tmp_path: Path) -> None:
    a, b = file_store(tmp_path, "a"), file_store(tmp_path, "b")
    a.switch(creds(ONE), replacing=None)
    b.switch(creds(TWO), replacing=None)
    held = tmp_path / "profiles/b/app_credentials.json"
    held.rename(tmp_path / "elsewhere.json")
    held.symlink_to(tmp_path / "elsewhere.json")
    assert a.holders(ONE) == {"a", "b"}
    assert TWO not in a.claimed_client_ids()


def test_holders_see_a_file_rewritten_in_place(tmp_path: Path) -> None:
    """
    The holder reads are memoised by each file's identity (inode, size, mtime, ctime): an
    in-place edit of the same size, same inode, is still read at the next decision.
    """
    a, b = file_store(tmp_path, "a"), file_store(tmp_path, "b")
    a.switch(creds(ONE), replacing=None)
    b.switch(creds(TWO), replacing=None)
    assert a.holders(ONE) == {"a"}
    held = tmp_path / "profiles/b/app_credentials.json"
    before = held.stat()
    with held.open("r+b") as edited:  # no new inode, no new size
        text = edited.read().replace(TWO.encode(), ONE.encode())
        edited.seek(0)
        edited.write(text)
    # An editor's write a tick later (a coarse file system clock may not move in a test).
    os.utime(held, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert held.stat().st_ino == before.st_ino
    assert held.stat().st_size == before.st_size
    assert a.holders(ONE) == {"a", "b"}
