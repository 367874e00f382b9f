#!/usr/bin/env bash
# Fuzzes what a kiosk and the gateway read from outside (fuzz/fuzz_targets/: the chip ID card's
# QR, scanned code payloads, the printer's status answer, the kiosk's config files, tus headers
# and the gateway's JSON bodies) with cargo fuzz (libFuzzer), each target for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [--runs N] [--release] [TARGET...]
#
# --seconds N  time per target (default 15: the bounded pass .ci/run makes)
# --runs N     stop each target after N executions instead (the long run: --runs 10000000)
# --release    optimised build (faster executions; slower to build) instead of the dev build
# Seeds are fuzz/corpus/TARGET (kept read-only); what the fuzzer learns goes to a temporary
# corpus. A crash leaves its input in fuzz/artifacts/TARGET/ and makes the script fail; replay
# it with `cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/<file>`.
# The stable toolchain is enough: no sanitizer (`-s none`), Rust's own checks (overflow,
# bounds, debug assertions) catch what matters in safe code.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=15
runs=""
profile=(--dev)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --release) profile=(-O); shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

target_dir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
started=$SECONDS
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
  echo "== fuzz: building every target (${targets[*]})"
  cargo fuzz build -s none "${profile[@]}" --target-dir "$target_dir"
else
  for t in "${targets[@]}"; do
    echo "== fuzz: building $t"
    cargo fuzz build -s none "${profile[@]}" --target-dir "$target_dir" "$t"
  done
fi
echo "== fuzz: built in $((SECONDS - started)) s"

limit=(-max_total_time="$seconds")
if [ -n "$runs" ]; then
  limit=(-runs="$runs")
fi
work=$(mktemp -d /tmp/motcua-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  if [ -n "$runs" ]; then budget="$runs runs"; else budget="$seconds s"; fi
  echo "== fuzz: $t ($budget)"
  if cargo fuzz run -s none "${profile[@]}" --target-dir "$target_dir" "$t" \
      "$work/$t" "fuzz/corpus/$t" -- "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$t")
    tail -n 40 "$log"
  fi
  done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)
  execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
  per_s=$(grep -E 'stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -n 1)
  summary+=("$(printf '%-14s %-7s %12s runs %9s exec/s  %s' "$t" "$result" "${execs:-?}" "${per_s:-?}" "$done_line")")
done
echo "== fuzz: summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${failed[*]} crashed; the inputs are in fuzz/artifacts/" >&2
  exit 1
fi
