#!/usr/bin/env bash
# Installs the application (the gateway and every stage) from a source tree into a folder, as the
# container image does: the Dockerfile's build stage runs exactly this, and so does a test
# (test/deploy/container.test.ts), into a scratch folder, which it then runs against the stack.
# Production dependencies only, with the project's patches (patches/) applied.
#
#   deploy/container/install.sh SOURCE TARGET
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE TARGET" >&2; exit 2; }
src=$(cd "$1" && pwd)
mkdir -p "$2"
dest=$(cd "$2" && pwd)

# What runs: the code (with its Lua scripts under platform/), the Avro schemas, the operator
# scripts (provision, rebuild-views, rebuild-schedules), and what npm needs to install.
for part in package.json package-lock.json .npmrc tsconfig.json patches schemas platform processors gateway scripts; do
  cp -R "$src/$part" "$dest/"
done
cd "$dest"
# Every dependency first: patch-package (a dev dependency) applies patches/ on postinstall and
# fails the install if one does not apply. Then the dev dependencies go; the patched files stay.
npm ci --no-audit --no-fund --loglevel=error
npm prune --omit=dev --no-audit --no-fund --loglevel=error
