"""Refinement on the project's sample (exact ground truth), through the CLI, raw and refined
from one MediaPipe run per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import LabelDocument, Source
from core.metrics import evaluate


@pytest.fixture(scope="session")
def sample_raw(sample: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MediaPipe's raw output on the sample (`vidihand reconstruct --no-refine`), once."""
    video, _ = sample
    out = tmp_path_factory.mktemp("refine") / "raw.h5"
    assert main(["reconstruct", str(video), "-o", str(out), "--no-refine", "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def sample_refined(sample_raw: Path, sample: tuple[Path, Path]) -> Path:
    out = sample_raw.with_name("refined.h5")
    assert main(["refine", str(sample_raw), "-o", str(out), "--video", str(sample[0])]) == 0
    return out


def palm_std_mm(doc: LabelDocument) -> float:
    out = []
    for t in doc.hands:
        ok = t.present & np.isfinite(t.joints_3d).all(axis=(1, 2))
        out.append(1000 * np.linalg.norm(t.joints_3d[ok, 9] - t.joints_3d[ok, 0], axis=-1).std())
    return max(out)


def test_no_refine_writes_the_raw_detector(sample_raw: Path) -> None:
    doc = load_labels(sample_raw)
    assert "refine" not in doc.extras
    assert set(np.unique(np.concatenate([t.source for t in doc.hands]))) <= {Source.PREDICTED}


def test_refined_sample_against_ground_truth(
    sample_raw: Path, sample_refined: Path, sample
) -> None:
    gt = load_labels(sample[1])
    raw, ref = evaluate(load_labels(sample_raw), gt), evaluate(load_labels(sample_refined), gt)
    # issue 13 targets, with some margin where they are met (docs/reconstructors.md has the
    # figures); MPJPE falls short of the 0.6x, asserted as measured
    assert ref.value("Jitter") <= 3.0 < 20 <= raw.value("Jitter")
    assert ref.value("EPE") <= raw.value("EPE") - 6.0  # measured 24.0 -> 15.5
    assert ref.value("precision") >= 0.98
    assert ref.value("recall") >= 0.955 and raw.value("recall") <= 0.89  # 0.964, raw 0.888
    assert ref.value("MPJPE") <= 0.95 * raw.value("MPJPE")
    assert (
        palm_std_mm(load_labels(sample_refined)) <= 2.0 < 10 <= palm_std_mm(load_labels(sample_raw))
    )
    prov = load_labels(sample_refined).extras["refine"]
    assert prov["backend"].startswith("refine") and "mediapipe" in prov["after"]
    assert prov["settings"]["max_gap"] == 8 and prov["swapped_frames"] > 0


def test_a_hand_leaving_at_the_edge_is_continued_while_partly_in_the_picture(
    sample_raw: Path, sample_refined: Path, sample
) -> None:
    """The right hand leaves the sample across the right edge: MediaPipe has it up to frame
    99; 62% and 29% of it are still in the picture on 100-101, none of it on 102-123. The
    refined file continues it on 100-101 (interpolated, lower confidence) and not after."""
    raw, ref, gt = (load_labels(p) for p in (sample_raw, sample_refined, sample[1]))
    assert raw.hands[1].present[99] and not raw.hands[1].present[100:102].any()
    assert gt.hands[1].present[100:102].all() and not gt.hands[1].present[102:124].any()
    right = ref.hands[1]
    assert right.present[100:102].all() and not right.present[102:122].any()
    assert (right.source[100:102] == Source.INTERPOLATED).all()
    assert (right.confidence[100:102] < right.confidence[99]).all()
    err = np.linalg.norm(right.joints_2d[100:102] - gt.hands[1].joints_2d[100:102], axis=-1)
    assert err.mean() < 40  # where the hand is going (the detections are ~17-31 px off here)


def test_refine_cli_range_and_errors(sample_raw: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "part.h5"
    assert main(["refine", str(sample_raw), "-o", str(out), "--frames", "100:140"]) == 0
    raw, part = load_labels(sample_raw), load_labels(out)
    for a, b in zip(raw.hands, part.hands, strict=True):
        assert np.array_equal(a.joints_3d[:100], b.joints_3d[:100], equal_nan=True)
        assert np.array_equal(a.joints_3d[140:], b.joints_3d[140:], equal_nan=True)
    capsys.readouterr()
    # a file whose hands have no 2D joints: a clear one-line error, exit status 2
    doc = load_labels(sample_raw)
    for h in (0, 1):
        doc.write(h, np.arange(doc.n_frames), {"joints_2d": np.nan})
    bad = tmp_path / "no2d.h5"
    save_labels(doc, bad)
    assert main(["refine", str(bad), "-o", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "no 2D joints" in err and "Traceback" not in err
    assert not (tmp_path / "x.h5").exists()
    assert (
        main(["refine", str(sample_raw), "-o", str(tmp_path / "y.h5"), "--option", "nope=1"]) == 2
    )
    assert (
        main(["refine", str(sample_raw), "-o", str(tmp_path / "y.h5"), "--frames", "500:600"]) == 2
    )


def _redetected(raw: LabelDocument, video_path: Path, frames: range, **options):  # type: ignore[no-untyped-def]
    from core.recon.refine import RefineSettings
    from core.recon.refine.handedness import fix_handedness
    from core.recon.refine.redetect import redetect_gaps
    from core.video.reader import open_video

    doc = raw.copy()
    fix_handedness(doc, range(doc.n_frames))
    with open_video(video_path) as video:
        redetect_gaps(doc, video, frames, RefineSettings().with_options(**options))
    return doc


def test_a_hand_entering_at_the_edge_is_tracked_back_out(sample_raw: Path, sample) -> None:
    """The right hand re-enters the sample at the right edge around frame 124; the forward pass
    finds it only from 129. Tracked backwards from there it is found on 126-128, and on 125
    (43% of it in the picture) only on frames with a black border on that side: without it,
    MediaPipe's crop of a hand at the edge is filled with smeared edge pixels."""
    raw, gt = load_labels(sample_raw), load_labels(sample[1])
    assert not raw.hands[1].present[120:129].any() and raw.hands[1].present[129]
    plain = _redetected(raw, sample[0], range(118, 140), redetect_pad=0.0).hands[1]
    right = _redetected(raw, sample[0], range(118, 140)).hands[1]
    assert plain.present[126:129].all() and not plain.present[125]
    assert right.present[125:129].all()
    assert (right.source[125:129] == Source.PREDICTED).all()
    err = np.linalg.norm(right.joints_2d[125:129] - gt.hands[1].joints_2d[125:129], axis=-1)
    assert err.mean(-1).max() < 35  # the hand, where MediaPipe puts it (17-31 px off here)
    assert not right.present[118:124].any()  # the ground truth has no hand on 118-123


def test_what_a_pass_finds_does_not_depend_on_the_passes_before(sample_raw: Path, sample) -> None:
    """Every backward pass starts from an empty tracker: over the whole sample (passes into
    earlier gaps first) the right hand's return is found as on its own. (Before, the tracker
    kept following a hand of the previous pass and missed 125-128.)"""
    raw = load_labels(sample_raw)
    alone = _redetected(raw, sample[0], range(118, 140)).hands[1]
    whole = _redetected(raw, sample[0], range(raw.n_frames)).hands[1]
    assert np.array_equal(whole.present[118:130], alone.present[118:130])
    assert np.allclose(whole.joints_2d[125:129], alone.joints_2d[125:129], atol=1e-3)
