#!/usr/bin/env bash
# Build the Osprey Debian package and checksums of every artifact (docs/install.md#debian-package).
#
#   config/package/build.sh                 release build (`cargo deb`): the package to ship
#   config/package/build.sh --ci            package the debug binary the CI has already built
#                                           (target/debug/osprey, stripped); for the CI test only
#   options: --deb-version V (default: Cargo version + "-1"), --output DIR (default target/debian)
#   config/package/build.sh --update-templates   regenerate debian/templates from LICENSE
#
# Writes DIR/osprey_<version>_<arch>.deb, the bare binary it contains (DIR/osprey_<version>_<arch>,
# byte-identical to /usr/bin/osprey once installed) and DIR/SHA256SUMS, DIR/MD5SUMS for both.
# Needs cargo-deb (`cargo install cargo-deb --locked`, docs/crates.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=config/package
die() { echo "build.sh: $*" >&2; exit 1; }

mode=release out=target/debian debver=
while [ $# -gt 0 ]; do
  case $1 in
    --ci) mode=ci ;;
    --deb-version) [ $# -ge 2 ] || die "--deb-version needs a value"; debver=$2; shift ;;
    --output) [ $# -ge 2 ] || die "--output needs a directory"; out=$2; shift ;;
    --update-templates) mode=templates ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

# The debconf template shows the license in full; generated from LICENSE so the two cannot differ.
# Each numbered clause becomes one paragraph (debconf wraps it), paragraphs are separated by " .".
templates() {
  cat <<'EOF'
Template: osprey/accept-license
Type: boolean
Default: false
Description: Do you accept the Osprey license agreement?
 Osprey is installed only if you accept the agreement below (also
 /usr/share/doc/osprey/LICENSE once installed). Accepting records the
 acceptance in /var/lib/osprey/LICENSE.accepted. If you decline, the
 installation is aborted and nothing is installed.
 .
EOF
  awk '
    function flush() { if (p != "") { if (n++) print " ."; print " " p; p = "" } }
    /^[[:space:]]*$/ { flush(); next }
    /^[0-9]+\. /     { flush() }
    { sub(/^[[:space:]]+/, ""); sub(/[[:space:]]+$/, ""); p = (p == "" ? $0 : p " " $0) }
    END { flush() }
  ' LICENSE
}
if [ "$mode" = templates ]; then
  templates > "$here/debian/templates"
  echo "wrote $here/debian/templates"
  exit 0
fi
templates | cmp -s - "$here/debian/templates" ||
  die "$here/debian/templates does not match LICENSE: run $here/build.sh --update-templates and commit it"

command -v cargo-deb >/dev/null || die "cargo-deb is not installed: cargo install cargo-deb --locked"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (a Debian or Ubuntu build host is needed)"
mkdir -p "$out"

args=(--locked --output "$out")
[ -n "$debver" ] && args+=(--deb-version "$debver")
t0=$(date +%s)
if [ "$mode" = ci ]; then
  [ -x target/debug/osprey ] || die "target/debug/osprey is missing: run cargo build --locked first"
  mkdir -p target/debian/ci-debug
  strip -o target/debian/ci-debug/osprey target/debug/osprey
  # variant ci-debug (Cargo.toml): the same package with this binary; --fast: lighter compression
  deb=$(cargo deb --variant ci-debug --no-build --fast "${args[@]}" | tail -n 1)
else
  deb=$(cargo deb "${args[@]}" | tail -n 1)
fi
[ -f "$deb" ] || die "cargo deb did not report a package (last line: '$deb')"

version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
bin="osprey_${version}_${arch}"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/osprey > "$out/$bin"
chmod 0755 "$out/$bin"
(
  cd "$out"
  sha256sum "$(basename "$deb")" "$bin" > SHA256SUMS
  md5sum "$(basename "$deb")" "$bin" > MD5SUMS
  sha256sum -c --quiet SHA256SUMS
  md5sum -c --quiet MD5SUMS
)
echo "build.sh: $mode package in $(( $(date +%s) - t0 ))s:"
ls -l "$deb" "$out/$bin"
echo "build.sh: checksums in $out/SHA256SUMS and $out/MD5SUMS"
echo "$deb"
