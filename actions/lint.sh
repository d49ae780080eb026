#!/usr/bin/env bash
# Lint the GitHub Actions of spatiafi-ops and the example workflows, offline.
#
#   actions/lint.sh [BIN_DIR]     BIN_DIR holds check-jsonschema and zizmor (default .venv/bin)
#
# - check-jsonschema with its vendored schemas (no download): action.yml files against
#   vendor.github-actions, examples/workflows/*.yml against vendor.github-workflows;
# - zizmor --offline at the pedantic persona (template injection, unpinned uses, permissions...);
# - shellcheck on the sourced setup script and on each `run:` script of the actions, where
#   it is installed (tests/actions/test_definitions.py does the same in `make test`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-.venv/bin}"

actions=(actions/token/action.yml actions/rotate/action.yml)
workflows=(examples/workflows/*.yml)

"${bin}/check-jsonschema" --builtin-schema vendor.github-actions "${actions[@]}"
"${bin}/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"${bin}/zizmor" --offline --no-progress --quiet --persona=pedantic "${actions[@]}" "${workflows[@]}"

bash -n actions/setup.sh
bash -n examples/cron/spatiafi-rotate
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck -s bash actions/setup.sh actions/lint.sh examples/cron/spatiafi-rotate
else
  echo "actions/lint.sh: shellcheck not installed; skipped" >&2
fi
