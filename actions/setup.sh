# shellcheck shell=bash
#
# Sourced by every step of the spatiafi-ops composite actions (actions/token, actions/rotate).
#
# Builds (or reuses) an isolated virtual environment under $RUNNER_TEMP, installs spatiafi-ops
# into it, and defines the glue the steps use:
#
#   spatiafi_ops ARGS...            run the CLI; on failure one `::error::` line, same exit code
#   spatiafi_require_input NAME VAR fail (exit 2) when the input behind $VAR is empty
#   spatiafi_bool NAME VALUE        true/false of a boolean input (YAML 1.2 core spellings)
#   spatiafi_set_output NAME VALUE  append a single-line, non-secret step output
#   die [--code N] MESSAGE          one `::error::` line, then exit N (default 1)
#
# and sets SPATIAFI_ACTION_EXE (the spatiafi-ops executable) and SPATIAFI_ACTION_PYTHON_EXE.
#
# Environment (all optional):
#   SPATIAFI_ACTION_VERSION  "" (default): install the action's own checkout
#                            ($GITHUB_ACTION_PATH/../..), so a pinned action ref pins the code;
#                            "X.Y.Z": spatiafi-ops==X.Y.Z from the package index instead.
#   SPATIAFI_ACTION_PYTHON   interpreter that builds the venv (default: python3 on PATH), >= 3.10.
#   SPATIAFI_ACTION_VENV     an existing virtual environment that already holds spatiafi-ops,
#                            used as it is (self-hosted runner images, the test harness).
#
# Dependencies are installed from actions/requirements.txt in pip's hash-checking mode; the
# build backend is in that file too, so the checkout builds with --no-build-isolation from
# hash-pinned files only. Modelled on sigstore/gh-action-sigstore-python:setup/setup.bash.

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  echo "::error title=spatiafi-ops::actions/setup.sh must be sourced by an action step, not executed" >&2
  exit 1
fi

set -eo pipefail

_spatiafi_escape() {
  # Workflow-command data escaping (actions/toolkit command.ts escapeData): % first, then CR, LF.
  local data="$1"
  data="${data//'%'/%25}"
  data="${data//$'\r'/%0D}"
  data="${data//$'\n'/%0A}"
  printf '%s' "$data"
}

_spatiafi_annotate() {
  # usage: _spatiafi_annotate error|warning|notice MESSAGE
  # stderr: a step may capture stdout with $(...), and the runner scans both streams.
  printf '::%s title=spatiafi-ops::%s\n' "$1" "$(_spatiafi_escape "$2")" >&2
}

die() {
  local code=1
  if [[ "${1:-}" == "--code" ]]; then
    code="$2"
    shift 2
  fi
  _spatiafi_annotate error "$*"
  exit "$code"
}

_spatiafi_exit_meaning() {
  # The CLI's documented exit codes (SPEC §3).
  case "$1" in
    1) printf 'an unexpected internal error in spatiafi-ops; please report it' ;;
    2) printf "a usage error: check the action's inputs" ;;
    3) printf 'the service rejected the credentials' ;;
    4) printf 'the service was unreachable or kept failing' ;;
    5) printf 'a local state problem' ;;
    *) printf 'an unknown failure' ;;
  esac
}

spatiafi_ops() {
  # Run the CLI. Its stderr (logs, the final "Error: ..." sentence) is shown after it exits,
  # so every ::add-mask:: it printed on stdout is registered before any log line appears.
  local status=0 errlog message
  errlog="$(mktemp "${RUNNER_TEMP}/spatiafi-ops-stderr.XXXXXX")"
  "$SPATIAFI_ACTION_EXE" "$@" 2>"$errlog" || status=$?
  cat "$errlog" >&2 || true
  if [[ "$status" -ne 0 ]]; then
    # The final sentence: "Error: ..." (console) or "::error::..." (github, escaped data).
    message="$(sed -n 's/^Error: //p; s/^::error:://p' "$errlog" | tail -n 1)"
    message="${message//%0D/$'\r'}"
    message="${message//%0A/$'\n'}"
    message="${message//%25/%}"
    rm -f "$errlog"
    _spatiafi_annotate error "spatiafi-ops ${1:-} failed (exit ${status}: $(_spatiafi_exit_meaning "$status")): ${message:-see the log above}"
    return "$status"
  fi
  rm -f "$errlog"
}

spatiafi_require_input() {
  # usage: spatiafi_require_input INPUT_NAME ENV_VAR_NAME
  if [[ -z "${!2:-}" ]]; then
    die --code 2 "The '$1' input is empty. If it comes from a secret or variable, make sure it exists and is available to this workflow run (secrets are not passed to runs triggered from forks or by Dependabot)."
  fi
}

spatiafi_bool() {
  # usage: if spatiafi_bool INPUT_NAME "$VALUE"; then ...  (exit 2 on anything else)
  case "$2" in
    true | True | TRUE) return 0 ;;
    false | False | FALSE) return 1 ;;
    *) die --code 2 "The '$1' input must be true or false, not '$2'." ;;
  esac
}

spatiafi_set_output() {
  # Non-secret, single-line values only (reference ci-formats §1.7 G1); secrets go through
  # the CLI's --format github, which masks them and writes heredoc blocks.
  case "$2" in
    *$'\n'* | *$'\r'*) die "refusing to write a multi-line value to the '$1' output" ;;
  esac
  printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
}

_spatiafi_bindir() {
  if [[ -d "$1/Scripts" && ! -d "$1/bin" ]]; then
    printf '%s/Scripts' "$1" # Windows layout
  else
    printf '%s/bin' "$1"
  fi
}

_spatiafi_install() {
  # usage: _spatiafi_install VENV SPEC_KIND SPEC_VALUE PYTHON
  local venv="$1" kind="$2" what="$3" python="$4" pip
  echo "::group::Installing spatiafi-ops (${kind} ${what}) into ${venv}"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" ||
    die "could not create a virtual environment with ${python}; install the venv module (Debian: python3-venv) or use actions/setup-python first"
  # --no-compile: modules compile on first import, and the CLI imports only a few of them.
  pip=("$(_spatiafi_bindir "$venv")/python" -m pip --disable-pip-version-check --no-input --quiet)
  "${pip[@]}" install --no-compile --require-hashes --no-deps --only-binary :all: -r "${_spatiafi_action_root}/requirements.txt" ||
    die "installing the hash-pinned requirements of spatiafi-ops failed (see pip's output above)"
  if [[ "$kind" == "checkout" ]]; then
    "${pip[@]}" install --no-compile --no-deps --no-build-isolation "$what" ||
      die "installing spatiafi-ops from ${what} failed (see pip's output above)"
  else
    "${pip[@]}" install --no-compile --no-deps --only-binary spatiafi-ops "spatiafi-ops==${what}" ||
      die "installing spatiafi-ops==${what} failed; check that this version exists (see pip's output above)"
    "${pip[@]}" check >&2 ||
      die "spatiafi-ops==${what} needs dependencies that this action's requirements.txt does not pin; use the action ref of the same release instead of the 'version' input"
  fi
  echo "::endgroup::"
}

# shellcheck disable=SC2034 # SPATIAFI_ACTION_EXE/PYTHON_EXE are for the step that sourced this
_spatiafi_setup() {
  local python version venv kind what spec key bindir
  _spatiafi_action_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
  [[ -n "${RUNNER_TEMP:-}" ]] || die --code 5 "RUNNER_TEMP is not set; the spatiafi-ops actions run only inside a GitHub Actions job"
  mkdir -p "${RUNNER_TEMP}/spatiafi-ops"

  version="${SPATIAFI_ACTION_VERSION:-}"
  if [[ -n "$version" && ! "$version" =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
    die --code 2 "The 'version' input must be a spatiafi-ops version such as 1.2.0 (or empty for the action's own code), not '${version}'."
  fi

  if [[ -n "${SPATIAFI_ACTION_VENV:-}" ]]; then
    venv="$SPATIAFI_ACTION_VENV"
    [[ -f "${venv}/pyvenv.cfg" ]] ||
      die --code 5 "SPATIAFI_ACTION_VENV=${venv} is not a virtual environment; refusing to use a system Python"
    echo "::debug::spatiafi-ops: using the prepared environment ${venv}"
    if [[ -n "$version" ]]; then
      _spatiafi_annotate warning "SPATIAFI_ACTION_VENV is set, so the 'version' input (${version}) is ignored"
    fi
  else
    python="${SPATIAFI_ACTION_PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 ||
      die "no ${python} on PATH; add actions/setup-python (3.10 or newer) before this step"
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
      die "spatiafi-ops needs Python 3.10 or newer, but ${python} is $("$python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo unknown); add actions/setup-python before this step"
    if [[ -z "$version" ]]; then
      [[ -n "${GITHUB_ACTION_PATH:-}" ]] || die --code 5 "GITHUB_ACTION_PATH is not set; cannot find the action's checkout"
      kind=checkout
      what="$(cd "${GITHUB_ACTION_PATH}/../.." && pwd -P)"
      [[ -f "${what}/pyproject.toml" ]] || die --code 5 "${what} does not hold spatiafi-ops (no pyproject.toml)"
    else
      kind=pypi
      what="$version"
    fi
    # One venv per (source, interpreter): a second step in the same job reuses it.
    spec="${kind} ${what} $("$python" -c 'import sys; print(sys.executable, *sys.version_info[:3])')"
    key="$("$python" -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$spec")"
    venv="${RUNNER_TEMP}/spatiafi-ops/venv-${key}"
    if [[ -f "${venv}/.spatiafi-ops-action" && "$(cat "${venv}/.spatiafi-ops-action")" == "$spec" ]]; then
      echo "spatiafi-ops: reusing ${venv}"
    else
      _spatiafi_install "$venv" "$kind" "$what" "$python"
      # Written last, so an interrupted install is never reused.
      printf '%s' "$spec" >"${venv}/.spatiafi-ops-action"
    fi
  fi

  bindir="$(_spatiafi_bindir "$venv")"
  SPATIAFI_ACTION_EXE="${bindir}/spatiafi-ops"
  SPATIAFI_ACTION_PYTHON_EXE="${bindir}/python"
  if [[ ! -x "$SPATIAFI_ACTION_EXE" && -x "${SPATIAFI_ACTION_EXE}.exe" ]]; then
    SPATIAFI_ACTION_EXE="${SPATIAFI_ACTION_EXE}.exe"
  fi
  [[ -x "$SPATIAFI_ACTION_EXE" ]] || die --code 5 "${venv} has no spatiafi-ops executable"
}

_spatiafi_setup
