"""Batch reconstruction of many videos on a Ray cluster (or a local Ray instance).

`inputs` expands files and folders into videos, `plan` splits long videos into overlapping
chunks and stitches them back, `tasks` is the code a Ray worker runs, and `runner` drives it all:
resumable outputs, a progress bar and `summary.json`. See docs/batch.md.
"""
