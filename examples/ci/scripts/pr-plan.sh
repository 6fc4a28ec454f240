#!/usr/bin/env bash
# A pull/merge request touching steep.yaml: validate it, plan it, and post the plan as one
# comment on the request (updated in place on every push), hazards flagged, SQL collapsed,
# the topology as a picture. Exit 0 when the plan is clean (with or without changes), 1 when
# the file is invalid or the plan failed (the comment says why).
#
#   STEEP_CONFIG    the file (default steep.yaml)
#   STEEP_OBSERVED  optional: a capture of `steep observe` to plan against instead of the
#                   live nodes (then the job needs no database password)
#   STEEP_CI_DIR    where the plan and the comment are written (default: a temporary directory);
#                   plan.json there is the saved plan the comment shows: keep it as the job's
#                   artifact and run `steep apply plan.json` after approval (it runs exactly
#                   that plan, or refuses naming what changed; `steep show plan.json --check`
#                   says beforehand)
# Posting: see post.sh (GitHub: GH_TOKEN, PR_NUMBER; GitLab: GITLAB_TOKEN).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${STEEP_CONFIG:-steep.yaml}"
dir="${STEEP_CI_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
body="$dir/steep-plan-comment.md"
commit="${GITHUB_SHA:-${CI_COMMIT_SHA:-}}"

footer() {
  echo
  echo "<sub>$(steep --version | head -n 1)${commit:+ · commit ${commit:0:12}} · \`$config\`</sub>"
}

echo '<!-- steep-plan -->' > "$body"
if ! steep validate -c "$config" > "$dir/validate.txt" 2>&1; then
  {
    echo '## steep plan'
    echo
    echo ":x: **\`steep validate\` found problems in \`$config\`; nothing was planned.**"
    echo
    echo '```'
    cat "$dir/validate.txt"
    echo '```'
    footer
  } >> "$body"
  "$here/post.sh" request-comment "$body"
  exit 1
fi

args=(plan -c "$config" --format markdown --detailed-exitcode --graph --out "$dir/plan.json")
if [ -n "${STEEP_OBSERVED:-}" ]; then args+=(--observed "$STEEP_OBSERVED"); fi
steep "${args[@]}" > "$dir/plan.md" 2> "$dir/plan.err"
code=$?
{
  cat "$dir/plan.md"
  if [ "$code" -eq 1 ]; then
    echo
    echo ':x: **The plan failed.**'
    echo
    echo '```'
    cat "$dir/plan.err"
    echo '```'
  fi
  footer
} >> "$body"
"$here/post.sh" request-comment "$body" || exit 1
# 2 = changes to apply: a successful plan all the same
[ "$code" -eq 1 ] && exit 1
exit 0
