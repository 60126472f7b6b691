# Shared shell helpers for scripts/*.sh (sourced, not run).
# Everything here is idempotent: it checks first and only installs or starts what is missing.

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Root runs apt and pg_ctlcluster directly; anyone else goes through sudo.
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

# Debian keeps admin tools (postfix, smtp-source, pg_ctlcluster) in sbin.
have_cmd() { PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }

python_has_venv() { have_cmd python3 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1; }

APT_UPDATED=0
# apt_install PKG...: one `apt-get update` per run, then a non-interactive install.
apt_install() {
  [ "$#" -gt 0 ] || return 0
  have_cmd apt-get || die "missing $*, and apt-get is not available to install them"
  if [ "${#SUDO[@]}" -gt 0 ] && ! have_cmd sudo; then
    die "missing $*: run as root or install sudo"
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    "${SUDO[@]}" apt-get update -q
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@"
}

# ensure_venv: .venv with the package and its dev extras, reinstalled only when
# pyproject.toml changes (a stamp in the venv records the last installed version of it).
ensure_venv() {
  local venv="${VENV:-.venv}" stamp digest
  if ! python_has_venv; then
    apt_install python3 python3-venv python3-pip ca-certificates
  fi
  if [ ! -x "$venv/bin/python" ]; then
    say "python3 -m venv $venv"
    python3 -m venv "$venv"
  fi
  stamp="$venv/.agentpost-installed"
  digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && [ -x "$venv/bin/agentpost" ]; then
    return 0
  fi
  say "pip install -e '.[dev]'"
  "$venv/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
  printf '%s\n' "$digest" >"$stamp"
}
