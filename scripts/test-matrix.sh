#!/usr/bin/env bash
# npm run test:matrix: the version-parametric tests (catalog, plan/apply, init, schema) on
# PostgreSQL 14, 15, 16, 17 and 18, one version at a time. CI runs 18 and 14 on every change.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
for v in 14 15 16 17 18; do
  echo "== PostgreSQL $v"
  STEEP_TEST_PG=$v npx vitest run test/integration test/cli
done
