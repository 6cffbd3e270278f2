"""numpy reads from several threads at once (the remote server reads stored batches from one
thread per client): CPython 3.11's AST builder, which numpy uses to parse array headers, is not
thread-safe; `core.io.numpy_read` serialises the reads."""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
import pytest

from core.io.numpy_read import read_npy, read_npz


@pytest.fixture
def thread_switches_mid_parse():
    """Make the race that CI once hit (1 in ~600 runs) happen every time: a garbage collection
    every few allocations whose callback gives the GIL away, and a tiny switch interval."""
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()

    def give_gil_away(phase: str, info: dict) -> None:
        time.sleep(0.0002)

    gc.callbacks.append(give_gil_away)
    gc.set_threshold(5)
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        gc.callbacks.remove(give_gil_away)
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)


def test_eight_threads_read_npz_at_once(tmp_path, thread_switches_mid_parse):
    rng = np.random.default_rng(0)
    arrays = {f"a{i}": rng.standard_normal((4, 21, 3)).astype(np.float32) for i in range(12)}
    path = tmp_path / "batch.npz"
    np.savez(path, **arrays)
    errors: list[BaseException] = []

    def reader() -> None:
        for _ in range(15):
            try:
                got = read_npz(path)
                assert got.keys() == arrays.keys()
                assert all(np.array_equal(got[k], arrays[k]) for k in arrays)
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]


def test_read_npy_dict_and_npz(tmp_path):
    d = {"rot": np.eye(3), "name": "s01"}
    np.save(tmp_path / "d.npy", np.array(d, dtype=object), allow_pickle=True)
    assert read_npy(tmp_path / "d.npy", allow_pickle=True).item()["name"] == "s01"
    with pytest.raises(ValueError):
        read_npy(tmp_path / "d.npy")  # pickles only when asked
    np.savez(tmp_path / "z.npz", x=np.arange(3))
    assert np.array_equal(read_npy(tmp_path / "z.npz")["x"], np.arange(3))
