#!/usr/bin/env bash
# Create .venv and install AgentPost into it (with the dev tools), only if anything changed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_venv
