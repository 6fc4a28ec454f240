#!/usr/bin/env bash
# Scheduled: `steep drift`. When it finds drift (exit 2), open an issue with the report, or
# update the one still open; exit 0. No drift: exit 0, nothing posted. A node that cannot be
# read, or an invalid file: exit 1 (the pipeline fails and its owners are told by the CI).
#
#   STEEP_CONFIG  the file (default steep.yaml)
#   STEEP_CI_DIR  where the report is written (default: a temporary directory)
# Posting: see post.sh.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${STEEP_CONFIG:-steep.yaml}"
dir="${STEEP_CI_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
body="$dir/steep-drift-issue.md"

steep drift -c "$config" --format markdown > "$dir/drift.md" 2> "$dir/drift.err"
code=$?
if [ "$code" -eq 0 ]; then
  echo "steep drift: no drift in $config"
  exit 0
fi
if [ "$code" -ne 2 ]; then
  cat "$dir/drift.err" >&2
  exit 1
fi
{
  echo '<!-- steep-drift -->'
  cat "$dir/drift.md"
  echo
  echo "<sub>Found by \`steep drift\` at $(date -u +%Y-%m-%dT%H:%M:%SZ) · $(steep --version | head -n 1) · \`$config\`. Run \`steep plan\` to see the steps that revert it, or change steep.yaml to accept it.</sub>"
} > "$body"
"$here/post.sh" drift-issue "$body" "steep: drift in $config"
