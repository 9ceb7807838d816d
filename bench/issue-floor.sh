#!/usr/bin/env bash
# Measures the floor under `caisse bench issue` on PostgreSQL (see issue-floor.sql): the time
# the server alone takes to write the rows of an issuance, summed over the timed statements.
#   bench/issue-floor.sh [members]      (default 1000000)
# PG_URL names the server (default postgres://postgres@127.0.0.1:5432); a scratch database is
# created and dropped.
set -euo pipefail
n=${1:-1000000}
base=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=caisse_floor_$$
cd "$(dirname "$0")/.."
psql "$base/postgres" -qc "CREATE DATABASE $db"
trap 'psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
cargo build --release -q
./target/release/caisse migrate --database-url "$base/$db" >/dev/null
psql "$base/$db" -q -t -v n="$n" -f bench/issue-floor.sql | awk -v n="$n" '
  /^Time:/ { if (!(label in ms)) order[++k] = label; ms[label] += $2; total += $2; next }
  /^[a-z]/ { label = $0 }
  END {
    for (i = 1; i <= k; i++) printf "%-45s %6.1f s\n", order[i], ms[order[i]] / 1000
    printf "issue floor: %d members, %.1f s of server time for the rows alone\n", n, total / 1000
  }'
