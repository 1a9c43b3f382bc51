#!/usr/bin/env bash
# `make demo`: build the bundled example image (tests/fixtures/apps/flask-app, a Flask app on old PyPI versions
# with a pytest suite inside) and run honed on it. Each stage joins the demo as its command lands; a stage whose
# command does not exist yet is skipped with a note, so the demo works at every point of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HONED=${HONED:-.venv/bin/honed}
OUT=${HONED_DEMO_OUT:-demo-out}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
has() { "$HONED" "$1" --help >/dev/null 2>&1; }

step "example image (built from Debian packages, cached)"
REF=$("$PY" -c 'from tests.fixtures.build import ensure; print(ensure("flask-app", quiet=False).ref)')
echo "$REF"

step "honed inspect"
"$HONED" inspect "$REF"

# The advisory database: built once from the bundled offline data (shared/vulndata), reused afterwards.
VULNDATA=${HONED_SHARED:-../shared}/vulndata
if has db && ! "$HONED" db status >/dev/null 2>&1; then
  if [ -d "$VULNDATA" ]; then
    step "honed db import $VULNDATA"
    "$HONED" db import "$VULNDATA"
  else
    echo "demo: no advisory data at $VULNDATA; run 'honed db update' for the live sources"
  fi
fi

if has pipeline; then
  step "honed pipeline (scan → profile → harden → verify)"
  rc=0
  "$HONED" pipeline "$REF" --test "python3 -m pytest -q -p no:cacheprovider /app/tests" \
    --http-probe 8000/health --output "$OUT" || rc=$?
  # Until the pipeline issue lands in full, a failing pipeline is reported, not fatal (set DEMO_STRICT=1).
  if [ "$rc" -ne 0 ]; then
    echo "demo: honed pipeline exited $rc (see the messages above)"
    if [ "${DEMO_STRICT:-0}" = 1 ]; then exit "$rc"; fi
  fi
else
  for cmd in sbom scan profile harden verify pipeline; do
    has "$cmd" || echo "demo: 'honed $cmd' is not available yet; skipped"
  done
fi
