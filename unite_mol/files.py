"""Atomic file writes: the one way unite_mol writes a file that must never be seen half-written.

``with atomic_open(path) as fh: ...`` writes to a temporary file beside ``path`` (opened with plain
``open``, so it gets the usual umask permissions), flushes it to disk and moves it over ``path`` with
``os.replace``. If anything fails inside the block, the temporary file is removed and ``path`` is left
as it was.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open ``path`` for writing atomically; ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8).

    Raises:
        ValueError: for any other mode.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb" if mode == "wb" else "x", **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
