"""Files and folders written whole or not at all: :func:`atomic_path`.

A file rewritten in place can be read half-written (a trial reading the tokenization
cache another trial writes, the progress view reading a results table) or be left torn
by a process killed while writing it. :func:`atomic_path` hands the writer a temporary
name beside the target instead (the same folder, so the same file system) and renames
it over the target once the writer is done: a reader sees the old version or the new
one, never a part of one. If the writer fails, or the process is interrupted, the
temporary file or folder is removed and the target is left as it was.

The writer creates the temporary path itself (``torch.save``, ``np.savez``,
``DataFrame.to_parquet``, ``save_pretrained``, ``open``), so it gets the default
permissions. Nothing is fsynced: this guards against a killed process, whose written
data the operating system still has, not against the machine losing power.

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     target = os.path.join(folder, "note.txt")
...     with atomic_path(target) as tmp:
...         _ = tmp.write_text("whole")
...     try:
...         with atomic_path(target) as tmp:
...             _ = tmp.write_text("half")
...             raise OSError("disk full")
...     except OSError:
...         pass
...     print(open(target).read(), os.listdir(folder))
whole ['note.txt']
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write instead of ``path``, renamed over ``path`` at the end.

    The temporary name is hidden (``.NAME.RANDOM`` + ``suffix``), so that a glob for
    the finished files never matches it, and unique, so that writers of the same
    target in several processes or threads do not collide (the last rename wins).
    ``path``'s folder is created if missing.

    Args:
        path: the file (or folder) to write.
        suffix: the temporary name's ending, for writers that insist on one
            (``np.savez`` appends ``.npz`` to any other name).

    Raises:
        OSError: from the rename, e.g. when ``path`` is a folder that is not empty.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
