"""Reading .npy / .npz files safely from several threads at once.

numpy parses every array's header with `ast.literal_eval`. On CPython before 3.12 the AST
builder keeps its recursion depth in state shared by all threads, so two threads parsing at the
same moment can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
gh-106905) whenever the garbage collector runs Python code mid-parse and switches threads. The
remote server reads stored batches from one thread per client, the reconstructors read label
files from worker threads and the app reads its thumbnail cache in the background, so every
numpy read in this project goes through here, one at a time. Reads are small (a batch, a label
file, a cache), so holding the lock for the whole read costs nothing measurable.
"""

from __future__ import annotations

import os
import threading
from typing import IO, Any

import numpy as np

_LOCK = threading.Lock()

PathOrFile = str | os.PathLike[str] | IO[bytes]


def read_npz(source: PathOrFile, *, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read into memory (the file is closed on return)."""
    with _LOCK, np.load(source, allow_pickle=allow_pickle) as data:
        return {k: data[k] for k in data.files}


def read_npy(source: PathOrFile, *, allow_pickle: bool = False) -> Any:
    """The content of an .npy file (or an .npz's arrays, as `read_npz`)."""
    with _LOCK:
        obj = np.load(source, allow_pickle=allow_pickle)
        if isinstance(obj, np.lib.npyio.NpzFile):
            with obj:
                return {k: obj[k] for k in obj.files}
        return obj
