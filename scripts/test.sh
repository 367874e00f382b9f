#!/usr/bin/env bash
# The test command of motcua (README): installs what a fresh Debian machine lacks, starts a
# throwaway PostgreSQL server for the gateway's production backend and an S3-compatible server
# (s3s-fs) for its blob storage, runs every test of the workspace with cargo-nextest (its
# settings: .config/nextest.toml; nextest runs no doctests, and the workspace has none: its
# code blocks in comments are text, TOML or shell), and stops the servers again. Extra arguments go to
# `cargo nextest run` (a filter, e.g. `scripts/test.sh -E 'binary(uploads)'`, or `--no-capture`).
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
cargo build --release --locked -p motcua-kiosk -p motcua-gateway -p motcua-updater -p motcua-hub --bins
echo "== release binaries built in $((SECONDS - started)) s"
started=$SECONDS
# The releases the update test installs (tests/tests/deploy_update.rs), from the same binaries.
# First: cargo-deb deletes the other versions of a package from target/debian/ when it builds
# one, so the package as it is comes after them.
for version in 0.2.0-1 0.3.0-1; do
  cargo deb --no-build --no-dbgsym --strip -p motcua-kiosk --deb-version "$version" \
    --output target/motcua-update-debs >/dev/null
done
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
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=400 -c ssl=on -c ssl_cert_file=$pgdir/tls/tls.crt -c ssl_key_file=$pgdir/tls/tls.key" start >/dev/null
stop_pg() {
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}

# An S3-compatible server (s3s-fs) beside it: the gateway's PostgreSQL tests keep their blobs
# and uploads in S3 (a bucket per test, a folder in its root), the SQLite tests local files.
# Its credentials are made for this run; s3s-fs takes them only as options, which is
# acceptable for a throwaway server on 127.0.0.1 (the gateway reads them from a 0600 file).
s3dir=$(mktemp -d /tmp/motcua-s3.XXXXXX)
s3port=$((port + 1))
while (echo >/dev/tcp/127.0.0.1/$s3port) 2>/dev/null; do s3port=$((s3port + 1)); done
s3key="motcua-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
s3secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$s3dir/root"
(umask 077 && printf 'access_key_id = "%s"\nsecret_access_key = "%s"\n' "$s3key" "$s3secret" >"$s3dir/credentials.toml")
echo "== starting s3s-fs on 127.0.0.1:$s3port"
s3s-fs --host 127.0.0.1 --port "$s3port" --access-key "$s3key" --secret-key "$s3secret" \
  "$s3dir/root" >"$s3dir/server.log" 2>&1 &
s3pid=$!
for _ in $(seq 1 100); do
  (echo >/dev/tcp/127.0.0.1/$s3port) 2>/dev/null && break
  kill -0 "$s3pid" 2>/dev/null || { cat "$s3dir/server.log"; exit 1; }
  sleep 0.1
done
stop_servers() {
  kill "$s3pid" 2>/dev/null || true
  wait "$s3pid" 2>/dev/null || true
  rm -rf "$s3dir"
  stop_pg
}
trap stop_servers EXIT
export MOTCUA_TEST_S3_ENDPOINT="http://127.0.0.1:$s3port"
export MOTCUA_TEST_S3_ROOT="$s3dir/root"
export MOTCUA_TEST_S3_CREDENTIALS_FILE="$s3dir/credentials.toml"

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
echo "== cargo nextest run"
cargo nextest run --workspace --locked "$@"
