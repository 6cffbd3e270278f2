#!/usr/bin/env bash
# The main job: set up, then open the review app on VIDEO (or on the project's own sample,
# generated on first use). Extra arguments go to `vidihand review`.
# Without a display (a server, CI) it does the same work headless: reconstructs the video with
# the CPU backend, prints where the labels went and a summary, and saves a screenshot of the
# real window (rendered under Xvfb) showing them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_API=pyside6
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/vidihand review "$@"
fi
out=${VIDIHAND_RUN_DIR:-$(pwd)/run-output}
mkdir -p "$out"
if [ $# -gt 0 ] && [ -e "$1" ]; then
  video=$1
else
  echo "run: no video given: writing the project's own sample to $out"
  .venv/bin/vidihand sample -o "$out"
  video=$out/sample.mp4
fi
echo "run: no display found: reconstructing headless, then rendering the app under Xvfb"
.venv/bin/vidihand reconstruct "$video" -o "$out/labels.h5"
.venv/bin/vidihand check "$out/labels.h5" --video "$video"
xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/vidihand review "$video" \
  --labels "$out/labels.h5" --frame 60 --screenshot "$out/review.png"
echo "run: labels: $out/labels.h5"
echo "run: screenshot of the review window: $out/review.png"
echo "run: on a desktop, the same command opens the window: bash scripts/run.sh [VIDEO]"
