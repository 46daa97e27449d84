#!/usr/bin/env bash
# Installs the OpenAPI tools (tools/openapi/package.json: Redocly's CLI,
# ajv and ajv-formats, at the versions package-lock.json pins) into
# build/node, with npm's cache in build/node/cache; again only when the
# lock file changed. Needs node and npm (tools/deps.sh installs them with
# LIPA_CHECK_DEPS=1). Prints nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=build/node
command -v npm >/dev/null || { echo "openapi: npm is missing; run 'make deps-check'" >&2; exit 1; }
if [ -f $dest/package-lock.json ] && cmp -s tools/openapi/package-lock.json $dest/package-lock.json &&
   [ -x $dest/node_modules/.bin/redocly ]; then
  exit 0
fi
mkdir -p $dest
cp tools/openapi/package.json tools/openapi/package-lock.json $dest/
echo "openapi: npm ci in $dest (Redocly CLI, ajv)" >&2
# no install scripts: none of these packages needs one to work
if ! (cd $dest && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error --cache "$PWD/cache" >/dev/null); then
  rm -f $dest/package-lock.json # tried again next time
  echo "openapi: npm ci failed" >&2
  exit 1
fi
