"""atomic_path: the target is replaced whole, or left as it was with nothing beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tune_seeds.atomic import atomic_path


def test_the_target_is_replaced_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "new" / "table.csv"  # the folder is created
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".table.csv.")
        tmp.write_text("a,b\n")
        assert not target.exists()  # nothing at the target until the writer is done
    assert target.read_text() == "a,b\n"
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_write_failing_midway_leaves_the_target_untouched(tmp_path: Path,
                                                            error: BaseException) -> None:
    target = tmp_path / "state.json"
    target.write_text('{"old": 1}')
    with pytest.raises(type(error)), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write('{"new": ')
        raise error
    assert target.read_text() == '{"old": 1}'
    assert list(tmp_path.iterdir()) == [target]


def test_a_failed_first_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"\0" * 10)
        raise ValueError("the writer gave up")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_insists_on_its_suffix_writes_the_given_path(tmp_path: Path) -> None:
    target = tmp_path / "cache.npz"
    with atomic_path(target, suffix=".tmp.npz") as tmp:
        np.savez(tmp, ids=np.arange(3))  # would write tmp + ".npz" without the suffix
    with np.load(target) as z:
        assert z["ids"].tolist() == [0, 1, 2]
    assert list(tmp_path.iterdir()) == [target]


def test_a_folder_is_moved_into_place_or_removed(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        (tmp / "sub").mkdir(parents=True)
        (tmp / "sub" / "weights").write_bytes(b"w")
        raise RuntimeError("interrupted export")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "config.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["config.json"]
    assert list(tmp_path.iterdir()) == [target]


def test_a_failed_rename_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a folder that is not empty: rename refused
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.mkdir()
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert [p.name for p in target.iterdir()] == ["inside"]


def test_writers_of_one_target_get_their_own_temporary_paths(tmp_path: Path) -> None:
    target = tmp_path / "trials.parquet"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block ends last: its rename wins
    assert list(tmp_path.iterdir()) == [target]
