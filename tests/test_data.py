from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tune_seeds.trial.data as data_mod
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.data import DataError, prepare_data, read_glue_tsv, resolve_glue_dir
from tune_seeds.trial.tasks import TASK_NAMES, get_task

from .conftest import write_glue_fixture


@pytest.mark.parametrize("name", TASK_NAMES)
def test_reads_every_task_layout(name: str, glue_fixture_dir: Path) -> None:
    task = get_task(name)
    examples = read_glue_tsv(glue_fixture_dir / task.glue_dir_name / "train.tsv", task)
    assert len(examples) == 48
    assert all(len(e.texts) == len(task.text_columns) for e in examples)
    assert [e.label for e in examples[:3]] == [0, 1, 1]
    # Bare double quotes stay in the text: no CSV quoting.
    assert any('"quoted"' in " ".join(e.texts) for e in examples)


def test_bom_is_not_part_of_the_header(glue_fixture_dir: Path) -> None:
    task = get_task("mrpc")
    examples = read_glue_tsv(glue_fixture_dir / "MRPC" / "dev.tsv", task)
    assert len(examples) == 16


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "RTE" / "train.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "index\tsentence1\tsentence2\tlabel\n"


@pytest.mark.parametrize(
    "body,message",
    [
        ("", r"train.tsv: no examples \(empty file\)"),
        (HEADER, r"train.tsv: no examples \(empty file\)"),
        (HEADER + "0\ta\tb\tentailment\n1\ta\tb\n", r"train.tsv:3: expected 4 .* found 3"),
        (HEADER + "0\ta\tb\tentailment\n\n", r"train.tsv:3: expected 4 .* found 0"),
        (HEADER + "0\ta\tb\tmaybe\n", r"train.tsv:2: unknown label 'maybe' for rte"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(DataError, match=message):
        read_glue_tsv(path, get_task("rte"))


def test_non_utf8_byte_names_file_line_and_column(tmp_path: Path) -> None:
    # After the BOM (not counted) and with enough lines that the decoder reads ahead.
    good = "".join(f"{i}\ta\tb\tentailment\n" for i in range(1, 2000))
    path = tmp_path / "RTE" / "train.tsv"
    path.parent.mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + good).encode() + b"2000\tcaf\xe9\tb\tentailment\n")
    with pytest.raises(DataError, match=r"train.tsv:2001: byte 0xe9 at column 9 is not UTF-8"):
        read_glue_tsv(path, get_task("rte"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"RTE/train.tsv: file not found"):
        prepare_data(TrainConfig(task="rte", glue_dir=str(tmp_path)))


def test_missing_glue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="from --glue-dir"):
        resolve_glue_dir(tmp_path / "nope")
    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="from GLUE_DIR"):
        resolve_glue_dir(None)
    monkeypatch.delenv("GLUE_DIR")
    assert resolve_glue_dir(None) is None


def test_subsets_are_seeded_and_checked(glue_fixture_dir: Path) -> None:
    cfg = TrainConfig(task="sst2", glue_dir=str(glue_fixture_dir), train_examples=20,
                      dev_examples=5)
    a, b = prepare_data(cfg), prepare_data(cfg)
    assert len(a.train) == 20 and len(a.dev) == 5
    assert np.array_equal(a.train.ids, b.train.ids)
    c = prepare_data(cfg.replace(subset_seed=1))
    assert not np.array_equal(a.train.offsets, c.train.offsets) or not np.array_equal(
        a.train.ids, c.train.ids)
    with pytest.raises(DataError, match="sst2 train: asked for 500 examples but the split has"):
        prepare_data(cfg.replace(train_examples=500))


def test_tokenization_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    glue = write_glue_fixture(tmp_path / "glue", seed=5)
    cfg = TrainConfig(task="cola", glue_dir=str(glue), cache_dir=str(tmp_path / "cache"))
    first = prepare_data(cfg)
    assert len(list((tmp_path / "cache").glob("cola-*.npz"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(data_mod, "tokenize", fail)
    again = prepare_data(cfg.replace(train_examples=10))
    assert np.array_equal(first.dev.ids, again.dev.ids)
    # A changed data file is a new cache entry, not a stale read.
    (glue / "CoLA" / "dev.tsv").write_text("s\t1\t\tnew text\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="tokenized again"):
        prepare_data(cfg)


def test_dynamic_padding(glue_fixture_dir: Path) -> None:
    data = prepare_data(TrainConfig(task="mrpc", glue_dir=str(glue_fixture_dir)))
    idx = np.array([3, 1, 7])
    batch = data.train.batch(idx)
    lengths = data.train.lengths()[idx]
    assert batch["input_ids"].shape == (3, lengths.max())
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths.tolist()
    # Sentence pairs get segment ids 1 on the second sentence.
    assert batch["token_type_ids"].max().item() == 1
    assert batch["labels"].tolist() == data.train.labels[idx].tolist()
