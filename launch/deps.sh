#!/usr/bin/env bash
# Checks the Debian packages and tools BayesPrune needs; installs missing packages when run as root,
# otherwise prints the exact sudo command and exits 1.
set -euo pipefail

packages=(libopenblas-dev libdnnl-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found (not Debian?); make sure these are installed: ${packages[*]}" >&2
else
    missing=()
    for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "deps: missing Debian packages: ${missing[*]}"
        if [[ "$(id -u)" -eq 0 ]]; then
            apt-get update
            DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
        else
            echo "deps: run this, then try again:"
            echo "sudo apt-get install -y ${missing[*]}"
            exit 1
        fi
    fi
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "deps: 'swift' is not on PATH. Install the Swift 6 toolchain (https://www.swift.org/install/linux/)" >&2
    echo "deps: and add its usr/bin to PATH, e.g. export PATH=/opt/swift/usr/bin:\$PATH" >&2
    exit 1
fi

echo "deps: ok (${packages[*]}; $(swift --version 2>/dev/null | head -n 1))"
