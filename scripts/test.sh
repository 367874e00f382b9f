#!/usr/bin/env bash
# The test command of motcua (README): installs what a fresh Debian machine lacks, starts a
# throwaway PostgreSQL server for the gateway's production backend, runs every test of the
# workspace, and stops the server again. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/sbin:/sbin"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages and cargo-deb, when missing.
scripts/install-deps.sh

# The release binaries, built once: the packages are made from them (--no-build) and the
# container test installs those packages (it only checks they are up to date).
echo "== release binaries"
started=$SECONDS
cargo build --release --locked -p motcua-kiosk -p motcua-gateway --bins
echo "== release binaries built in $((SECONDS - started)) s"
started=$SECONDS
for package in motcua-kiosk motcua-gateway; do
  cargo deb --no-build --no-dbgsym --strip -p "$package"
done
echo "== Debian packages built in $((SECONDS - started)) s"

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/motcua-pg.XXXXXX)
chmod 755 "$pgdir"
as_pg() {
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$pgdir"; runuser -u postgres -- "$@"; else "$@"; fi
}
port=55432
while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done

# The server also speaks TLS, with a certificate from a lab CA made by the gateway's own
# `ca init`: tests/tests/postgres_tls.rs connects with sslmode=verify-full (the other tests
# connect without TLS, which this server accepts too).
target/release/gateway ca init --dir "$pgdir/tls" --host 127.0.0.1 --host localhost \
  --name "motcua test PostgreSQL CA" >/dev/null

echo "== starting PostgreSQL ($pgbin) on 127.0.0.1:$port"
as_pg "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres -E UTF8 --no-sync >"$pgdir/initdb.log"
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=200 -c ssl=on -c ssl_cert_file=$pgdir/tls/tls.crt -c ssl_key_file=$pgdir/tls/tls.key" start >/dev/null
stop_pg() {
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap stop_pg EXIT

export MOTCUA_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
export MOTCUA_TEST_DATABASE_CA_FILE="$pgdir/tls/ca.crt"
# Chromium presents a client certificate without asking only under the managed policy
# AutoSelectCertificateForUrls (tests/tests/fleet_page.rs opens the fleet page with the
# technician's certificate). This one selects only certificates issued by the tests' lab CA
# ("motcua test CA") and only for https://127.0.0.1, so it changes nothing for other sites.
policy_dir=/etc/chromium/policies/managed
if [ ! -f "$policy_dir/motcua-tests.json" ]; then
  as_root mkdir -p "$policy_dir"
  printf '%s\n' '{"AutoSelectCertificateForUrls": ["{\"pattern\":\"https://127.0.0.1\",\"filter\":{\"ISSUER\":{\"CN\":\"motcua test CA\"}}}"]}' |
    as_root tee "$policy_dir/motcua-tests.json" >/dev/null
fi
echo "== cargo test"
cargo test --workspace --locked "$@"
