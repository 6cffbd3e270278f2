"""`vidihand info VIDEO`: metadata and GOP structure of a video or image folder.

GOP structure (keyframe count, mean and longest keyframe spacing) says how expensive exact
random access is: a seek decodes on average half a GOP."""

from __future__ import annotations

import argparse
import json

import numpy as np

from core.video.reader import open_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a video's metadata and keyframe (GOP) structure")
    p.add_argument("video", help="video file or folder of images")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_video(args.video) as video:
        info = video.info
        d = np.diff(info.timestamps) if info.n_frames > 1 else np.zeros(1)
        out = {
            "path": info.path,
            "frames": info.n_frames,
            "fps": round(info.fps, 4),
            "duration_s": round(info.duration, 3),
            "size": [info.width, info.height],
            "rotation": info.rotation,
            "codec": info.codec,
            "pix_fmt": info.pix_fmt,
            "bit_rate": info.bit_rate,
            "variable_frame_rate": info.variable_frame_rate,
            "frame_interval_ms": {
                "min": round(float(d.min()) * 1000, 3),
                "max": round(float(d.max()) * 1000, 3),
            },
            "image_folder": info.is_image_folder,
            "truncated": info.truncated,
            "timestampless": info.timestampless,
            **info.gop_summary(),
        }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {v}")
    return 0
