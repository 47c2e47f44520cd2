#!/usr/bin/env bash
# Install test of the Osprey Debian package with dpkg, no systemd needed (docs/install.md#debian-package).
#
#   config/package/test.sh [PACKAGE.deb]     default: the newest target/debian/osprey_*.deb
#
# As root on a THROWAWAY machine: it installs, upgrades, removes and purges the package osprey and
# leaves the machine without it (also on failure). Steps:
#   a) license declined (no answer with the noninteractive frontend; preseeded false):
#      dpkg -i fails and nothing is installed
#   b) license preseeded true: installed; binary, unit, config, user, modes, license record;
#      the binary serves OSIS and S3 as user osprey with the packaged configuration
#   c) upgrades to re-packed copies with higher versions: a locally changed conffile is kept
#      (also when the packaged one changed: --force-confold, .dpkg-dist), the data directory kept
#   d) remove keeps configuration and data, a re-install does not ask again; purge removes
#      files, data, user, group, statoverrides and debconf answers
# Exits non-zero with "package test FAILED: <reason>" on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
step() { echo "[package test $(( $(date +%s) - t0 ))s] $*"; }
fail() { echo "package test FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs and purges the package)"
deb=${1:-$(ls -t target/debian/osprey_*.deb 2>/dev/null | head -n 1)}
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package: run config/package/build.sh first, or give the .deb"
deb=$(realpath "$deb")
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d /tmp/osprey-package-test.XXXXXX)
srv_pid=

status() { dpkg-query -W -f='${db:Status-Status}' osprey 2>/dev/null || echo not-installed; }
forget_answers() { echo PURGE | debconf-communicate osprey >/dev/null 2>&1 || true; }
cleanup() {
  rc=$?
  if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then kill -KILL "$srv_pid" 2>/dev/null || true; fi
  if [ "$(status)" != not-installed ]; then dpkg --purge osprey >/dev/null 2>&1 || true; fi
  forget_answers
  rm -rf "$work"
  exit "$rc"
}

[ "$(status)" = not-installed ] || fail "osprey is already on this machine (state $(status)); this test installs and purges it"
for p in /etc/osprey /var/lib/osprey /usr/bin/osprey; do
  [ ! -e "$p" ] || fail "$p exists (a manual installation?); this test would remove it"
done
! getent passwd osprey >/dev/null || fail "a user osprey exists; this test would remove it"
trap cleanup EXIT

version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}
step "package $deb ($version, $(du -h "$deb" | cut -f1))"

nothing_installed() { # $1 = context
  [ "$(status)" = not-installed ] || fail "$1: dpkg state is '$(status)', expected not-installed"
  ! dpkg -s osprey 2>/dev/null | grep -q '^Status: .* installed$' || fail "$1: dpkg -s osprey: $(dpkg -s osprey | grep ^Status)"
  for p in /usr/bin/osprey /etc/osprey /var/lib/osprey /lib/systemd/system/osprey.service /usr/share/doc/osprey; do
    [ ! -e "$p" ] || fail "$1: $p exists"
  done
  ! getent passwd osprey >/dev/null || fail "$1: user osprey exists"
  ! getent group osprey >/dev/null || fail "$1: group osprey exists"
  [ -z "$(debconf-show osprey 2>/dev/null)" ] || fail "$1: debconf still holds answers: $(debconf-show osprey)"
}

# --- a) declined ---------------------------------------------------------------------------------
step "a1) no answer, noninteractive frontend: dpkg -i must fail"
forget_answers
if dpkg -i "$deb" >"$work/a1.log" 2>&1 </dev/null; then cat "$work/a1.log"; fail "a1: installed without accepting the license"; fi
grep -q 'the Osprey license was not accepted' "$work/a1.log" || { cat "$work/a1.log"; fail "a1: no refusal message"; }
nothing_installed a1

step "a2) preseeded false: dpkg -i must fail"
echo 'osprey osprey/accept-license boolean false' | debconf-set-selections
if dpkg -i "$deb" >"$work/a2.log" 2>&1 </dev/null; then cat "$work/a2.log"; fail "a2: installed with the license declined"; fi
grep -q 'the Osprey license was not accepted' "$work/a2.log" || { cat "$work/a2.log"; fail "a2: no refusal message"; }
nothing_installed a2

# --- b) accepted ---------------------------------------------------------------------------------
step "b) preseeded true: dpkg -i"
echo 'osprey osprey/accept-license boolean true' | debconf-set-selections
dpkg -i "$deb" >"$work/b.log" 2>&1 </dev/null || { cat "$work/b.log"; fail "b: dpkg -i failed with the license accepted"; }
[ "$(status)" = installed ] || fail "b: dpkg state is '$(status)'"

v=$(osprey --version) || fail "b: osprey --version failed"
[[ "$v" =~ ^osprey\ ([^ ]+)\ \([0-9]{4}-[0-9]{2}-[0-9]{2}\;\ git\ [0-9a-z]+\)$ ]] && [ "${BASH_REMATCH[1]}" = "$upstream" ] ||
  fail "b: osprey --version printed '$v', expected 'osprey $upstream (<date>; git <commit>)'"
sig=$(osprey version)
step "b) $sig"
[ "$(command -v osprey)" = /usr/bin/osprey ] || fail "b: osprey is not /usr/bin/osprey"

unit=/lib/systemd/system/osprey.service
[ -f "$unit" ] || fail "b: $unit missing"
grep -qx 'ExecStart=/usr/bin/osprey serve --config /etc/osprey/osprey.toml' "$unit" || fail "b: unexpected ExecStart in $unit"
for k in 'User=osprey' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'ProtectHome=yes' 'PrivateTmp=yes' \
         'StateDirectory=osprey' 'ConfigurationDirectory=osprey' 'ReadWritePaths=/var/lib/osprey' \
         'CapabilityBoundingSet=' 'Restart=on-failure'; do
  grep -qx "$k" "$unit" || fail "b: $unit lacks $k"
done
if [ -d /run/systemd/system ]; then
  systemctl cat osprey >"$work/cat.txt" || fail "b: systemctl cat osprey failed"
  grep -q '^ExecStart=/usr/bin/osprey serve' "$work/cat.txt" || fail "b: systemctl cat osprey does not show the unit"
  step "b) systemctl cat osprey shows $(head -n 1 "$work/cat.txt")"
else
  # systemctl cat needs a running systemd; its offline unit loader still has to find the unit
  [ "$(systemctl --root=/ is-enabled osprey.service 2>&1)" = disabled ] ||
    fail "b: systemctl --root=/ is-enabled osprey.service: $(systemctl --root=/ is-enabled osprey.service 2>&1)"
  step "b) systemd is not PID 1: systemctl cat skipped; systemctl --root=/ is-enabled osprey = disabled (found, not enabled)"
fi
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" >"$work/verify.txt" 2>&1 || { cat "$work/verify.txt"; fail "b: systemd-analyze verify $unit"; }
fi

osprey check-config /etc/osprey/osprey.toml >/dev/null || fail "b: check-config /etc/osprey/osprey.toml (root)"
setpriv --reuid=osprey --regid=osprey --init-groups osprey check-config /etc/osprey/osprey.toml >/dev/null ||
  fail "b: check-config /etc/osprey/osprey.toml as user osprey"
grep -q '^data_dir = "/var/lib/osprey"' /etc/osprey/osprey.toml ||
  fail "b: packaged configuration does not use /var/lib/osprey"
dpkg-query -W -f='${Conffiles}\n' osprey | grep -q '^ /etc/osprey/osprey.toml ' || fail "b: /etc/osprey/osprey.toml is not a conffile"

pw=$(getent passwd osprey) || fail "b: no user osprey"
IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/osprey ] && [ "$shell" = /usr/sbin/nologin ] ||
  fail "b: user osprey is not a system user with home /var/lib/osprey and no shell: $pw"
modes() { stat -c '%U:%G %a' "$1"; }
[ "$(modes /var/lib/osprey)" = "osprey:osprey 700" ] || fail "b: /var/lib/osprey is $(modes /var/lib/osprey)"
[ "$(modes /etc/osprey)" = "root:osprey 750" ] || fail "b: /etc/osprey is $(modes /etc/osprey)"
[ "$(modes /etc/osprey/osprey.toml)" = "root:osprey 640" ] || fail "b: osprey.toml is $(modes /etc/osprey/osprey.toml)"
rec=/var/lib/osprey/LICENSE.accepted
[ -f "$rec" ] || fail "b: $rec missing"
[ "$(modes "$rec")" = "osprey:osprey 600" ] || fail "b: $rec is $(modes "$rec")"
grep -q "^accepted [0-9T:-]*Z with $sig" "$rec" || fail "b: $rec says '$(cat "$rec")'"
for f in LICENSE copyright install.md troubleshooting.md examples/proof-case.toml examples/quick-start.toml; do
  [ -f "/usr/share/doc/osprey/$f" ] || fail "b: /usr/share/doc/osprey/$f missing"
done
[ ! -e /etc/systemd/system/multi-user.target.wants/osprey.service ] || fail "b: the unit was enabled at install"
dpkg --verify osprey || fail "b: dpkg --verify osprey"

# The binary as the unit runs it: user osprey, the packaged file, no terminal, no --accept-license.
cfg=/etc/osprey/osprey.toml
in_use() { ss -Hltn "sport = :$1" | grep -q .; }
if in_use 8443 || in_use 9000; then
  cfg=/etc/osprey/package-test.toml   # removed by the purge below
  sed -e 's/:8443"/:18443"/' -e 's/:9000"/:19000"/' /etc/osprey/osprey.toml >"$cfg"
  chgrp osprey "$cfg"; chmod 0640 "$cfg"
  step "b) 8443 or 9000 is taken here: serving on 18443/19000 ($cfg, otherwise the packaged file)"
fi
osis=$(sed -n 's/^osis_listen = "\([^"]*\)".*/\1/p' "$cfg")
s3=$(sed -n 's/^s3_listen = "\([^"]*\)".*/\1/p' "$cfg")
step "b) serve as user osprey: OSIS $osis, S3 $s3"
(cd /var/lib/osprey && umask 0077 &&
  exec setpriv --reuid=osprey --regid=osprey --init-groups --inh-caps=-all \
    /usr/bin/osprey serve --config "$cfg" </dev/null >"$work/serve.log" 2>&1) &
srv_pid=$!
for _ in $(seq 1 60); do
  curl -fsS -o "$work/info.json" -D "$work/info.hdr" "http://$osis/api/info" 2>/dev/null && break
  kill -0 "$srv_pid" 2>/dev/null || { cat "$work/serve.log"; fail "b: osprey serve exited"; }
  sleep 0.5
done
[ -s "$work/info.json" ] || { cat "$work/serve.log"; fail "b: OSIS did not answer on $osis within 30 s"; }
grep -q '"osprey"' "$work/info.json" || fail "b: /api/info: $(cat "$work/info.json")"
grep -qi "^server: $sig" "$work/info.hdr" || fail "b: Server header is not the release signature: $(grep -i '^server' "$work/info.hdr")"
code=$(curl -s -o /dev/null -w '%{http_code}' -u osprey-admin:change-me-please "http://$osis/api/v1/s3capabilities")
[ "$code" = 200 ] || fail "b: OSIS with the packaged admin pair answered $code"
curl -fsS -D "$work/s3.hdr" -o "$work/s3.xml" "http://$s3/" || fail "b: S3 on $s3 did not answer"
grep -q '<ListAllMyBucketsResult' "$work/s3.xml" && grep -qi "^server: $sig" "$work/s3.hdr" ||
  fail "b: anonymous S3 ListBuckets answered: $(head -c 300 "$work/s3.xml")"
kill -TERM "$srv_pid"
for _ in $(seq 1 60); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$srv_pid" 2>/dev/null; then fail "b: osprey did not stop within 30 s of SIGTERM"; fi
srv_rc=0; wait "$srv_pid" || srv_rc=$?
srv_pid=
[ "$(modes /var/lib/osprey/osprey.db)" = "osprey:osprey 600" ] || fail "b: osprey.db is $(modes /var/lib/osprey/osprey.db)"
step "b) served (OSIS /api/info and admin 200, S3 ListBuckets, Server: $sig); SIGTERM: exit status $srv_rc"

# --- c) upgrades ---------------------------------------------------------------------------------
repack() { # $1 version, $2 line to add to the packaged conffile (or ""), $3 output file
  rm -rf "$work/pkg"
  dpkg-deb -R "$deb" "$work/pkg"
  sed -i "s/^Version: .*/Version: $1/" "$work/pkg/DEBIAN/control"
  if [ -n "$2" ]; then echo "$2" >>"$work/pkg/etc/osprey/osprey.toml"; fi
  dpkg-deb --root-owner-group -Zgzip -z1 -b "$work/pkg" "$3" >/dev/null
  dpkg --compare-versions "$1" gt "$version" || fail "c: $1 is not newer than $version"
}
echo "# local change (package test)" >>/etc/osprey/osprey.toml
install -o osprey -g osprey -m 0600 /dev/null /var/lib/osprey/package-test.marker
before=$(sha256sum /var/lib/osprey/LICENSE.accepted /var/lib/osprey/osprey.db)
kept() { # $1 context
  grep -qx '# local change (package test)' /etc/osprey/osprey.toml || fail "$1: the local change of osprey.toml is lost"
  [ -f /var/lib/osprey/package-test.marker ] || fail "$1: a file in /var/lib/osprey is lost"
  [ "$(sha256sum /var/lib/osprey/LICENSE.accepted /var/lib/osprey/osprey.db)" = "$before" ] ||
    fail "$1: LICENSE.accepted or osprey.db changed"
  [ "$(modes /etc/osprey/osprey.toml)" = "root:osprey 640" ] || fail "$1: osprey.toml is $(modes /etc/osprey/osprey.toml)"
  [ "$(modes /var/lib/osprey)" = "osprey:osprey 700" ] || fail "$1: /var/lib/osprey is $(modes /var/lib/osprey)"
  osprey check-config /etc/osprey/osprey.toml >/dev/null || fail "$1: check-config after the upgrade"
}

v2="$version+pkgtest2"
repack "$v2" "" "$work/osprey_v2.deb"
step "c1) upgrade to $v2 (same packaged conffile; osprey.toml changed locally)"
dpkg -i "$work/osprey_v2.deb" >"$work/c1.log" 2>&1 </dev/null || { cat "$work/c1.log"; fail "c1: upgrade failed"; }
[ "$(dpkg-query -W -f='${Version} ${db:Status-Status}' osprey)" = "$v2 installed" ] || fail "c1: not $v2 installed"
kept c1
[ -z "$(ls /etc/osprey/*.dpkg-* 2>/dev/null)" ] || fail "c1: unexpected $(ls /etc/osprey/*.dpkg-*)"

v3="$version+pkgtest3"
repack "$v3" "# packaged change (package test)" "$work/osprey_v3.deb"
step "c2) upgrade to $v3 (packaged conffile changed too) with --force-confold"
dpkg -i --force-confold "$work/osprey_v3.deb" >"$work/c2.log" 2>&1 </dev/null || { cat "$work/c2.log"; fail "c2: upgrade failed"; }
[ "$(dpkg-query -W -f='${Version} ${db:Status-Status}' osprey)" = "$v3 installed" ] || fail "c2: not $v3 installed"
kept c2
grep -qx '# packaged change (package test)' /etc/osprey/osprey.toml.dpkg-dist || fail "c2: no osprey.toml.dpkg-dist with the packaged version"

# --- d) remove, re-install, purge ----------------------------------------------------------------
step "d1) dpkg --remove keeps configuration, data and user"
dpkg --remove osprey >"$work/d1.log" 2>&1 || { cat "$work/d1.log"; fail "d1: remove failed"; }
[ "$(status)" = config-files ] || fail "d1: state after remove is '$(status)'"
[ ! -e /usr/bin/osprey ] && [ ! -e "$unit" ] || fail "d1: binary or unit still there"
[ -f /etc/osprey/osprey.toml ] && [ -f /var/lib/osprey/osprey.db ] && getent passwd osprey >/dev/null ||
  fail "d1: configuration, data or user lost by remove"

step "d2) re-install $version over the kept configuration: not asked again"
dpkg -i --force-confold "$deb" >"$work/d2.log" 2>&1 </dev/null || { cat "$work/d2.log"; fail "d2: re-install failed"; }
[ "$(status)" = installed ] || fail "d2: state '$(status)'"
[ "$(sha256sum /var/lib/osprey/LICENSE.accepted /var/lib/osprey/osprey.db)" = "$before" ] || fail "d2: data changed"

step "d3) dpkg --purge removes everything"
dpkg --purge osprey >"$work/d3.log" 2>&1 || { cat "$work/d3.log"; fail "d3: purge failed"; }
nothing_installed d3
[ -z "$(dpkg-statoverride --list | grep -w osprey)" ] || fail "d3: statoverrides left: $(dpkg-statoverride --list | grep -w osprey)"
[ -z "$(find /etc/systemd /var/lib/systemd -name 'osprey.service*' 2>/dev/null)" ] ||
  fail "d3: systemd state left: $(find /etc/systemd /var/lib/systemd -name 'osprey.service*')"
if grep -qi 'warning\|error\|could not' "$work/d3.log"; then cat "$work/d3.log"; fail "d3: purge printed warnings"; fi

step "passed (declined x2, install, serve, upgrade x2, remove, re-install, purge)"
