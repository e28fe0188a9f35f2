"""GLUE data: strict TSV reading, the Hub fallback, a tokenization cache and batching.

Where the data comes from, in order: ``--glue-dir`` (``TrainConfig.glue_dir``), the
``GLUE_DIR`` environment variable, then the ``nyu-mll/glue`` dataset on the Hugging
Face Hub. The TSVs are read with no CSV quoting (MRPC and RTE hold bare double
quotes) and ``utf-8-sig`` (MRPC starts with a byte-order mark). Every malformed
line is an error naming the file and line; nothing is skipped.

Tokenizing is done once per (task, split, data file, tokenizer, max length) and
kept as a compact ``.npz`` under the cache directory, so that the hundreds of
trials of a sweep only read it back. Subsets are chosen after tokenizing, from the
cached split, so every subset size shares one cache entry.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tune_seeds.atomic import atomic_path
from tune_seeds.trial.model import load_tokenizer
from tune_seeds.trial.tasks import Task, get_task

SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv"}
HUB_DATASET = "nyu-mll/glue"
HUB_SPLITS = {"train": "train", "dev": "validation"}
CACHE_FORMAT = 1


class DataError(ValueError):
    """Input data that cannot be used, with the file and line at fault."""


@dataclass(frozen=True)
class Example:
    texts: tuple[str, ...]
    label: int


def read_glue_tsv(path: Path, task: Task) -> list[Example]:
    """All examples of one GLUE TSV file, or :class:`DataError` at the first bad line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return _read_rows(path, task)
    except UnicodeDecodeError:
        # The decoder reads ahead in blocks, so the row being read when it fails is
        # not the bad one: find the first bad byte in the raw file instead.
        raise DataError(_decode_error(path)) from None


def _decode_error(path: Path) -> str:
    """``file:line: ...`` for the first byte of ``path`` that is not UTF-8."""
    raw = path.read_bytes()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        raw[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = bom + err.start
        line = raw.count(b"\n", 0, at) + 1
        line_start = (raw.rfind(b"\n", 0, at) + 1) or bom
        column = at - line_start + 1
        return f"{path}:{line}: byte 0x{raw[at]:02x} at column {column} is not UTF-8 text"
    return f"{path}: not UTF-8 text"


def _read_rows(path: Path, task: Task) -> list[Example]:
    examples: list[Example] = []
    labels = {name: i for i, name in enumerate(task.label_names)}
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for line_no, row in enumerate(reader, start=1):
            if len(row) != task.num_columns:
                raise DataError(
                    f"{path}:{line_no}: expected {task.num_columns} tab-separated columns "
                    f"for {task.name}, found {len(row)}"
                )
            if line_no == 1 and task.has_header:
                continue
            label = row[task.label_column]
            if label not in labels:
                raise DataError(
                    f"{path}:{line_no}: unknown label {label!r} for {task.name} "
                    f"(expected one of {', '.join(task.label_names)})"
                )
            texts = tuple(row[c] for c in task.text_columns)
            examples.append(Example(texts, labels[label]))
    if not examples:
        raise DataError(f"{path}: no examples (empty file)")
    return examples


def resolve_glue_dir(glue_dir: str | os.PathLike[str] | None) -> Path | None:
    """The GLUE directory to read, or None to fall back to the Hub."""
    origin = "--glue-dir"
    if glue_dir is None:
        glue_dir = os.environ.get("GLUE_DIR") or None
        origin = "GLUE_DIR"
    if glue_dir is None:
        return None
    path = Path(glue_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: GLUE data directory (from {origin}) does not exist")
    return path


def load_hub_split(task: Task, split: str) -> list[Example]:
    """The split from ``nyu-mll/glue`` on the Hub (needs a network or a local HF cache)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(HUB_DATASET, task.hub_config, split=HUB_SPLITS[split])
    except Exception as err:  # the datasets library raises many kinds when offline
        raise DataError(
            f"no GLUE directory given (--glue-dir or GLUE_DIR) and {HUB_DATASET}/"
            f"{task.hub_config} could not be loaded from the Hub: {err}"
        ) from err
    text_fields = [c for c in ("sentence1", "sentence2", "sentence") if c in ds.column_names]
    return [
        Example(tuple(row[c] for c in text_fields), int(row["label"])) for row in ds
    ]


def data_source(task: Task, split: str, glue_dir: Path | None) -> Path | None:
    return None if glue_dir is None else glue_dir / task.glue_dir_name / SPLIT_FILES[split]


def load_examples(task: Task, split: str, glue_dir: Path | None) -> list[Example]:
    path = data_source(task, split, glue_dir)
    return load_hub_split(task, split) if path is None else read_glue_tsv(path, task)


def subset_indices(total: int, n: int | None, seed: int, what: str) -> np.ndarray:
    """Indices of a seeded subset of ``n`` of ``total`` examples, in file order."""
    if n is None:
        return np.arange(total)
    if n > total:
        raise DataError(f"{what}: asked for {n} examples but the split has only {total}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n, replace=False))


def padded_width(longest: int, multiple: int | None) -> int:
    """The width of a batch whose longest example has ``longest`` tokens.

    >>> padded_width(37, 16), padded_width(37, None), padded_width(48, 16)
    (48, 37, 48)
    """
    return longest if not multiple else -(-longest // multiple) * multiple


@dataclass
class TokenizedSplit:
    """Token ids of a split, stored flat: example ``i`` is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray
    type_ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    pad_id: int

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, indices: np.ndarray) -> TokenizedSplit:
        starts, ends = self.offsets[indices], self.offsets[indices + 1]
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        offsets = np.concatenate([[0], np.cumsum(ends - starts)])
        return TokenizedSplit(
            self.ids[take], self.type_ids[take], offsets, self.labels[indices], self.pad_id
        )

    def batch(
        self, indices: Sequence[int] | np.ndarray | torch.Tensor,
        pad_to_multiple_of: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Model inputs padded to the longest example of the batch (dynamic padding), or
        to the next multiple of ``pad_to_multiple_of`` tokens."""
        idx = np.asarray(indices, dtype=np.int64)
        lengths = self.offsets[idx + 1] - self.offsets[idx]
        width = padded_width(int(lengths.max()), pad_to_multiple_of)
        ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, (i, n) in enumerate(zip(idx, lengths, strict=True)):
            start = self.offsets[i]
            ids[row, :n] = self.ids[start : start + n]
            types[row, :n] = self.type_ids[start : start + n]
            mask[row, :n] = 1
        return {
            "input_ids": torch.from_numpy(ids),
            "token_type_ids": torch.from_numpy(types),
            "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(self.labels[idx].astype(np.int64)),
        }

    def save(self, path: Path) -> None:
        # Atomic so that trials reading the cache concurrently never see a partial file;
        # the temporary name ends in .npz, or np.savez would write another one.
        with atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez(
                tmp, ids=self.ids, type_ids=self.type_ids, offsets=self.offsets,
                labels=self.labels, pad_id=np.array(self.pad_id),
            )

    @classmethod
    def load(cls, path: Path) -> TokenizedSplit:
        with np.load(path) as z:
            return cls(z["ids"], z["type_ids"], z["offsets"], z["labels"], int(z["pad_id"]))


def tokenize(examples: list[Example], tokenizer: Any, max_length: int) -> TokenizedSplit:
    columns = list(zip(*(e.texts for e in examples), strict=True))
    enc = tokenizer(
        *[list(c) for c in columns], truncation=True, max_length=max_length,
        return_token_type_ids=True,
    )
    lengths = np.array([len(x) for x in enc["input_ids"]], dtype=np.int64)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return TokenizedSplit(
        ids=np.concatenate([np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]),
        type_ids=np.concatenate([np.asarray(x, dtype=np.int8) for x in enc["token_type_ids"]]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        labels=np.array([e.label for e in examples], dtype=np.int64),
        pad_id=int(pad_id),
    )


def default_cache_dir() -> Path:
    return Path(os.environ.get("TUNE_SEEDS_CACHE") or Path.home() / ".cache" / "tune-seeds")


def tokenizer_fingerprint(tokenizer: Any) -> str:
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=True)
    return hashlib.sha256(f"{type(tokenizer).__name__}\n{vocab}".encode()).hexdigest()[:16]


def _file_fingerprint(path: Path | None) -> str:
    if path is None:
        return "hub"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest[:16]


def tokenized_split(
    task: Task,
    split: str,
    tokenizer: Any,
    max_length: int,
    glue_dir: Path | None,
    cache_dir: Path,
    write_cache: bool = True,
) -> TokenizedSplit:
    """The whole split, tokenized, from the cache or tokenized now (and cached,
    unless ``write_cache`` is false: a dry run writes nothing)."""
    source = data_source(task, split, glue_dir)
    if source is not None and not source.is_file():
        raise DataError(f"{source}: file not found")
    key = "|".join(
        [str(CACHE_FORMAT), task.name, split, _file_fingerprint(source),
         tokenizer_fingerprint(tokenizer), str(max_length)]
    )
    name = f"{task.name}-{split}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    path = cache_dir / name
    if path.is_file():
        return TokenizedSplit.load(path)
    result = tokenize(load_examples(task, split, glue_dir), tokenizer, max_length)
    if write_cache:
        result.save(path)
    return result


@dataclass
class PreparedData:
    """Everything a trial reads: the task and its tokenized train and dev subsets.

    ``dev_rows[i]`` is the row of the dev file that dev example ``i`` came from.
    """

    task: Task
    train: TokenizedSplit
    dev: TokenizedSplit
    dev_rows: np.ndarray


def prepare_data(config: Any, tokenizer: Any = None, write_cache: bool = True) -> PreparedData:
    """Tokenized (cached) train and dev subsets of a :class:`~.config.TrainConfig`."""
    task = get_task(config.task)
    glue_dir = resolve_glue_dir(config.glue_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
    splits, rows = {}, {}
    for split, n in (("train", config.train_examples), ("dev", config.dev_examples)):
        full = tokenized_split(
            task, split, tokenizer, config.max_length, glue_dir, cache_dir, write_cache
        )
        what = f"{task.name} {split}"
        idx = subset_indices(len(full), n, config.subset_seed, what)
        splits[split] = full if n is None else full.select(idx)
        rows[split] = idx
    return PreparedData(task, splits["train"], splits["dev"], rows["dev"])
