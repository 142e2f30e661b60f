#!/usr/bin/env bash
# Install the Debian packages the test suite needs: redis-server, chromium (for Playwright,
# which cannot download its own browser here), PostgreSQL 15 binaries, a font, Tesseract OCR, poppler and
# LibreOffice Calc without a GUI (the export round-trip test converts XLSX/CSV with `soffice --headless`).
# Idempotent: does nothing when everything is present. Needs root (apt-get) otherwise.
# The tests start their own PostgreSQL/Redis on loopback; no system service is started here.
set -euo pipefail

missing=()
have_file() { [ -e "$1" ]; }
have_soffice() { command -v soffice >/dev/null 2>&1 || command -v libreoffice >/dev/null 2>&1; }

command -v redis-server >/dev/null 2>&1 || have_file /usr/bin/redis-server || missing+=(redis-server)
have_file /usr/bin/chromium || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql-15)
have_file /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing+=(fonts-dejavu-core)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
have_soffice || missing+=(libreoffice-calc-nogui)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-system-deps: run as root, or: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600)

# Keep package maintainer scripts from starting services (postgresql, redis):
# the tests start their own servers. Only install our policy if none is there.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

for attempt in 1 2 3; do
    if apt-get "${apt_opts[@]}" update -qq; then
        break
    fi
    if [ "$attempt" -eq 3 ]; then
        echo "install-system-deps: apt-get update failed" >&2
        exit 1
    fi
    sleep 10
done

apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"

# Check again: fail loudly if something is still not there.
still=()
command -v redis-server >/dev/null 2>&1 || have_file /usr/bin/redis-server || still+=(redis-server)
have_file /usr/bin/chromium || still+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || still+=(postgresql-15)
have_file /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || still+=(fonts-dejavu-core)
command -v tesseract >/dev/null 2>&1 || still+=(tesseract-ocr tesseract-ocr-eng)
command -v pdftoppm >/dev/null 2>&1 || still+=(poppler-utils)
have_soffice || still+=(libreoffice-calc-nogui)
if [ ${#still[@]} -ne 0 ]; then
    echo "install-system-deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "install-system-deps: done"
