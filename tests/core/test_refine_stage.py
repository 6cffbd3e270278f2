"""The refinement stage in a worker run (core/recon/refine/stage.py, core/worker/process.py):
what the app's reconstruction does with "Refine tracks" on, against what `vidihand reconstruct`
does, on the sample; a person's frames are kept."""

from __future__ import annotations

import numpy as np

from core.io.labels_h5 import load_labels
from core.labels.document import LabelDocument, Source, apply_batch
from core.recon.base import meta_for, run_reconstruction
from core.recon.mediapipe_backend import MediaPipeReconstructor
from core.recon.refine.stage import apply_refined, refine_after_reconstruction, worker_context
from core.video.reader import open_video
from core.worker.messages import Batch, Done, Refined
from core.worker.process import JobSpec, run_job

FRAMES = range(110, 140)


def test_worker_refines_like_the_cli_and_keeps_a_persons_frame(sample) -> None:
    video_path = str(sample[0])
    with open_video(video_path) as video:
        app_doc = LabelDocument(meta_for(video))
    # a frame a person edited inside the range, and one just outside it (the fit's context):
    # the left hand where it really is (the sample's exact joints), moved 1 cm
    gt = load_labels(sample[1]).hands[0]
    for f in (112, 108):
        app_doc.write(0, [f], {"present": True, "source": int(Source.EDITED), "confidence": 1.0,
                               "joints_3d": gt.joints_3d[f] + 0.01, "joints_2d": gt.joints_2d[f]})  # fmt: skip
    kept = {k: v[112].copy() for k, v in app_doc.hands[0].arrays().items()}
    cli_doc = app_doc.copy()

    sent: list = []
    spec = JobSpec(video_path, "mediapipe", start=FRAMES.start, stop=FRAMES.stop, refine=True,
                   refine_context=worker_context(app_doc, FRAMES))  # fmt: skip
    final = run_job(spec, sent.append)
    assert isinstance(final, Done)
    kinds = [type(m) for m in sent]
    assert Refined in kinds and kinds.index(Refined) > max(
        i for i, k in enumerate(kinds) if k is Batch
    )
    for m in sent:
        if isinstance(m, Batch):
            apply_batch(app_doc, m.to_frame_batch())
        elif isinstance(m, Refined):
            apply_refined(app_doc, m.arrays, m.provenance)

    # what `vidihand reconstruct --frames 110:140` does: the raw run, then the stage
    with open_video(video_path) as video, MediaPipeReconstructor() as backend:
        run_reconstruction(backend, video, cli_doc, FRAMES)
        refine_after_reconstruction(cli_doc, "mediapipe", frames=FRAMES, video=video)

    prov = app_doc.extras["refine"]
    assert prov["frames"] == [110, 140] and prov["redetected"] >= 3 and "mediapipe" in prov["after"]
    assert prov == cli_doc.extras["refine"] | {"after": prov["after"]}
    for a, b in zip(app_doc.hands, cli_doc.hands, strict=True):
        assert np.array_equal(a.present, b.present) and np.array_equal(a.source, b.source)
        np.testing.assert_allclose(a.joints_3d[FRAMES.start : FRAMES.stop],
                                   b.joints_3d[FRAMES.start : FRAMES.stop], atol=1e-4)  # fmt: skip
    for k, v in app_doc.hands[0].arrays().items():  # the person's frame, to the bit
        assert np.array_equal(v[112], kept[k], equal_nan=v.dtype.kind == "f"), k
    assert app_doc.hands[1].present[126:129].all()  # found again in the worker, from the video


def test_worker_without_refine_sends_raw_frames_only(sample) -> None:
    sent: list = []
    run_job(JobSpec(str(sample[0]), "mediapipe", start=0, stop=12), sent.append)
    assert not any(isinstance(m, Refined) for m in sent)
