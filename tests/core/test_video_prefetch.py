"""Decode-ahead (core/video/prefetch.py) on a generated long-GOP clip: the window around the
current frame ends up cached and exact, a jump cancels work in progress, playback extends the
window, the cache bound holds, errors and closing behave."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from core.video.prefetch import Prefetcher
from core.video.reader import open_video
from core.video.synth import decode_all_hashes, write_clip

W, H = 192, 108


def sha(img: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    path = write_clip(tmp_path_factory.mktemp("prefetch") / "clip.mp4", n_frames=360, gop=180)
    return path, decode_all_hashes(path)


def test_window_around_current_frame_is_decoded_exactly(clip: tuple[Path, list[bytes]]) -> None:
    path, truth = clip
    seen: list[int] = []
    with (
        open_video(path) as video,
        Prefetcher(video, ahead=20, behind=5, on_frame=seen.append) as pre,
    ):
        assert pre.request(200) is None  # nothing decoded yet: the GUI shows a proxy meanwhile
        assert pre.wait_idle(30)
        assert seen and seen[0] == 200  # the wanted frame is reported first
        for i in range(195, 221):
            img = video.cached(i)
            assert img is not None, f"frame {i} not prefetched"
            assert sha(img) == truth[i]
        assert pre.decoded >= 20


def test_jump_cancels_work_in_progress(clip: tuple[Path, list[bytes]]) -> None:
    path, truth = clip
    with open_video(path, cache_bytes=200 * W * H * 3) as video:
        with Prefetcher(video, ahead=150, behind=0) as pre:
            check = pre._worker_video.interrupt
            calls = 0
            in_window, jumped = threading.Event(), threading.Event()

            def held_check() -> bool:  # asked while decoding: hold the worker in the window
                nonlocal calls
                calls += 1
                if calls == 5:  # a few frames into the 150 after 10
                    in_window.set()
                    jumped.wait(30)
                return check()

            pre._worker_video.interrupt = held_check
            pre.set_current(10)
            assert in_window.wait(30)
            pre.set_current(300)  # a jump outside that window
            jumped.set()
            assert pre.wait_idle(30)
            assert pre.interrupted >= 1
            assert sha(video.cached(300)) == truth[300]
            assert video.cached(300 + 59) is not None  # the new window (to the end) is done
            assert video.cached(10 + 150) is None  # the old window was abandoned


def test_playback_extends_the_window(clip: tuple[Path, list[bytes]]) -> None:
    path, truth = clip
    with open_video(path) as video, Prefetcher(video, ahead=10, behind=0) as pre:
        pre.set_current(100)
        assert pre.wait_idle(30)
        for i in range(101, 131):  # play: the GUI moves one frame at a time
            pre.set_current(i)
            img = pre.get(i, timeout=30)
            assert sha(img) == truth[i]
        assert pre.wait_idle(30)
        assert video.cached(140) is not None  # ahead of the last played frame
        assert pre.interrupted == 0  # moving inside the window never cancels


def test_window_is_limited_by_the_cache(clip: tuple[Path, list[bytes]]) -> None:
    path, _ = clip
    budget = 8 * W * H * 3
    with open_video(path, cache_bytes=budget) as video, Prefetcher(video, ahead=100) as pre:
        pre.set_current(50)
        assert pre.wait_idle(30)
        assert video.cache.nbytes <= budget
        assert video.cached(50) is not None  # the current frame is not evicted by read-ahead


def test_prefetch_works_on_image_folders_and_close_stops_the_thread(tmp_path: Path) -> None:
    from PIL import Image

    for i in range(12):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(tmp_path / f"f{i}.png")
    with open_video(tmp_path) as video:
        pre = Prefetcher(video, ahead=5)
        pre.set_current(3)
        assert pre.wait_idle(10)
        assert int(video.cached(8)[0, 0, 0]) == 160
        pre.close()
        assert not pre._thread.is_alive()


def test_released_decoder_reopens_exactly_while_the_prefetcher_decodes(
    clip: tuple[Path, list[bytes]],
) -> None:
    """The GUI's decoder can be released (memory) while a fork prefetches; a later frame() on
    it reopens the file and still returns exact frames, background index included."""
    path, truth = clip
    with open_video(path, index="background", cache_bytes=1) as video, Prefetcher(video) as pre:
        assert sha(video.frame(7)) == truth[7]
        video.release_decoder()
        assert video._container is None and video._decoder is None  # its buffers are gone
        assert sha(pre.get(250)) == truth[250]  # the fork is unaffected
        assert video.wait_index(30)
        for i in (300, 5, 181):  # seek forward, back to the start, and a keyframe
            assert sha(video.frame(i)) == truth[i]
        video.release_decoder()
        video.release_decoder()  # twice is harmless
    video.close()  # closing after release is harmless too


def test_decoders_use_a_bounded_thread_count(clip: tuple[Path, list[bytes]]) -> None:
    from core.video.decoder import DECODER_THREADS

    path, _ = clip
    with open_video(path) as video:
        fork = video.fork()
        try:
            for v in (video, fork):
                assert v._stream.codec_context.thread_count == DECODER_THREADS
        finally:
            fork.close()
    assert 1 <= DECODER_THREADS <= 4


_FREED_FRAMES_PROBE = """
import numpy as np
from core.video.memory import return_freed_frames

def rss():
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")) * 1024

assert return_freed_frames()
warm = np.ones((1080, 1920, 3), np.uint8)  # glibc raises its threshold on this free
del warm
before = rss()
frames = [np.full((1080, 1920, 3), i, np.uint8) for i in range(64)]  # ~400 MB
grown = rss() - before
frames = frames[-1:]  # free 63 of them, most recent last (a heap could not shrink)
print(grown, rss() - before)
"""


def test_freed_frames_go_back_to_the_os() -> None:
    """With the fixed mmap threshold, freeing 64 frame-sized arrays lowers RSS again (glibc's
    dynamic threshold would keep most of them resident as heap holes). Measured in a fresh
    interpreter: inside the whole suite's process the heaps other tests left behind (and their
    mappings) made the allocation itself grow RSS by only 72 MiB once, which says nothing about
    freeing."""
    import subprocess
    import sys
    from pathlib import Path

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _FREED_FRAMES_PROBE],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    grown, shrunk = int(out[0]), int(out[1])
    assert grown > 300 * 2**20, f"allocating 64 frames grew RSS by {grown / 2**20:.0f} MiB only"
    assert shrunk < 60 * 2**20, f"{shrunk / 2**20:.0f} MiB still resident"


def test_decode_ahead_thread_count(clip: tuple[Path, list[bytes]], monkeypatch) -> None:
    """Up to 1080p the decode-ahead fork leaves two cores to the GUI and the renderer (at least
    one decoding thread); larger frames keep the usual count. The count reaches FFmpeg."""
    import os
    from types import SimpleNamespace

    from core.video import prefetch

    path, _ = clip
    big = SimpleNamespace(info=SimpleNamespace(frame_bytes=3840 * 2160 * 3))
    small = SimpleNamespace(info=SimpleNamespace(frame_bytes=1920 * 1080 * 3))
    assert prefetch.decode_threads(big) == prefetch.DECODER_THREADS
    for cores, want in ((2, 1), (4, 2), (16, prefetch.DECODER_THREADS)):
        monkeypatch.setattr(os, "cpu_count", lambda c=cores: c)
        assert prefetch.decode_threads(small) == min(want, prefetch.DECODER_THREADS)
    monkeypatch.undo()
    with open_video(path) as video:
        fork = video.fork(threads=3)
        assert fork._stream.codec_context.thread_count == 3
        fork.close()
        with Prefetcher(video, ahead=3, behind=0) as pre:
            pre.set_current(5)
            assert pre.wait_idle(30)
            got = pre._worker_video._stream.codec_context.thread_count
            assert got == prefetch.decode_threads(video)


def test_a_step_inside_the_pass_is_reported_when_decoded(clip: tuple[Path, list[bytes]]) -> None:
    """The GUI steps to a frame the pass under way has not reached: `decoding` says so (the
    GUI waits instead of decoding it too), and `on_frame` reports that frame as soon as the
    pass decodes it, not after the rest of the window; a frame behind the worker or outside
    its window is not 'decoding'."""
    path, truth = clip
    reported: dict[int, bool] = {}  # frame -> was the window's last frame still undecoded
    with open_video(path) as video, Prefetcher(video, ahead=12, behind=0) as pre:
        worker = pre._worker_video
        decode = worker.frame
        at_103, go = threading.Event(), threading.Event()

        def held(i: int) -> np.ndarray:  # hold the worker before it decodes frame 103
            if i == 103:
                at_103.set()
                assert go.wait(30)
            return decode(i)

        worker.frame = held
        pre.on_frame = lambda i: reported.setdefault(i, video.cache.peek(112) is None)
        pre.set_current(100)
        assert at_103.wait(30)
        assert pre.decoding(103) and pre.decoding(105) and pre.decoding(112)
        assert not pre.decoding(101)  # decoded already on this pass
        assert not pre.decoding(140)  # outside the window
        pre.set_current(105)  # a step inside the window: the pass goes on
        go.set()
        assert pre.wait_idle(30)
        assert reported.get(105) is True  # reported on the way, before frame 112
        assert sha(video.cached(105)) == truth[105]
        assert not pre.decoding(105)
        # the window is 105-117 now; a step just past it is decoded first on the next pass, a
        # jump further is not 'decoding' (the GUI shows a stand-in or decodes it there)
        worker.frame = decode
        go.clear()
        at_103.clear()
        assert not pre.decoding(125)
        pre.set_current(119)
        assert pre.decoding(119) or video.cache.peek(119) is not None  # the worker may be done
        assert pre.wait_idle(30)
        assert 119 in reported and not pre.decoding(119)
        # a jump's target is never 'decoding', even while the worker's new pass holds it (the
        # GUI shows a named stand-in meanwhile, not the frame before, however fast the worker
        # starts the pass)
        at_200, go_200 = threading.Event(), threading.Event()

        def held_200(i: int) -> np.ndarray:
            if i == 200:
                at_200.set()
                assert go_200.wait(30)
            return decode(i)

        worker.frame = held_200
        pre.set_current(200)
        assert at_200.wait(30)  # the pass for the jump is under way, at frame 200
        assert not pre.decoding(200) and pre.decoding(201)
        go_200.set()
        assert pre.wait_idle(30)


def test_the_worker_yields_the_cores_only_where_it_can_take_them_back(
    clip: tuple[Path, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`yield_cpu` puts the decode-ahead thread at idle priority for a frame step's paint and
    back, and it still decodes exactly meanwhile; where a thread could not get its priority back
    (an unprivileged user: the kernel refuses SCHED_IDLE -> SCHED_OTHER) it does nothing at
    all, and neither for frames above 1080p."""
    import core.video.prefetch as prefetch

    path, truth = clip
    reversible = prefetch.idle_is_reversible()
    with open_video(path) as video, Prefetcher(video, ahead=10, behind=0) as pre:
        tid = pre._thread.native_id
        assert pre.yield_cpu(True) is reversible
        if reversible:  # root or CAP_SYS_NICE, as in CI
            assert os.sched_getscheduler(tid) == os.SCHED_IDLE
        pre.set_current(150)
        with pre._cond:  # the cores are free here: it decodes all the same, still yielding
            assert pre._cond.wait_for(lambda: pre._done_center == 150, 30)
        assert sha(video.cached(155)) == truth[155]
        if reversible:
            assert os.sched_getscheduler(tid) == os.SCHED_IDLE
        pre.yield_cpu(False)
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
        # whoever blocks on the worker gets it at full priority: at idle priority it would get
        # no CPU at all while other processes keep the cores busy
        assert pre.yield_cpu(True) is reversible
        pre.set_current(20)
        assert pre.wait_idle(30)
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
        assert pre.yield_cpu(True) is reversible
        assert sha(pre.get(40)) == truth[40]
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
    # a kernel that refuses the way back: the probe says so, and nothing is ever changed
    calls: list[int] = []

    def refusing(tid: int, policy: int) -> None:
        calls.append(policy)
        if policy == os.SCHED_OTHER:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(prefetch, "_set_policy", refusing)
    prefetch.idle_is_reversible.cache_clear()
    try:
        assert not prefetch.idle_is_reversible()
        with open_video(path) as video, Prefetcher(video) as pre:
            n = len(calls)
            assert not pre.yield_cpu(True)
            assert len(calls) == n
            assert os.sched_getscheduler(pre._thread.native_id) == os.SCHED_OTHER
    finally:
        prefetch.idle_is_reversible.cache_clear()
    monkeypatch.undo()
    monkeypatch.setattr(prefetch, "FEW_THREADS_MAX_BYTES", 0)  # as if the frames were 4K
    with open_video(path) as video, Prefetcher(video) as pre:
        assert not pre.yield_cpu(True)
