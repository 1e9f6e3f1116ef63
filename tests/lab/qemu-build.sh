#!/bin/bash
# qemu-build.sh - build the Xen lab's QEMU: Debian's own QEMU source (the
# version of the installed qemu-system-x86) with
# tests/lab/qemu/svm-int3-intercept.patch, so that an int3 in a nested SVM
# guest raises the #BP intercept Xen sets (the domU's syscall breakpoints
# then reach the vm_event ring instead of oopsing the domU). Only
# qemu-system-x86_64 with TCG is built; firmware comes from the system's
# /usr/share/qemu. Result, used by xenlab.sh when present:
#
#   $CACHE/qemu-<debian version>-svmfix/qemu-system-x86_64
#
# Idempotent: a completion marker records the patch it was built with (a
# changed patch rebuilds); a second run returns at once. A lock keeps two
# runs from building at the same time. The source comes through apt-get
# with a private configuration (a deb-src line for bookworm); the system's
# apt sources are not touched. Build dependencies: tests/lab/deps.sh.
#
#   qemu-build.sh [-q]    -q: print only the binary's path
#
# Environment: UPCALLD_LAB_CACHE (default /var/cache/upcalld-lab),
# UPCALLD_QEMU_SRC_VERSION (default: the installed qemu-system-x86's source
# version), UPCALLD_QEMU_JOBS (default 2).
set -u
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${UPCALLD_LAB_CACHE:-/var/cache/upcalld-lab}
PATCH=$HERE/qemu/svm-int3-intercept.patch
JOBS=${UPCALLD_QEMU_JOBS:-2}
MIRROR=http://deb.debian.org/debian
SUITES="bookworm bookworm-updates"
QUIET=0
[ "${1:-}" = -q ] && QUIET=1

die() { echo "qemu-build: error: $*" >&2; exit 1; }
say() { [ "$QUIET" = 1 ] || echo "qemu-build: $*" >&2; }
now_s() { date +%s; }

ver=${UPCALLD_QEMU_SRC_VERSION:-$(dpkg-query -W -f '${source:Version}' qemu-system-x86 2>/dev/null)}
[[ $ver =~ ^([0-9]+:)?[A-Za-z0-9.+~-]+$ ]] || die "no qemu-system-x86 version (install it, or set UPCALLD_QEMU_SRC_VERSION)"
[ -r "$PATCH" ] || die "missing $PATCH"
out=$CACHE/qemu-${ver#*:}-svmfix
bin=$out/qemu-system-x86_64
want=$(sha256sum <"$PATCH" | cut -d' ' -f1)
done_ok() { [ -x "$bin" ] && [ "$(cat "$out/.done" 2>/dev/null)" = "$want" ]; }

if done_ok; then
	say "up to date: $bin"
	[ "$QUIET" = 1 ] && echo "$bin"
	exit 0
fi
for t in apt-get dpkg-source meson ninja pkg-config; do
	command -v "$t" >/dev/null || die "$t missing; run tests/lab/deps.sh"
done
mkdir -p "$out" || die "cannot create $out"
exec 9>"$out/.lock"
flock 9
if done_ok; then	# another run finished it while we waited
	[ "$QUIET" = 1 ] && echo "$bin"
	exit 0
fi
rm -rf "$out/src" "$out/build" "$out/dl" "$out/apt" "$out/.done" "$bin" "$out"/qemu_*.orig.tar.*
t_all=$(now_s)

# the source, through a private apt configuration
apt=$out/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$out/dl"
for s in $SUITES; do
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $s main"
done >"$apt/sources.list"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" >>"$apt/sources.list"
aopt=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	-o APT::Sandbox::User=root -q)
t=$(now_s)
say "fetching the source indexes of $SUITES (+ security)"
apt-get "${aopt[@]}" update >"$out/apt.log" 2>&1 || { cat "$out/apt.log" >&2; die "apt-get update failed"; }
say "fetching qemu $ver source"
(cd "$out/dl" && apt-get "${aopt[@]}" source --download-only "qemu=$ver") >>"$out/apt.log" 2>&1 ||
	{ tail -n 5 "$out/apt.log" >&2; die "apt-get source qemu=$ver failed"; }
say "source: $(du -ck "$out"/dl/* | tail -1 | cut -f1) KiB in $(( $(now_s) - t )) s"

t=$(now_s)
dpkg-source -x "$out/dl/qemu_${ver#*:}.dsc" "$out/src" >"$out/src.log" 2>&1 ||
	{ tail -n 5 "$out/src.log" >&2; die "dpkg-source -x failed"; }
(cd "$out/src" && patch -p1 --batch --quiet <"$PATCH") ||
	die "$PATCH does not apply to qemu $ver"
say "unpacked with Debian's patches and ours in $(( $(now_s) - t )) s"

# only what the lab's command line needs: x86_64 system emulation with TCG
# (multiboot -kernel, file and socket chardevs, QMP, -daemonize); fdt is
# required by the x86_64 target's device set
t=$(now_s)
mkdir -p "$out/build"
(cd "$out/build" && "$out/src/configure" --target-list=x86_64-softmmu \
	--without-default-features --enable-tcg --enable-fdt=system \
	--disable-docs --disable-tools --disable-guest-agent --disable-user \
	--disable-install-blobs --meson=meson \
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu) \
	>"$out/configure.log" 2>&1 || { tail -n 20 "$out/configure.log" >&2; die "configure failed"; }
say "configured in $(( $(now_s) - t )) s; building with -j$JOBS"
t=$(now_s)
ninja -C "$out/build" -j"$JOBS" qemu-system-x86_64 >"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; die "build failed (log: $out/build.log)"; }
say "built in $(( $(now_s) - t )) s"

{ cp "$out/build/qemu-system-x86_64" "$bin.tmp" && mv "$bin.tmp" "$bin"; } || die "cannot install $bin"
"$bin" --version >/dev/null 2>&1 || die "$bin does not run"
# (dpkg-source -x leaves a copy of the orig tarball next to src)
rm -rf "$out/src" "$out/build" "$out/dl" "$out/apt" "$out"/qemu_*.orig.tar.*
echo "$want" >"$out/.done"
say "done in $(( $(now_s) - t_all )) s: $bin"
[ "$QUIET" = 1 ] && echo "$bin"
exit 0
