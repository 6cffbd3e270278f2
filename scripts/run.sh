#!/usr/bin/env bash
# The main job: set up, then open the review app on VIDEO (or on the project's own sample,
# generated on first use). Extra arguments go to `vidihand review`.
# Without a display (a server, CI) the app renders under Xvfb and saves a screenshot instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_API=pyside6
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/vidihand review "$@"
fi
out=${VIDIHAND_SCREENSHOT:-$(pwd)/review-screenshot.png}
echo "run: no display found; rendering the app under Xvfb and saving a screenshot to $out"
xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/vidihand review "$@" --reconstruct --frame 60 --screenshot "$out"
echo "run: screenshot saved: $out"
