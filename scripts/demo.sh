#!/usr/bin/env bash
# The run command of motcua (README): installs what a fresh Debian machine lacks for the demo
# kiosk (the receipt and screen font, SANE's tools for the test scanner, the X libraries the
# window needs, and the -dev packages the console display backend builds against), then runs `kioskd demo`: an embedded gateway on localhost, a simulated printer,
# code reader and scanner, and the touch screen in a window when there is a display.
# Extra arguments go to `kioskd demo` (e.g. --seconds 60, --no-window, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/sbin:/sbin"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v scanimage >/dev/null || missing+=(sane-utils)
for pair in libX11.so.6:libx11-6 libX11-xcb.so.1:libx11-xcb1 libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
  libXcursor.so.1:libxcursor1 libXrandr.so.2:libxrandr2 libXi.so.6:libxi6 libfontconfig.so.1:libfontconfig1; do
  ldconfig -p | grep -F "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
# Building kioskd: the console display backend (DRM/KMS + libinput touch) links against
# libinput, libudev and libxkbcommon, found through pkg-config.
command -v pkg-config >/dev/null || missing+=(pkg-config)
for pc in libinput:libinput-dev libudev:libudev-dev xkbcommon:libxkbcommon-dev; do
  pkg-config --exists "${pc%%:*}" 2>/dev/null || missing+=("${pc##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

exec cargo run --release -p motcua-kiosk --bin kioskd -- demo "$@"
