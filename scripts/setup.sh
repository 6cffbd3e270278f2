#!/usr/bin/env bash
# Set up everything ViDiHand Studio needs on a Debian/Ubuntu machine, idempotently:
# Debian packages (when run as root; otherwise prints the apt-get line to run), a virtual
# environment at .venv with the exact pins of requirements.lock, and the project itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

APT_PACKAGES=(
  # virtual display + OpenGL for the Qt/VTK window under Xvfb (tests, headless screenshots)
  xvfb xauth libgl1 libegl1 libglx-mesa0 libegl-mesa0 libgl1-mesa-dri
  # Qt's xcb platform plugin
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libfontconfig1 libdbus-1-3
  # video tools used by tests and benchmarks (PyAV itself bundles FFmpeg)
  ffmpeg
  # remote worker: the SSH client for tunnels, and sshd for the tunnel tests
  openssh-client openssh-server
  # headless rendering of the failure-analysis HTML report in tests
  chromium
  # checks the desktop entry `vidihand install-desktop` writes (tests)
  desktop-file-utils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! python3 -m venv --help >/dev/null 2>&1; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    echo "setup: continuing; the parts that need them will fail until then." >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.vidihand-lock.sha256
want=$( (cat requirements.lock pyproject.toml) | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (requirements.lock; first time takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements.lock
  # the project itself: code, and resources/ (icon, desktop entry, theme) as package data
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
# the launcher entry and icon for this user (a desktop session only; CI and servers skip it)
if [ -n "${XDG_CURRENT_DESKTOP:-}" ] && [ -z "${CI:-}" ]; then
  .venv/bin/vidihand install-desktop
else
  echo "setup: to add ViDiHand Studio to the desktop's launcher: .venv/bin/vidihand install-desktop"
fi
echo "setup: ready ($ROOT/.venv)"
