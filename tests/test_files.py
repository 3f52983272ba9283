"""harness.files: atomic writes and all-at-once folders, with the umask's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from harness.files import atomic_dir, atomic_write_json, atomic_write_text, write_new_file


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_follow_the_umask(tmp_path, umask):
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "b.json", {"k": 1})
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "b.json") == 0o666 & ~umask
    with atomic_dir(tmp_path / "set") as folder:
        write_new_file(folder / "c.txt", "y")
        write_new_file(folder / "d.bin", b"\0")
    assert _mode(tmp_path / "set") == 0o777 & ~umask
    assert _mode(tmp_path / "set" / "c.txt") == _mode(tmp_path / "set" / "d.bin") == 0o666 & ~umask


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "set"
    with pytest.raises(OSError):
        with atomic_dir(target) as folder:
            write_new_file(folder / "a.txt", "1")
            raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []  # nothing, not even the temporary folder
    with atomic_dir(target) as folder:
        write_new_file(folder / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as folder:
            write_new_file(folder / "b.txt", "new")
            assert not (target / "b.txt").exists()  # not visible before the block succeeds
            raise RuntimeError("render failed")
    assert [p.name for p in tmp_path.iterdir()] == ["set"] and [p.name for p in target.iterdir()] == ["a.txt"]
    with atomic_dir(target) as folder:
        write_new_file(folder / "b.txt", "new")
    assert [p.name for p in target.iterdir()] == ["b.txt"]  # replaced as a whole
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
