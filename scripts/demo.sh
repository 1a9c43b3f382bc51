#!/usr/bin/env bash
# `make demo`: build the bundled example image (tests/fixtures/apps/flask-app, a Flask app on old PyPI versions
# with a pytest suite inside) and run the whole pipeline on it: scan → profile → harden → verify, then check the
# signed record it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HONED=${HONED:-.venv/bin/honed}
OUT=${HONED_DEMO_OUT:-demo-out}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "example image (built from Debian packages, cached)"
REF=$("$PY" -c 'from tests.fixtures.build import ensure; print(ensure("flask-app", quiet=False).ref)')
echo "$REF"

step "honed inspect"
"$HONED" inspect "$REF"

# The advisory database: built once from the bundled offline data (shared/vulndata), reused afterwards.
VULNDATA=${HONED_SHARED:-../shared}/vulndata
if ! "$HONED" db status >/dev/null 2>&1; then
  if [ -d "$VULNDATA" ]; then
    step "honed db import $VULNDATA"
    "$HONED" db import "$VULNDATA"
  else
    echo "demo: no advisory data at $VULNDATA; run 'honed db update' for the live sources"
  fi
fi

step "honed pipeline (scan → profile → harden → verify)"
"$HONED" pipeline "$REF" --test "python3 -m pytest -q -p no:cacheprovider /app/tests" \
  --http-probe 8000/health --output "$OUT"

step "honed record verify $OUT"
"$HONED" record verify "$OUT"
