#!/usr/bin/env bash
# Lint the GitHub Actions of spatiafi-ops, the project's workflows and the example workflows,
# offline.
#
#   actions/lint.sh [BIN_DIR]     BIN_DIR holds check-jsonschema and zizmor (default .venv/bin)
#
# - check-jsonschema with its vendored schemas (no download): action.yml files against
#   vendor.github-actions, .github/workflows/*.yml and examples/workflows/*.yml against
#   vendor.github-workflows, .github/dependabot.yml against vendor.dependabot;
# - zizmor --offline at the pedantic persona (template injection, unpinned uses, permissions,
#   credential persistence...); the examples with examples/zizmor.yml, whose only change is
#   that their OWNER/spatiafi-ops placeholder needs no SHA;
# - shellcheck on the cron example and this file, where it is installed
#   (tests/actions/test_definitions.py checks each `run:` script of the actions in `make test`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-.venv/bin}"

actions=(actions/token/action.yml actions/rotate/action.yml)
workflows=(.github/workflows/*.yml)
examples=(examples/workflows/*.yml)

"${bin}/check-jsonschema" --builtin-schema vendor.github-actions "${actions[@]}"
"${bin}/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}" "${examples[@]}"
"${bin}/check-jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml
zizmor=("${bin}/zizmor" --offline --no-progress --quiet --persona=pedantic)
"${zizmor[@]}" "${actions[@]}" "${workflows[@]}" .github/dependabot.yml
"${zizmor[@]}" --config examples/zizmor.yml "${examples[@]}"

bash -n examples/cron/spatiafi-rotate
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck -s bash actions/lint.sh examples/cron/spatiafi-rotate
else
  echo "actions/lint.sh: shellcheck not installed; skipped" >&2
fi
