#!/usr/bin/env bash
# Plan baseline: run the unit tests with every plan() written out, into DIR (one .jsonl per test
# file, records sorted so worker order does not matter). Compare two runs with diff -r.
#   bash scripts/plan-baseline/run.sh /tmp/before   (on the old commit)
#   bash scripts/plan-baseline/run.sh /tmp/after    (on the new one)
#   diff -r /tmp/before /tmp/after
set -euo pipefail
dir=$(realpath -m "${1:?usage: run.sh DIR}")
rm -rf "$dir"; mkdir -p "$dir"
cd "$(dirname "$0")/../.."
FORCE_COLOR=0 PLAN_BASELINE_OUT="$dir" npx vitest run --config scripts/plan-baseline/vitest.config.ts >"$dir.log" 2>&1 || {
  echo "unit tests failed: see $dir.log" >&2
}
for f in "$dir"/*.jsonl; do sort -o "$f" "$f"; done
echo "$(cat "$dir"/*.jsonl | wc -l) plans in $(ls "$dir" | wc -l) files → $dir"
