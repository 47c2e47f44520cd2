#!/usr/bin/env bash
# Osprey's AFL++ fuzz targets (docs/fuzzing.md).
#
#   fuzz/run.sh short                      every target ~15 s (CI smoke run, < 2 min of fuzzing)
#   fuzz/run.sh long SECONDS [TARGET...]   long runs, one target at a time
#   fuzz/run.sh cmin [TARGET...]           merge the last run's queue into fuzz/corpus/<t> (afl-cmin)
#   fuzz/run.sh tmin TARGET FILE           minimise a crash into fuzz/crashes/<t>/
#   fuzz/run.sh build                      only build the instrumented targets
#   (FUZZ_NO_BUILD=1 skips the build; FUZZ_STRICT=1 also checks the open bugs' invariants)
#
# Builds with `cargo afl` (installs cargo-afl and builds AFL++ when missing; stable toolchain).
# Output (queues, crashes, fuzzer_stats) goes to $FUZZ_OUT (default fuzz/target/afl-out), never
# into the repository. Exit status: 0 unless a target crashed (or the build failed); new crashes
# are listed with the command that minimises them.
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")"
FUZZ_DIR=$PWD
ALL_TARGETS=(sigv4 chunked s3op xml osis config post)
OUT=${FUZZ_OUT:-$FUZZ_DIR/target/afl-out}
NICE=${FUZZ_NICE:-10}
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_FAST_CAL=1
# Known open bugs (fuzz/crashes/OPEN) are not re-found on every run unless FUZZ_STRICT=1.
[[ ${FUZZ_STRICT:-0} == 1 ]] || export OSPREY_FUZZ_SKIP_OPEN=${OSPREY_FUZZ_SKIP_OPEN:-}
# A crash must not cost a core dump (AFL's speed on a crashing input; core_pattern may pipe).
ulimit -c 0

log() { echo "[fuzz $(date +%H:%M:%S)] $*"; }

ensure_afl() {
  if ! cargo afl --version >/dev/null 2>&1; then
    log "installing cargo-afl (crates.io)"
    nice -n "$NICE" cargo install cargo-afl --version '^0.18' --locked
  fi
  if ! ls "$HOME"/.local/share/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-fuzz >/dev/null 2>&1; then
    log "building AFL++ (cargo afl config --build)"
    nice -n "$NICE" cargo afl config --build
  fi
}

build() {
  if [[ ${FUZZ_NO_BUILD:-0} == 1 ]]; then log "FUZZ_NO_BUILD=1: using the built targets"; return; fi
  ensure_afl
  log "cargo afl build --release (fuzz/target)"
  local t0=$SECONDS
  nice -n "$NICE" cargo afl build --release --locked
  log "build took $((SECONDS - t0)) s"
}

stat() { # stat FILE KEY
  awk -F' *: *' -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null
}

report_header() {
  printf '%-8s %8s %12s %10s %8s %8s %8s %7s\n' target seconds execs execs/s corpus bitmap crashes hangs
}

report() { # report TARGET
  local f="$OUT/$1/default/fuzzer_stats"
  if [[ ! -f $f ]]; then
    printf '%-8s (no fuzzer_stats: did afl-fuzz start?)\n' "$1"
    return
  fi
  printf '%-8s %8s %12s %10s %8s %8s %8s %7s\n' "$1" "$(stat "$f" run_time)" "$(stat "$f" execs_done)" \
    "$(stat "$f" execs_per_sec)" "$(stat "$f" corpus_count)" "$(stat "$f" bitmap_cvg)" \
    "$(stat "$f" saved_crashes)" "$(stat "$f" saved_hangs)"
}

fuzz_one() { # fuzz_one TARGET SECONDS
  local t=$1 secs=$2
  local bin="$FUZZ_DIR/target/release/$t"
  [[ -x $bin ]] || { echo "no binary $bin (run: fuzz/run.sh build)"; exit 2; }
  rm -rf "${OUT:?}/$t"
  mkdir -p "$OUT/$t"
  log "$t: afl-fuzz for $secs s"
  # -V: stop after SECONDS; -t: 1 s per input is a hang; one fuzzer at a time, niced (shared cores).
  nice -n "$NICE" cargo afl fuzz -V "$secs" -t 1000 -i "$FUZZ_DIR/corpus/$t" -o "$OUT/$t" -- "$bin" \
    >"$OUT/$t/afl.log" 2>&1 || { log "$t: afl-fuzz failed, last lines:"; tail -20 "$OUT/$t/afl.log"; return 1; }
}

crashes_of() { # crashes_of TARGET -> crash files of the last run
  find "$OUT/$1/default/crashes" -type f -name 'id:*' 2>/dev/null | sort
}

run_targets() { # run_targets SECONDS TARGET...
  local secs=$1; shift
  local found=0 t
  for t in "$@"; do
    fuzz_one "$t" "$secs"
  done
  echo
  report_header
  for t in "$@"; do report "$t"; done
  for t in "$@"; do
    local c
    c=$(crashes_of "$t")
    if [[ -n $c ]]; then
      found=1
      echo
      echo "CRASHES in $t (replay one: fuzz/target/release/$t < FILE):"
      echo "$c" | sed 's/^/  /'
      echo "  minimise one into fuzz/crashes/$t/: fuzz/run.sh tmin $t FILE"
    fi
  done
  return $found
}

cmin() { # merge seeds + queue of the last run into fuzz/corpus/<t>
  local t tmp
  for t in "$@"; do
    [[ -d $OUT/$t/default/queue ]] || { log "$t: no queue in $OUT/$t"; continue; }
    tmp=$(mktemp -d)
    mkdir -p "$tmp/in" "$tmp/out"
    cp "$FUZZ_DIR/corpus/$t"/* "$tmp/in/"
    local i=0 q
    for q in "$OUT/$t/default/queue"/id:*; do
      cp "$q" "$tmp/in/queue-$i"; i=$((i + 1))
    done
    # afl-cmin.bash: `cargo afl cmin` (the Python afl-cmin) records no tuples for these
    # persistent-mode stdin targets here
    local bin_dir
    bin_dir=$(dirname "$(ls "$HOME"/.local/share/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-cmin.bash | tail -1)")
    PATH=$bin_dir:$PATH nice -n "$NICE" "$bin_dir/afl-cmin.bash" -t 1000 -i "$tmp/in" -o "$tmp/out" \
      -- "$FUZZ_DIR/target/release/$t" >"$tmp/cmin.log" 2>&1 \
      || { tail -20 "$tmp/cmin.log"; rm -rf "$tmp"; return 1; }
    # keep every seed; add the fuzzer's inputs that afl-cmin kept, named by content hash
    rm -f "$FUZZ_DIR/corpus/$t"/min-*
    local f n=0
    for f in "$tmp/out"/*; do
      case $(basename "$f") in
        seed-*) ;;
        *) cp "$f" "$FUZZ_DIR/corpus/$t/min-$(sha1sum "$f" | cut -c1-12)"; n=$((n + 1)) ;;
      esac
    done
    log "$t: afl-cmin kept $(ls "$tmp/out" | wc -l) of $(ls "$tmp/in" | wc -l) inputs ($n new min-* files)"
    rm -rf "$tmp"
  done
}

tmin() { # tmin TARGET FILE
  local t=$1 f=$2 out
  [[ $f == /* ]] || f=$CALLER_DIR/$f # a path given relative to where run.sh was called
  mkdir -p "$FUZZ_DIR/crashes/$t"
  out="$FUZZ_DIR/crashes/$t/tmp-$$"
  nice -n "$NICE" cargo afl tmin -t 1000 -i "$f" -o "$out" -- "$FUZZ_DIR/target/release/$t" >/dev/null
  local name
  name="$FUZZ_DIR/crashes/$t/crash-$(sha1sum "$out" | cut -c1-12)"
  mv "$out" "$name"
  log "minimised $(wc -c <"$f") -> $(wc -c <"$name") bytes: $name"
}

case ${1:-} in
  build) build ;;
  short)
    t0=$SECONDS
    build
    rc=0
    run_targets "${FUZZ_SHORT_SECS:-15}" "${ALL_TARGETS[@]}" || rc=$?
    log "short run (incl. build) took $((SECONDS - t0)) s"
    exit $rc
    ;;
  long)
    secs=${2:?usage: fuzz/run.sh long SECONDS [TARGET...]}
    shift 2
    targets=("$@")
    [[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
    build
    run_targets "$secs" "${targets[@]}"
    ;;
  cmin)
    shift
    targets=("$@")
    [[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
    cmin "${targets[@]}"
    ;;
  tmin) tmin "${2:?target}" "${3:?crash file}" ;;
  report)
    report_header
    for t in "${ALL_TARGETS[@]}"; do report "$t"; done
    ;;
  *)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac
