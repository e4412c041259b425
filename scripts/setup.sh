#!/usr/bin/env bash
# Set up ganalyze-mem in ./.venv: Python packages (torch 2.14.1 / torchvision 0.29.1) and, when run as root on
# Debian, the optional system packages used by validation reports, the demo data and the tests.
#   bash scripts/setup.sh          # everything a user needs
#   bash scripts/setup.sh --test   # the same plus test tools
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Optional Debian packages: WordNet (class-name synonyms), OpenCV's BRISQUE models, object photos for the demo,
# Chromium (the report rendering test). Skipped quietly where apt-get is not available or we are not root.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  pkgs="wordnet-base opencv-data tuxpaint-stamps-default"
  [ $want_test = 1 ] && pkgs="$pkgs chromium"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -c "import torch, torchvision" 2>/dev/null || $pip install -q "torch==2.14.1" "torchvision==0.29.1"
extras="humanmem,wordnet,validation,ray,machines,features,game,pandas,tensorboard"
[ $want_test = 1 ] && extras="$extras,dev"
$pip install -q -e ".[$extras]"
echo "ganalyze-mem is installed in .venv (run .venv/bin/ganalyze-mem --help)"
