#!/usr/bin/env bash
# Set up (once) and run the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for the quick loop, `-n 0` for one test at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# Test files run in parallel (pytest-xdist; a whole file per worker, so module and session fixtures are
# built once per file), one worker per core and per 10 GiB of available RAM: two workers on 2 cores and
# 24 GB peaked at 17.8 GB (docs/testing.md). Most of a slow test's time is single-threaded start-up
# (imports, model loading) that the other worker's compute overlaps.
ram_workers=$(awk '/MemAvailable/ {print int($2 / (10 * 1024 * 1024))}' /proc/meminfo)
workers=$(( $(nproc) < ram_workers ? $(nproc) : ram_workers ))
(( workers > 1 )) || workers=0
python -m pytest tests -n "$workers" --dist loadfile "$@"
