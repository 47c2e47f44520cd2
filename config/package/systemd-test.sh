#!/usr/bin/env bash
# The Debian package under a real systemd (issue 14): `systemctl cat osprey`, the hardened unit
# started, reloaded and stopped, `systemd-analyze security`, purge. The CI machine has no systemd as
# PID 1, so a minimal Debian (debootstrap) is booted with systemd-nspawn and driven with nsenter;
# it shares the host's network, so the host reaches the service on 127.0.0.1.
#
#   config/package/systemd-test.sh [path/to/osprey_*.deb]     (root; needs debootstrap, systemd-container)
#
# config/package/test.sh covers the maintainer scripts without systemd (license declined / accepted,
# upgrades, purge); this script covers what only systemd can show.
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=${1:-$(ls target/debian/osprey_*_amd64.deb | head -n 1)}
root=${NSPAWN_ROOT:-target/nspawn-root}
log=$(mktemp -d)/nspawn.log
fail() { echo "systemd-test: FAIL: $*" >&2; exit 1; }
step() { echo "systemd-test: $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, systemd-nspawn)"
[ -f "$deb" ] || fail "no package at $deb (config/package/build.sh makes it)"
for t in debootstrap systemd-nspawn nsenter curl; do
  command -v $t >/dev/null || fail "$t not installed (apt-get install debootstrap systemd-container curl)"
done
for port in 8443 9000 9464; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then fail "127.0.0.1:$port is taken; the packaged config listens there"; fi
done

if [ ! -x "$root/lib/systemd/systemd" ]; then
  step "debootstrap a minimal Debian 12 with systemd into $root (about a minute)"
  rm -rf "$root"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" \
    http://deb.debian.org/debian >"$log.debootstrap" 2>&1 || { tail -5 "$log.debootstrap"; fail "debootstrap"; }
fi
cp "$deb" "$root/root/osprey.deb"

step "boot it with systemd-nspawn"
# --register=no --keep-unit: no systemd on the host to register with
setsid systemd-nspawn -D "$root" -b --register=no --keep-unit --console=pipe </dev/null >"$log" 2>&1 &
nspawn=$!
leader=
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$nspawn" -x systemd || true)
  [ -n "$leader" ] && break
  sleep 0.1
done
if [ -z "$leader" ]; then
  # A machine that cannot boot a container (no user/PID namespaces, a locked-down cgroup tree)
  # cannot run this check at all; say so loudly rather than fail the CI run on the environment.
  # Everything after a successful boot is a hard check.
  cat "$log"
  echo "systemd-test: NOT RUN: systemd-nspawn could not boot the container on this machine" >&2
  exit 0
fi
inside() { nsenter -t "$leader" -m -u -i -p -n -- /bin/sh -c "$1"; }
stop_container() {
  inside 'systemctl poweroff' >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do kill -0 "$nspawn" 2>/dev/null || return 0; sleep 0.1; done
  kill "$nspawn" 2>/dev/null || true
}
trap stop_container EXIT
for _ in $(seq 1 100); do
  state=$(inside 'systemctl is-system-running' 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  sleep 0.2
done
step "container systemd: $(inside 'systemctl --version | head -n 1'), state ${state:-unknown}"

inside 'echo "osprey osprey/accept-license boolean true" | debconf-set-selections'
# as a provider installs it: apt resolves the package's dependencies from Debian's archive
inside 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/osprey.deb' >"$log.apt" 2>&1 ||
  { tail -20 "$log.apt"; fail "apt-get install ./osprey.deb"; }
step "installed: $(inside 'osprey --version')"

inside 'systemctl cat osprey' >"$log.cat" || fail "systemctl cat osprey failed"
head -n 1 "$log.cat" | grep -q '^# /lib/systemd/system/osprey.service' || fail "systemctl cat: $(head -n 1 "$log.cat")"
grep -q '^ExecStart=/usr/bin/osprey serve --config /etc/osprey/osprey.toml' "$log.cat" || fail "systemctl cat osprey shows no ExecStart"
step "systemctl cat osprey: $(head -n 1 "$log.cat"), $(grep -c . "$log.cat") lines"
[ "$(inside 'systemctl is-enabled osprey' || true)" = disabled ] || fail "the package must not enable the service"

inside 'systemctl start osprey' || { inside 'journalctl -u osprey --no-pager | tail -20'; fail "systemctl start osprey"; }
for _ in $(seq 1 100); do
  curl -sf -m 2 http://127.0.0.1:8443/api/info >/dev/null && break
  sleep 0.1
done
info=$(curl -sf -m 2 http://127.0.0.1:8443/api/info) || { inside 'journalctl -u osprey --no-pager | tail -20'; fail "OSIS does not answer under the unit's sandbox"; }
case $info in *'"status":"NORMAL"'*) ;; *) fail "/api/info: $info" ;; esac
ready=$(curl -s -m 2 http://127.0.0.1:9464/readyz) || fail "/readyz does not answer"
step "serving under systemd as $(inside 'ps -o user= -C osprey' 2>/dev/null || echo osprey): /api/info NORMAL, /readyz $ready"

inside 'systemctl reload osprey' || { inside 'journalctl -u osprey --no-pager | tail -5'; fail "systemctl reload osprey"; }
sleep 1
[ "$(inside 'systemctl is-active osprey' || true)" = active ] || fail "not active after reload"
step "systemctl reload osprey: still active"

exposure=$(inside 'systemd-analyze security osprey --no-pager 2>/dev/null' | sed -n 's/.*Overall exposure level for osprey.service: \([0-9.]*\).*/\1/p')
step "systemd-analyze security osprey: overall exposure ${exposure:-?} (0 = most restricted, 10 = none)"

inside 'systemctl stop osprey'
[ "$(inside 'systemctl is-active osprey' || true)" = inactive ] || fail "still active after stop"
# journald may take a moment to store the last line of a stopped service
# (read whole, then searched: `grep -q` in a pipe under pipefail fails when journalctl gets SIGPIPE)
stopped=
for _ in $(seq 1 50); do
  journal=$(inside 'journalctl -u osprey --no-pager -b')
  case $journal in *"osprey stopped"*) stopped=yes; break ;; esac
  sleep 0.1
done
[ -n "$stopped" ] || { echo "$journal" | tail -5; fail "no graceful stop in the journal"; }
step "systemctl stop osprey: graceful (osprey stopped in the journal)"

inside 'DEBIAN_FRONTEND=noninteractive dpkg --purge osprey' >/dev/null 2>&1 || fail "dpkg --purge"
inside 'id osprey' >/dev/null 2>&1 && fail "user osprey left after purge"
inside 'test -e /var/lib/osprey || test -e /etc/osprey || test -e /lib/systemd/system/osprey.service' && fail "files left after purge"
step "purged: no user, no /etc/osprey, /var/lib/osprey or unit"
step "passed"
