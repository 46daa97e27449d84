#!/usr/bin/env bash
# Lints docs/openapi.json with Redocly's CLI (installed into build/node by
# tools/openapi/npm.sh) under tools/openapi/redocly.yaml. Exit 0 when clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/openapi/npm.sh
# no telemetry, no update check: make check reaches no one but the npm registry
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
build/node/node_modules/.bin/redocly lint --config tools/openapi/redocly.yaml --format=stylish docs/openapi.json
