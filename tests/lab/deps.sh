#!/bin/sh
# deps.sh - install every Debian package upcalld needs to build and to run its
# lab (Debian 12). Idempotent and silent when everything is there: asks
# dpkg-query first and runs apt-get only for what is missing. Run as root.
set -u

BUILD_PKGS="build-essential pkg-config check libyaml-dev libbpf-dev libjson-c-dev
libsystemd-dev libssl-dev libelf-dev zlib1g-dev clang libclang-rt-14-dev libxen-dev"
LAB_PKGS="qemu-system-x86 busybox-static cpio socat openssl xz-utils zstd"
# tests/lab/qemu-build.sh: the Xen lab's QEMU from Debian's source
QEMU_BUILD_PKGS="dpkg-dev patch python3 meson ninja-build libglib2.0-dev
libpixman-1-dev libfdt-dev"

# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $BUILD_PKGS $LAB_PKGS \
	$QEMU_BUILD_PKGS 2>/dev/null | awk '$2 == "installed" { print $1 }')
missing=""
for p in $BUILD_PKGS $LAB_PKGS $QEMU_BUILD_PKGS; do
	printf '%s\n' "$installed" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing; run tests/lab/deps.sh as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: installing$missing" >&2
apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
echo "deps: done" >&2
