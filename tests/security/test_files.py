"""Files of a fresh data dir: the dir 0700, every file in it 0600, secrets never chmod'ed after writing."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flosspay.adapters.cli.serve import demo_client
from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.private_files import create_private_file, replace_private_file

pytestmark = pytest.mark.security


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most shells run with: files 0644, dirs 0755 unless asked otherwise
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def no_chmod_of_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file made readable first and chmod'ed after has a window where anyone may read it: forbid it."""
    real_chmod = os.chmod

    def chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        if not Path(path).is_dir():
            raise AssertionError(f"{path} was chmod'ed after it was created")
        real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", chmod)


def _serve_setup(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``flosspay serve`` does to a data dir before it listens (without listening)."""
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    settings = load_settings({"FLOSSPAY_DATA_DIR": str(data_dir), "FLOSSPAY_RAILS": "upi"})
    container = Container(settings=settings)
    upgrade(settings.database.url, container.secret_box())
    demo_client(container, settings)
    with container.uow_factory()() as uow:  # a write, so SQLite has its -wal and -shm files
        uow.clients.list()
    container.engine().dispose()


def test_a_fresh_data_dir_is_private_and_so_is_every_file_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None, no_chmod_of_files: None
) -> None:
    data_dir = tmp_path / "fresh" / ".flosspay"
    _serve_setup(data_dir, monkeypatch)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = sorted(p for p in data_dir.rglob("*"))
    names = {p.name for p in files}
    assert {"secret.key", "demo-client.json", "flosspay.db"} <= names
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path.name} is {oct(mode)}"


def test_a_sqlite_database_elsewhere_is_created_0600(tmp_path: Path, usual_umask: None) -> None:
    from flosspay.adapters.persistence.engine import create_engine

    path = tmp_path / "db" / "other.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x int)")
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_secret_files_are_never_overwritten_in_place_and_replace_atomically(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "k"
    create_private_file(path, b"one")
    with pytest.raises(FileExistsError):
        create_private_file(path, b"two")
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    with pytest.raises(FileExistsError):
        create_private_file(tmp_path / "link", b"x")  # a planted symlink is not followed
    inode = path.stat().st_ino
    replace_private_file(path, b"three")
    assert path.read_bytes() == b"three" and path.stat().st_ino != inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "link"]  # no temporary left behind
