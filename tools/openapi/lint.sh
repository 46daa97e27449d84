#!/usr/bin/env bash
# Lints docs/openapi.json with Redocly's CLI (installed into build/node by
# tools/openapi/npm.sh) under tools/openapi/redocly.yaml, and checks that
# docs/api-reference.md is what tools/openapi/reference.mjs makes of the
# document. Exit 0 when both hold.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/openapi/npm.sh
# no telemetry, no update check: make check reaches no one but the npm registry
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
build/node/node_modules/.bin/redocly lint --config tools/openapi/redocly.yaml --format=stylish docs/openapi.json
ref=$(mktemp)
trap 'rm -f "$ref"' EXIT
node tools/openapi/reference.mjs docs/openapi.json >"$ref"
if ! cmp -s "$ref" docs/api-reference.md; then
  echo "openapi: docs/api-reference.md is not docs/openapi.json's reference; run make docs-api" >&2
  exit 1
fi
