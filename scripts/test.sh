#!/usr/bin/env bash
# `make test`: everything the test suite needs, then lint, types and the whole suite.
#
# Works on a fresh Debian 12 machine as root (or with sudo), and is quick to rerun: each step
# checks first and does nothing when its work is already done.
#   1. system packages the tests and benches use (apt, skipped when all are present)
#   2. PostgreSQL running and answering on 127.0.0.1:5432, with a role the tests can use
#   3. .venv with the package and its dev extras
#   4. ruff check, ruff format --check, mypy
#   5. pytest, the whole suite (extra arguments are passed to pytest)
# Any failure stops it with a non-zero exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PG_WAIT_SECONDS=60
TEST_ROLE=agentpost_test

# Commands the tests or benches run, each with the Debian package that provides it.
REQUIRED_COMMANDS=(
  "pg_ctlcluster:postgresql"   # tests marked postgres use a real server
  "psql:postgresql-client"
  "smtp-source:postfix"        # load generator for bench/ (smtp-sink too)
  "dovecot:dovecot-imapd"      # relay gateway tests run a real IMAP server
)

install_system_packages() {
  local missing=() entry
  for entry in "${REQUIRED_COMMANDS[@]}"; do
    have_cmd "${entry%%:*}" || missing+=("${entry#*:}")
  done
  python_has_venv || missing+=(python3 python3-venv python3-pip)
  [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  if [ "${#missing[@]}" -eq 0 ]; then
    say "system packages present"
    return 0
  fi
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    # Postfix asks how to configure itself unless told; tests only need its tools.
    echo "postfix postfix/main_mailer_type select Local only" | "${SUDO[@]}" debconf-set-selections
  fi
  apt_install "${missing[@]}"
}

start_postgres() {
  local version cluster port status
  if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
    say "pg_createcluster $version main"
    "${SUDO[@]}" pg_createcluster "$version" main
  fi
  while read -r version cluster port status _; do
    case "$status" in
      online*) ;;
      *)
        say "pg_ctlcluster $version $cluster start (port $port)"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
        ;;
    esac
  done < <(pg_lsclusters --no-header)
  wait_for_postgres
}

wait_for_postgres() {
  local deadline=$((SECONDS + PG_WAIT_SECONDS))
  until pg_isready -q -h 127.0.0.1 -p 5432; do
    [ "$SECONDS" -lt "$deadline" ] || die "PostgreSQL did not answer on 127.0.0.1:5432 within ${PG_WAIT_SECONDS}s"
    sleep 0.5
  done
  say "PostgreSQL answers on 127.0.0.1:5432"
}

# The tests connect as AGENTPOST_TEST_PG (default: postgres without a password, which works
# where local TCP logins are trusted). Debian's default asks for a password on TCP, so then a
# dedicated role with a password is made through the postgres account's local socket.
ensure_test_role() {
  local default_dsn="postgresql://postgres@127.0.0.1:5432/postgres"
  local role_dsn="postgresql://$TEST_ROLE:$TEST_ROLE@127.0.0.1:5432/postgres"
  if [ -n "${AGENTPOST_TEST_PG:-}" ]; then
    psql "$AGENTPOST_TEST_PG" -w -Atqc 'select 1' >/dev/null \
      || die "cannot connect with AGENTPOST_TEST_PG"
    return 0
  fi
  if psql "$default_dsn" -w -Atqc 'select 1' >/dev/null 2>&1; then
    return 0
  fi
  if ! psql "$role_dsn" -w -Atqc 'select 1' >/dev/null 2>&1; then
    say "creating PostgreSQL role $TEST_ROLE for the tests"
    "${SUDO[@]}" runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \
      "DO \$\$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_ROLE') THEN
           CREATE ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_ROLE';
         ELSE
           ALTER ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_ROLE';
         END IF;
       END \$\$;"
  fi
  export AGENTPOST_TEST_PG="$role_dsn"
}

lint() {
  local venv="${VENV:-.venv}"
  say "ruff check"
  "$venv/bin/ruff" check
  say "ruff format --check"
  "$venv/bin/ruff" format --check
  say "mypy"
  "$venv/bin/mypy"
}

install_system_packages
start_postgres
ensure_test_role
ensure_venv
lint
say "pytest"
"${VENV:-.venv}/bin/pytest" "$@"
