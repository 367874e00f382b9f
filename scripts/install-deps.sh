#!/usr/bin/env bash
# What building and testing motcua needs on a fresh Debian 12 machine, installed only when
# missing: the Debian packages (apt-get), cargo-deb, cargo-nextest and s3s-fs (cargo). Run by scripts/test.sh and, before
# clippy, by .ci/run (building needs the -dev packages of the console display backend).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/sbin:/sbin"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests use: PostgreSQL (gateway backend), curl (upload reference),
# sane-utils (scanimage and SANE's test backend), zbar-tools (an independent QR reader for
# printed receipts), fonts-dejavu-core (the receipt font), and the PDF tools below.
missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v scanimage >/dev/null || missing+=(sane-utils)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
# qpdf and poppler-utils check and render the PDFs of intake digitization; img2pdf and zbarimg
# are the public-tools reference of its benchmark.
command -v qpdf >/dev/null || missing+=(qpdf)
# The invisible OCR text layer of intake PDFs (issue #19): tesseract and its Vietnamese model.
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
ls /usr/share/tesseract-ocr/*/tessdata/vie.traineddata >/dev/null 2>&1 || missing+=(tesseract-ocr-vie)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
command -v img2pdf >/dev/null || missing+=(img2pdf)
# iproute2 (ip, tc): the weak-link test and benchmark make network namespaces, a veth pair
# and a tbf qdisc.
command -v tc >/dev/null || missing+=(iproute2)
# The touch screen under a real X server: Xvfb, xdotool (pointer events), xwd + netpbm
# (screenshots), and the X and fontconfig libraries the window loads at run time (dlopen:
# building needs none of their -dev packages).
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v xdotool >/dev/null || missing+=(xdotool)
command -v xwd >/dev/null || missing+=(x11-apps)
command -v xwdtopnm >/dev/null || missing+=(netpbm)
for lib in libX11.so.6 libX11-xcb.so.1 libxkbcommon-x11.so.0 libXcursor.so.1 libXrandr.so.2 libXi.so.6 libfontconfig.so.1; do
  ldconfig -p | grep -F "$lib" >/dev/null || missing+=("$lib")
done
# Library sonames to Debian package names.
for i in "${!missing[@]}"; do
  case "${missing[$i]}" in
    libX11.so.6) missing[$i]=libx11-6 ;;
    libX11-xcb.so.1) missing[$i]=libx11-xcb1 ;;
    libxkbcommon-x11.so.0) missing[$i]=libxkbcommon-x11-0 ;;
    libXcursor.so.1) missing[$i]=libxcursor1 ;;
    libXrandr.so.2) missing[$i]=libxrandr2 ;;
    libXi.so.6) missing[$i]=libxi6 ;;
    libfontconfig.so.1) missing[$i]=libfontconfig1 ;;
  esac
done
# The sRGB profile that makes intake PDFs PDF/A-2b (read at run time, never copied).
[ -f /usr/share/color/icc/sRGB.icc ] || missing+=(icc-profiles-free)
# The console screen (Slint's linuxkms backend) builds against libinput, libudev and
# libxkbcommon, found with pkg-config.
command -v pkg-config >/dev/null || missing+=(pkg-config)
for pc in libinput:libinput-dev libudev:libudev-dev xkbcommon:libxkbcommon-dev; do
  pkg-config --exists "${pc%%:*}" 2>/dev/null || missing+=("${pc#*:}")
done
# The Debian packages and their tests (tests/tests/deploy_*.rs): lintian checks the .debs,
# debootstrap makes a fresh Debian root and systemd-nspawn boots it.
command -v lintian >/dev/null || missing+=(lintian)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
# Headless Chromium renders the technicians' fleet page (tests/tests/fleet_page.rs).
command -v chromium >/dev/null || missing+=(chromium)
# ChromeDriver drives it through WebDriver for the hub's pages (tests/tests/hub_hall.rs).
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# certutil and pk12util put the technician's certificate into that browser's NSS database.
command -v pk12util >/dev/null || missing+=(libnss3-tools)
# openssl s_client reads the certificate the gateway serves (tests/tests/link_identity.rs).
command -v openssl >/dev/null || missing+=(openssl)
# espeak-ng speaks the hall's call-outs and the kiosk's instructions (motcua-speech); sox
# measures the audio it makes (speech/tests/synthesize.rs).
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
# Signed intake copies (issue #19): p11-kit (the kiosk's default PKCS#11 module, its proxy),
# SoftHSM2 (the officer's token in tests), opensc (pkcs11-tool makes the token's key and
# stores its certificate); pdfsig (poppler-utils, above) judges the signatures with an NSS
# database (certutil, libnss3-tools, above), pyHanko below.
[ -f /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so ] || missing+=(p11-kit)
[ -f /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
# Python's venv, for schemathesis and pyHanko below.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tuspy, the tus project's Python client, uploads to the gateway with a client certificate
# (tests/tests/link_tools.rs), as the README shows.
if ! python3 -c 'import tusclient' >/dev/null 2>&1; then
  echo "== installing tuspy"
  python3 -m pip install --quiet 'tuspy==1.1.0'
fi

# schemathesis checks the gateway against its own OpenAPI document
# (tests/tests/openapi_conformance.rs), in a venv of its own so its many Python dependencies
# never meet the system's.
venv="${MOTCUA_TEST_VENV:-/opt/motcua-test-venv}"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  echo "== installing schemathesis into $venv"
  as_root python3 -m venv "$venv"
  as_root "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi
# tuspy in the same venv too: tests/tests/tuspy_client.rs runs it as a generic tus client
# (uploads twice, resumes after a kill).
if ! "$venv/bin/python" -c 'import tusclient' >/dev/null 2>&1; then
  echo "== installing tuspy into $venv"
  as_root "$venv/bin/pip" install --quiet 'tuspy==1.1.0'
fi

# pyHanko validates the PAdES signatures of intake copies (tests/tests/signed_copies.rs),
# beside poppler's pdfsig.
if ! "$venv/bin/pyhanko" --version >/dev/null 2>&1; then
  echo "== installing pyHanko into $venv"
  as_root "$venv/bin/pip" install --quiet 'pyHanko==0.38.0' 'pyhanko-cli==0.6.0' 'pyhanko-certvalidator==0.33.0'
fi

# s3s-fs, an S3-compatible server on a local folder: scripts/test.sh runs the gateway's
# PostgreSQL tests with their blobs in S3 through it. 0.14.1: newer versions need a newer rustc.
if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "== installing s3s-fs"
  cargo install s3s-fs --version 0.14.1 --features binary --locked
fi

# cargo-nextest runs the tests (scripts/test.sh); machines of this kind usually have it (the
# version pinned is the one they carry, known to build with their rustc).
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install cargo-nextest --version 0.9.143 --locked
fi

# cargo-deb builds the .deb files (README, "Install on a device").
if ! cargo deb --version >/dev/null 2>&1; then
  echo "== installing cargo-deb"
  cargo install cargo-deb --locked
fi
