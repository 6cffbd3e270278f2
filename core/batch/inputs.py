"""Expand batch INPUTS (video files, folders of videos, image folders) into a list of videos,
each with the output file name it gets.

Rules:
- a file is a video, whatever its extension (a damaged or unsupported one fails later, with its
  own error, without stopping the others);
- a folder is searched recursively: every file with a video extension is a video, and every
  folder that directly holds images (and no video files) is one image-folder video;
- the same video named twice is processed once.

Output names are the input's name with `.h5`; when two inputs share a name, the parent folders
are added (`a__clip.h5`, `b__clip.h5`) so that reruns map every input to the same output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import VidihandError
from core.video.reader import IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = (
    ".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
)  # fmt: skip


class BatchInputError(VidihandError):
    """An input given to `vidihand batch` does not exist or holds no videos."""

    title = "Invalid batch input"


@dataclass(frozen=True)
class BatchInput:
    path: Path  #: absolute path of a video file or an image folder
    output_name: str  #: file name of its labels in the output folder


def _is_image_folder(folder: Path) -> bool:
    names = [p for p in folder.iterdir() if p.is_file()]
    has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in names)
    has_videos = any(p.suffix.lower() in VIDEO_EXTENSIONS for p in names)
    return has_images and not has_videos


def _scan_folder(folder: Path) -> list[Path]:
    if _is_image_folder(folder):
        return [folder]
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        root_path = Path(root)
        if root_path != folder and _is_image_folder(root_path):
            found.append(root_path)
            dirs.clear()
            continue
        found.extend(
            root_path / f for f in sorted(files) if Path(f).suffix.lower() in VIDEO_EXTENSIONS
        )
    return found


def expand_inputs(inputs: list[str | os.PathLike[str]]) -> list[BatchInput]:
    """The videos named by `inputs`, in order, each once, with unique output names."""
    videos: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise BatchInputError(f"Batch input not found: {p}", hint="Check the path.")
        found = _scan_folder(p) if p.is_dir() else [p]
        if p.is_dir() and not found:
            raise BatchInputError(
                f"{p} holds no videos ({', '.join(VIDEO_EXTENSIONS[:5])} ...) and no images.",
                hint="Give video files, folders of videos, or folders of frames.",
            )
        videos.extend(v.resolve() for v in found)
    unique = list(dict.fromkeys(videos))
    return [BatchInput(v, name) for v, name in zip(unique, _output_names(unique), strict=True)]


def _output_names(paths: list[Path]) -> list[str]:
    """`<name>.h5`, with as many parent folder names as needed to make the names unique."""
    depth = {p: 0 for p in paths}

    def name(p: Path) -> str:
        parts = [
            *p.parent.parts[len(p.parent.parts) - depth[p] :],
            p.stem if p.is_file() else p.name,
        ]
        return "__".join(x.strip("/") or "root" for x in parts) + ".h5"

    for _ in range(64):
        names = {p: name(p) for p in paths}
        counts: dict[str, int] = {}
        for n in names.values():
            counts[n] = counts.get(n, 0) + 1
        clashes = [p for p in paths if counts[names[p]] > 1 and depth[p] < len(p.parent.parts)]
        if not clashes:
            break
        for p in clashes:
            depth[p] += 1
    names = {p: name(p) for p in paths}
    # anything still clashing (e.g. clip.mp4 and clip.mov side by side) keeps its extension
    seen: dict[str, int] = {}
    for n in names.values():
        seen[n] = seen.get(n, 0) + 1
    return [
        names[p][:-3] + p.suffix.replace(".", "_") + ".h5" if seen[names[p]] > 1 else names[p]
        for p in paths
    ]
