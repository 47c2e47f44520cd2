#!/usr/bin/env bash
# Run ceph/s3-tests against Ceph RGW directly and/or through Osprey's `ceph-rgw` kind.
#
# Usage: conformance/run.sh [direct|osprey|both] [S3TESTS_DIR]      (default: both)
#
#   S3TESTS_DIR         a ceph/s3-tests work tree (argument or environment); never copied here
#   S3TESTS_COMMIT      its commit, recorded in the results (else `git rev-parse HEAD` in it, else
#                       the file S3TESTS_DIR/.s3tests-commit)
#   PRESET=core         conformance/presets/<PRESET>.sh: files, pytest -m expression, deselections
#   PYTEST_ARGS         extra pytest arguments, shell-quoted (e.g. '-k "bucket_list or acl"')
#   TEST_TIMEOUT=300    per-test time-out in seconds (pytest-timeout)
#   CONFORMANCE_VENV    Python venv for s3-tests (default target/conformance-venv; made if missing)
#   CEPH_RGW_DIR        Ceph directory for backends/ceph-rgw/start.sh (default /tmp/ceph-rgw)
#   RGW_ENDPOINT        default http://127.0.0.1:7480; RGW_ADMIN_KEY / RGW_ADMIN_SECRET (ADMINKEY /
#                       ADMINSECRET) are Osprey's backend admin pair
#   DIRECT_TENANT       direct run: RGW tenant of main and alt (default: the global tenant; see
#                       make_conf.py and docs/conformance.md for why)
#   OSPREY_SOURCE=head  build the committed HEAD (git archive into target/conformance/src-<commit>,
#                       own target dir target/conformance/target, so neither uncommitted work in
#                       src/ nor another build in target/ changes what is measured);
#                       OSPREY_SOURCE=worktree builds the working tree (`cargo build --bin osprey`)
#   OSPREY_BIN          use this binary instead of building one
#   OSPREY_KIND=ceph-rgw  the backend kind behind Osprey: ceph-rgw (run `osprey`, per-user RGW
#                       identities), s3 (run `osprey-s3`: one RGW service user, Osprey decides
#                       authorization) or local (run `osprey-local`: the quick start's embedded store)
#   KEEP_IDENTITIES=1   leave the Osprey run's OSIS tenants (and their RGW users) in place
#   CONFORMANCE_WORK    work directory (default: a new /tmp/osprey-conformance.XXXXXX)
#
# Writes conformance/results/<run>.txt (`PASS|FAIL|ERROR|SKIP name`), <run>.messages.txt (first
# line of every non-pass), <run>.meta (date, commits, preset, counts), <run>.cleanup.txt (buckets
# the s3tc_cleanup.py plugin removed after s3-tests' own clean-up failed), and for `both`
# results/summary.txt (conformance/diff.py). <run>.xml (junit) and osprey.log are kept next to them
# but not committed (.gitignore).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RUN=${1:-both}
S3TESTS_DIR=${2:-${S3TESTS_DIR:-}}
PRESET=${PRESET:-core}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
VENV=${CONFORMANCE_VENV:-$REPO/target/conformance-venv}
CEPH_DIR=${CEPH_RGW_DIR:-/tmp/ceph-rgw}
RGW_ENDPOINT=${RGW_ENDPOINT:-http://127.0.0.1:7480}
RGW_ADMIN_KEY=${RGW_ADMIN_KEY:-ADMINKEY}
RGW_ADMIN_SECRET=${RGW_ADMIN_SECRET:-ADMINSECRET}
RESULTS=${CONFORMANCE_RESULTS:-$HERE/results}
OSPREY_KIND=${OSPREY_KIND:-ceph-rgw}
case "$OSPREY_KIND" in
  ceph-rgw) OSPREY_RUN=osprey; OSPREY_TEMPLATE=osprey.toml.in; OSPREY_ROLE=TENANT_ADMIN ;;
  # main and alt are plain users of one org: a TENANT_ADMIN administers every bucket of its
  # tenant on the shared-identity kinds (docs/authorization.md), which s3-tests do not expect
  s3) OSPREY_RUN=osprey-s3; OSPREY_TEMPLATE=osprey-s3.toml.in; OSPREY_ROLE=TENANT_USER ;;
  local) OSPREY_RUN=osprey-local; OSPREY_TEMPLATE=osprey-local.toml.in; OSPREY_ROLE=TENANT_USER ;;
  *) echo "OSPREY_KIND must be ceph-rgw, s3 or local" >&2; exit 1 ;;
esac

log() { printf '[conformance %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

case "$RUN" in direct|osprey|both) ;; *) die "usage: $0 [direct|osprey|both] [S3TESTS_DIR]";; esac
[ -n "$S3TESTS_DIR" ] || die "no s3-tests directory: pass it as the 2nd argument or set S3TESTS_DIR
  (git clone https://github.com/ceph/s3-tests /tmp/s3-tests; see docs/conformance.md)"
S3TESTS_DIR=$(cd "$S3TESTS_DIR" && pwd)
[ -f "$S3TESTS_DIR/s3tests/functional/test_s3.py" ] || die "$S3TESTS_DIR is not an s3-tests tree"
PRESET_FILE=$HERE/presets/$PRESET.sh
[ -f "$PRESET_FILE" ] || die "no preset $PRESET_FILE"
# shellcheck source=presets/core.sh
. "$PRESET_FILE"

S3TESTS_COMMIT=${S3TESTS_COMMIT:-$(git -C "$S3TESTS_DIR" rev-parse HEAD 2>/dev/null \
  || cat "$S3TESTS_DIR/.s3tests-commit" 2>/dev/null || echo unknown)}
OSPREY_SOURCE=${OSPREY_SOURCE:-head}
case "$OSPREY_SOURCE" in head|worktree) ;; *) die "OSPREY_SOURCE must be head or worktree";; esac
# resolved once: a commit made by someone else during the direct run must not change what is built
OSPREY_REV=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
OSPREY_COMMIT=${OSPREY_REV:0:7}
if [ -n "${OSPREY_BIN:-}" ]; then
  OSPREY_COMMIT="binary $OSPREY_BIN"
elif [ "$OSPREY_SOURCE" = worktree ] \
     && [ -n "$(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock build.rs 2>/dev/null)" ]; then
  OSPREY_COMMIT="$OSPREY_COMMIT+uncommitted-changes"
fi

WORK=${CONFORMANCE_WORK:-$(mktemp -d /tmp/osprey-conformance.XXXXXX)}
mkdir -p "$WORK" "$RESULTS"
log "work directory $WORK; s3-tests $S3TESTS_DIR ($S3TESTS_COMMIT); Osprey $OSPREY_COMMIT"

# ------------------------------------------------------------------ Python venv for s3-tests
PY=$VENV/bin/python
if ! "$PY" -c 'import boto3, botocore, munch, gevent, isodate, lxml, yaml, httplib2, pytz, requests, pytest, pytest_timeout' 2>/dev/null; then
  log "creating/completing the venv $VENV (s3-tests requirements.txt + pytest-timeout, from PyPI)"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$S3TESTS_DIR/requirements.txt" pytest-timeout \
    || die "pip install failed"
fi

# ------------------------------------------------------------------ Ceph RGW (reused when running)
log "starting/reusing Ceph RGW in $CEPH_DIR"
bash "$REPO/backends/ceph-rgw/start.sh" "$CEPH_DIR" >"$WORK/ceph-start.log" 2>&1 \
  || { cat "$WORK/ceph-start.log"; die "backends/ceph-rgw/start.sh failed"; }

# ------------------------------------------------------------------ helpers
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

run_pytest() { # run-name conf-file
  local name=$1 conf=$2 xml=$WORK/$1.xml t0 rc
  local -a args=(-p no:cacheprovider -p s3tc_cleanup -q -rA --timeout "$TEST_TIMEOUT" -m "$PRESET_MARKERS"
                 --junitxml "$xml" -o junit_family=xunit2)
  local d; for d in "${PRESET_DESELECT[@]}"; do args+=(--deselect "$d"); done
  # PYTEST_ARGS is split like shell words, so quotes work: PYTEST_ARGS='-k "acl and not grant"'
  local -a extra=()
  [ -n "${PYTEST_ARGS:-}" ] && eval "extra=($PYTEST_ARGS)"
  args+=("${extra[@]}")
  log "[$name] pytest (preset $PRESET, timeout ${TEST_TIMEOUT}s per test); output in $WORK/$name.out"
  t0=$(date +%s)
  set +e
  ( cd "$S3TESTS_DIR" && env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
      -u AWS_PROFILE -u AWS_DEFAULT_REGION -u AWS_REGION \
      AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
      PYTHONPATH="$HERE" S3TC_CLEANUP_LOG="$WORK/$name.cleanup.txt" \
      S3TEST_CONF="$conf" "$VENV/bin/pytest" "${args[@]}" "${PRESET_FILES[@]}" ) >"$WORK/$name.out" 2>&1
  rc=$?
  set -e
  local secs=$(( $(date +%s) - t0 ))
  tail -1 "$WORK/$name.out" | sed "s/^/[conformance] [$name] /"
  [ -s "$xml" ] || die "[$name] pytest wrote no junit XML (exit $rc); see $WORK/$name.out"
  local summary
  summary=$("$PY" "$HERE/junit2results.py" "$xml" "$RESULTS/$name.txt" "$RESULTS/$name.messages.txt")
  cp "$xml" "$RESULTS/$name.xml"
  # buckets conformance/s3tc_cleanup.py had to remove after a test (s3-tests' own clean-up failed)
  { echo "# nodeid<TAB>bucket<TAB>deleted-by: left behind after s3-tests' own teardown"
    sort "$WORK/$name.cleanup.txt" 2>/dev/null || true; } >"$RESULTS/$name.cleanup.txt"
  {
    echo "run: $name"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    [ "$name" != direct ] && echo "osprey_kind: $OSPREY_KIND"
    [ "$name" != direct ] && echo "osprey_commit: $OSPREY_COMMIT (source: ${OSPREY_BIN:-$OSPREY_SOURCE})"
    [ "$name" != direct ] && echo "osprey_version: ${OSPREY_VERSION:-}"
    echo "s3tests_commit: $S3TESTS_COMMIT"
    echo "ceph: $(ceph --version 2>/dev/null | head -1)"
    echo "preset: $PRESET"
    echo "files: ${PRESET_FILES[*]}"
    echo "markers: $PRESET_MARKERS"
    echo "deselect: ${PRESET_DESELECT[*]}"
    echo "extra_pytest_args: ${PYTEST_ARGS:-}"
    echo "endpoint: $3"
    [ "$name" = direct ] && echo "direct_tenant: ${DIRECT_TENANT:-(global)}"
    echo "duration_s: $secs"
    echo "pytest_exit: $rc"
    echo "cleanup_interventions: $(grep -vc '^#' "$RESULTS/$name.cleanup.txt" || true)"
    echo "counts: $summary"
  } >"$RESULTS/$name.meta"
  log "[$name] $summary in ${secs}s -> $RESULTS/$name.txt"
}

# ------------------------------------------------------------------ direct run
run_direct() {
  mkdir -p "$WORK/direct"
  log "[direct] RGW users (radosgw-admin, reused when present)"
  "$PY" "$HERE/make_conf.py" direct --ceph-conf "$CEPH_DIR/ceph.conf" --endpoint "$RGW_ENDPOINT" \
    --direct-tenant "${DIRECT_TENANT:-}" \
    --out "$WORK/direct/s3tests.conf" --state "$WORK/direct/identities.json"
  run_pytest direct "$WORK/direct/s3tests.conf" "$RGW_ENDPOINT"
}

# ------------------------------------------------------------------ through Osprey
OSPREY_PID=
OSIS_URL=
ADMIN_PAIR=
stop_osprey() {
  [ -n "$OSPREY_PID" ] || return 0
  if kill -0 "$OSPREY_PID" 2>/dev/null; then
    log "[osprey] stopping Osprey (pid $OSPREY_PID, SIGTERM)"
    kill -TERM "$OSPREY_PID" 2>/dev/null || true
    local i; for i in $(seq 1 300); do kill -0 "$OSPREY_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$OSPREY_PID" 2>/dev/null; then
      log "[osprey] still running after 30 s: SIGKILL $OSPREY_PID"; kill -KILL "$OSPREY_PID" 2>/dev/null || true
    fi
  fi
  wait "$OSPREY_PID" 2>/dev/null || true
  OSPREY_PID=
}
trap stop_osprey EXIT

delete_identities() { # OSIS DELETE of the run's tenants (purge), then wait for RGW to forget the users
  local state=$WORK/osprey/identities.json
  [ -s "$state" ] && [ -n "$OSIS_URL" ] || return 0
  local t
  for t in $("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["tenants"]))' "$state"); do
    curl -s -o /dev/null -w "[conformance] [osprey] DELETE tenant $t: %{http_code}\n" \
      -u "$ADMIN_PAIR" -X DELETE "$OSIS_URL/api/v1/tenants/$t?purge_data=true" || true
  done
  # the s3 and local kinds make no RGW users (nothing to wait for)
  [ "$OSPREY_KIND" = ceph-rgw ] || return 0
  local uids i left
  uids=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["identities"]; print(" ".join(v["tenant"]+"$"+v["osis_user_id"] for v in d.values()))' "$state")
  for i in $(seq 1 60); do
    left=
    for u in $uids; do
      timeout 60 radosgw-admin -c "$CEPH_DIR/ceph.conf" user info --uid "$u" >/dev/null 2>&1 && left="$left $u"
    done
    [ -z "$left" ] && { log "[osprey] the run's RGW users are gone"; return 0; }
    sleep 1
  done
  log "[osprey] WARNING: RGW users still present after 60 s:$left"
}

run_osprey() {
  local dir=$WORK/osprey bin
  mkdir -p "$dir"
  if [ -n "${OSPREY_BIN:-}" ]; then
    bin=$OSPREY_BIN
  elif [ "$OSPREY_SOURCE" = head ]; then
    local base=$REPO/target/conformance src
    src=$base/src-$OSPREY_COMMIT
    mkdir -p "$base"
    # one source tree per commit (cargo's fingerprints then never mistake an old tree for new)
    find "$base" -maxdepth 1 -name 'src-*' ! -path "$src" -exec rm -rf {} +
    if [ ! -f "$src/Cargo.toml" ]; then
      rm -rf "$src"; mkdir -p "$src"
      git -C "$REPO" archive "$OSPREY_REV" | tar -x -C "$src"
    fi
    log "[osprey] cargo build --locked --bin osprey of $OSPREY_COMMIT (HEAD when run.sh started) in $src (target dir $base/target)"
    ( cd "$src" && OSPREY_GIT_COMMIT=$OSPREY_COMMIT CARGO_TARGET_DIR=$base/target \
        cargo build --locked --bin osprey ) >"$dir/build.log" 2>&1 \
      || { tail -30 "$dir/build.log"; die "cargo build failed (log $dir/build.log)"; }
    cp "$base/target/debug/osprey" "$dir/osprey"
    bin=$dir/osprey
  else
    log "[osprey] cargo build --bin osprey of the working tree (shared target dir: may wait for its lock)"
    ( cd "$REPO" && cargo build --bin osprey ) >"$dir/build.log" 2>&1 \
      || { tail -30 "$dir/build.log"; die "cargo build failed"; }
    # a private copy, so that another build in the shared target dir cannot swap it mid-run
    cp "$REPO/target/debug/osprey" "$dir/osprey"
    bin=$dir/osprey
  fi
  OSPREY_VERSION=$("$bin" --version)
  log "[osprey] $OSPREY_VERSION"
  local osis_port s3_port admin_secret
  osis_port=$(free_port); s3_port=$(free_port)
  while [ "$s3_port" = "$osis_port" ]; do s3_port=$(free_port); done
  admin_secret=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
  local service_key=OSPRCONFSERVICE service_secret
  if [ "$OSPREY_KIND" = s3 ]; then
    # the s3 kind's one service identity: a plain RGW user (reused when present)
    service_secret=$(printf 'osprconf-service-%s' "$RGW_ADMIN_SECRET" | sha256sum | cut -c1-40)
    radosgw-admin -c "$CEPH_DIR/ceph.conf" user info --uid osprconf-service >/dev/null 2>&1 \
      || radosgw-admin -c "$CEPH_DIR/ceph.conf" user create --uid osprconf-service \
           --display-name "Osprey conformance service" --access-key "$service_key" \
           --secret-key "$service_secret" >/dev/null \
      || die "radosgw-admin user create osprconf-service failed"
  fi
  ADMIN_PAIR="conformance-admin:$admin_secret"
  OSIS_URL=http://127.0.0.1:$osis_port
  sed -e "s#{{data_dir}}#$dir/data#" -e "s#{{osis_port}}#$osis_port#" -e "s#{{s3_port}}#$s3_port#" \
      -e "s#{{admin_key}}#conformance-admin#" -e "s#{{admin_secret}}#$admin_secret#" \
      -e "s#{{rgw_endpoint}}#$RGW_ENDPOINT#" -e "s#{{rgw_admin_key}}#$RGW_ADMIN_KEY#" \
      -e "s#{{rgw_admin_secret}}#$RGW_ADMIN_SECRET#" -e "s#{{service_key}}#$service_key#" \
      -e "s#{{service_secret}}#${service_secret:-}#" "$HERE/$OSPREY_TEMPLATE" >"$dir/osprey.toml"
  chmod 600 "$dir/osprey.toml"
  "$bin" serve --config "$dir/osprey.toml" --accept-license </dev/null >"$dir/osprey.log" 2>&1 &
  OSPREY_PID=$!
  log "[osprey] started pid $OSPREY_PID: OSIS $OSIS_URL, S3 http://127.0.0.1:$s3_port, log $dir/osprey.log"
  local i
  for i in $(seq 1 600); do
    kill -0 "$OSPREY_PID" 2>/dev/null || { tail -30 "$dir/osprey.log"; die "Osprey exited during start"; }
    port_open "$osis_port" && port_open "$s3_port" && break
    [ "$i" = 600 ] && { tail -30 "$dir/osprey.log"; die "Osprey did not listen within 60 s"; }
    sleep 0.1
  done
  log "[osprey] creating the three identities through OSIS"
  "$PY" "$HERE/make_conf.py" osprey --osis "$OSIS_URL" --admin "$ADMIN_PAIR" \
    --endpoint "http://127.0.0.1:$s3_port" --suffix "$$" --role "$OSPREY_ROLE" \
    --out "$dir/s3tests.conf" --state "$dir/identities.json"
  run_pytest "$OSPREY_RUN" "$dir/s3tests.conf" "http://127.0.0.1:$s3_port"
  if [ "${KEEP_IDENTITIES:-0}" != 1 ]; then delete_identities; fi
  stop_osprey
  cp "$dir/osprey.log" "$RESULTS/$OSPREY_RUN.log"
}

case "$RUN" in
  direct) run_direct ;;
  osprey) run_osprey ;;
  both) run_direct; run_osprey ;;
esac

if [ -f "$RESULTS/direct.txt" ] && [ -f "$RESULTS/$OSPREY_RUN.txt" ]; then
  "$PY" "$HERE/diff.py" "$RESULTS/direct.txt" "$RESULTS/$OSPREY_RUN.txt" >"$RESULTS/summary.txt"
  sed -n '1,7p' "$RESULTS/summary.txt"
  log "full comparison: $RESULTS/summary.txt (python3 conformance/diff.py)"
fi
