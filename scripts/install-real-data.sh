#!/usr/bin/env bash
# The real-image detection set (imgrec.data.detection.composite, benchmarks/detection_real.py)
# pastes Debian's Openclipart drawings (openclipart-png) onto opencv-doc's sample photos.
# Installs the two packages with apt when they are missing and apt can be used; otherwise says how.
set -euo pipefail
packages=(openclipart-png opencv-doc)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the real-image detection set (apt-get)..."
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q "${missing[@]}" >/dev/null
    }
    echo "installed: ${missing[*]}"
else
    echo "note: ${missing[*]} not installed; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
