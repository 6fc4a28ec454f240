#!/usr/bin/env bash
# Post a Markdown file to the CI's forge, updating what an earlier run posted instead of adding
# another: the file's first line is a hidden marker (`<!-- steep-plan -->`) that finds it again.
#
#   post.sh request-comment FILE        the comment on this pull/merge request
#   post.sh drift-issue FILE TITLE      the open drift issue (created when there is none)
#
# GitHub Actions: the `gh` CLI with GH_TOKEN (the workflow's github.token), GITHUB_REPOSITORY,
#   and PR_NUMBER for request-comment.
# GitLab CI: curl with GITLAB_TOKEN (a project access token with the `api` scope; the job token
#   may not write notes or issues), CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID.
# JSON is read with node, which steep needs anyway.
set -euo pipefail
what="$1"
file="$2"
title="${3:-}"
marker="$(head -n 1 "$file")"

# print the `key` of the first object (stdin: a JSON array, or one object per line) whose
# `field` starts with the marker
first_marked() {
  node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const [field, key, marker] = process.argv.slice(1);
      const text = s.trim();
      const items = text.startsWith("[") ? JSON.parse(text) : text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const hit = items.find((x) => typeof x[field] === "string" && x[field].startsWith(marker));
      if (hit) console.log(hit[key]);
    });' "$1" "$2" "$marker"
}

github() {
  local repo="${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}"
  case "$what" in
    request-comment)
      local pr="${PR_NUMBER:?set PR_NUMBER to the pull request number}"
      local id
      id="$(gh api "repos/$repo/issues/$pr/comments" --paginate --jq '.[]' | first_marked body id)"
      if [ -n "$id" ]; then
        gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$file" > /dev/null
        echo "updated the steep comment on pull request #$pr"
      else
        gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$file" > /dev/null
        echo "commented on pull request #$pr"
      fi
      ;;
    drift-issue)
      local number
      number="$(gh issue list --repo "$repo" --state open --limit 200 --json number,body | first_marked body number)"
      if [ -n "$number" ]; then
        gh issue edit "$number" --repo "$repo" --body-file "$file" > /dev/null
        echo "updated drift issue #$number"
      else
        gh issue create --repo "$repo" --title "$title" --body-file "$file" > /dev/null
        echo "opened a drift issue"
      fi
      ;;
  esac
}

gitlab() {
  local api="${CI_API_V4_URL:?}/projects/${CI_PROJECT_ID:?}"
  local auth="PRIVATE-TOKEN: ${GITLAB_TOKEN:?set GITLAB_TOKEN to a project access token with the api scope}"
  case "$what" in
    request-comment)
      local mr="${CI_MERGE_REQUEST_IID:?not a merge request pipeline}"
      local id
      id="$(curl --fail -sS -H "$auth" "$api/merge_requests/$mr/notes?per_page=100&sort=asc" | first_marked body id)"
      if [ -n "$id" ]; then
        curl --fail -sS -X PUT -H "$auth" --data-urlencode "body@$file" "$api/merge_requests/$mr/notes/$id" > /dev/null
        echo "updated the steep note on merge request !$mr"
      else
        curl --fail -sS -X POST -H "$auth" --data-urlencode "body@$file" "$api/merge_requests/$mr/notes" > /dev/null
        echo "commented on merge request !$mr"
      fi
      ;;
    drift-issue)
      local iid
      iid="$(curl --fail -sS -H "$auth" "$api/issues?state=opened&labels=steep-drift&per_page=100" | first_marked description iid)"
      if [ -n "$iid" ]; then
        curl --fail -sS -X PUT -H "$auth" --data-urlencode "description@$file" "$api/issues/$iid" > /dev/null
        echo "updated drift issue #$iid"
      else
        curl --fail -sS -X POST -H "$auth" --data-urlencode "title=$title" --data-urlencode "labels=steep-drift" \
          --data-urlencode "description@$file" "$api/issues" > /dev/null
        echo "opened a drift issue"
      fi
      ;;
  esac
}

case "$what" in
  request-comment | drift-issue) ;;
  *)
    echo "post.sh: unknown target $what (request-comment or drift-issue)" >&2
    exit 1
    ;;
esac
if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
  github
elif [ "${GITLAB_CI:-}" = "true" ]; then
  gitlab
else
  echo "post.sh: neither GitHub Actions nor GitLab CI (GITHUB_ACTIONS / GITLAB_CI unset); the text is in $file" >&2
  exit 1
fi
