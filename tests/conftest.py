"""Shared fixtures: tiny GLUE files written by the tests, a tiny trial config, real data."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tune_seeds.trial.config import TrainConfig

# Ray fixes its authentication mode once per process, at the first ray.init: a test
# process that started a token-auth instance breaks every later instance started
# with authentication off, and the other way round. The in-process Ray instances of
# the tests all run with it off; the tests of token authentication (the dashboard's,
# the real cluster's) run Ray in processes of their own with their own environment.
os.environ["RAY_AUTH_MODE"] = "disabled"

WORDS = (
    "good great fine bad awful poor the a movie film plot actor scene story was is very "
    'not quite rather "quoted" it\'s dull bright'
).split()


def _sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_glue_fixture(root: Path, n_train: int = 48, n_dev: int = 16, seed: int = 0) -> Path:
    """Tiny TSVs in the exact layout of each GLUE task (BOM, headers, bare quotes)."""
    rng = random.Random(seed)
    layouts = {
        "MRPC": ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                 lambda i, y: f"{y}\t{i}\t{i + 1}\t{_sentence(rng)}\t{_sentence(rng)}"),
        "RTE": ("index\tsentence1\tsentence2\tlabel",
                lambda i, y: f"{i}\t{_sentence(rng)}\t{_sentence(rng)}\t"
                + ("not_entailment" if y else "entailment")),
        "CoLA": (None, lambda i, y: f"src{i % 3}\t{y}\t{'' if y else '*'}\t{_sentence(rng)}"),
        "SST-2": ("sentence\tlabel", lambda i, y: f"{_sentence(rng)}\t{y}"),
    }
    for task, (header, row) in layouts.items():
        folder = root / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", n_train), ("dev", n_dev)):
            lines = [header] if header else []
            lines += [row(i, int(i % 3 != 0)) for i in range(n)]
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The tokenization cache of the tests must not touch the user's cache.
    os.environ["TUNE_SEEDS_CACHE"] = str(tmp_path_factory.mktemp("tokenized"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def glue_fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_glue_fixture(tmp_path_factory.mktemp("glue"))


@pytest.fixture(scope="session")
def tiny_config(glue_fixture_dir: Path) -> TrainConfig:
    """A trial of a few seconds: 1 layer, 48 examples, 2 epochs of 6 steps, 3 evals per epoch."""
    return TrainConfig(
        task="rte",
        glue_dir=str(glue_fixture_dir),
        num_hidden_layers=1,
        batch_size=8,
        epochs=2,
        evals_per_epoch=3,
        threads=1,
    )


@pytest.fixture(scope="session")
def real_glue_dir() -> Path:
    """The real GLUE TSVs, where ``GLUE_DIR`` points at them."""
    value = os.environ.get("GLUE_DIR")
    if not value or not (Path(value) / "MRPC" / "dev.tsv").is_file():
        pytest.skip("real GLUE data not available (set GLUE_DIR)")
    return Path(value)
