#!/bin/bash
# lab.sh - the guest lab: real Debian cloud-kernel guests under QEMU TCG for
# lab tests and demos. Caches the kernel (and its debug vmlinux/System.map)
# once per machine, builds initramfs images, boots guests with their RAM in a
# shared file, a gdb stub, QMP, a virtio-serial upcall port and a
# ground-truth shell on ttyS1, and runs commands through that shell.
#
#   lab.sh fetch [-q]                     download + extract the kernel (once)
#   lab.sh start NAME [--cpu qemu64|max] [--scenario FILE] [--mem 512M]
#                     [--agent] [--append "..."]   boot; prints KEY=VALUE lines
#   lab.sh run NAME CMD...                run CMD in the guest (its exit status)
#   lab.sh stop NAME | stopall | list
#
# start prints NAME DIR RAM GDB QMP UPCALL GT KEY CONSOLE VMLINUX SYSMAP PROFILE
# PID CPU ABI BOOT_MS as KEY=VALUE lines. KEY is the guest's upcall key, 32 raw
# random bytes (in the guest: /etc/upcalld/agent.key). gt.sock takes one client
# at a time: while a lab test (labsup) holds it, "lab.sh run" waits.
#
# Environment: UPCALLD_LAB_CACHE (/var/cache/upcalld-lab), UPCALLD_LAB_RUN
# (/tmp/upcalld-lab), UPCALLD_BUILD (<repo>/build), UPCALLD_LAB_SESSION (set by
# run-lab.sh: stopall then stops only that session's guests),
# UPCALLD_LAB_TIMEOUT (boot wait, 60 s).
set -u
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${UPCALLD_BUILD:-$ROOT/build}
CACHE=${UPCALLD_LAB_CACHE:-/var/cache/upcalld-lab}
RUN=${UPCALLD_LAB_RUN:-/tmp/upcalld-lab}
QUIET=0
# Virtio-serial needs these (and what they depend on) from the module tree.
ROOT_MODULES="virtio_pci virtio_console"

die() { echo "lab: error: $*" >&2; exit 1; }
say() { [ "$QUIET" = 1 ] || echo "lab: $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
randhex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
# shellcheck source=tests/lab/gt.sh
. "$HERE/gt.sh"

# --- kernel cache --------------------------------------------------------------

# The ABI the current linux-image-cloud-amd64 depends on (6.1.0-N-cloud-amd64).
resolve_abi() {
	local abi try
	for try in 1 2; do
		abi=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		      sed -n 's/^ *|\{0,1\}Depends: linux-image-\([0-9][^ ]*-cloud-amd64\)\(-unsigned\)\{0,1\}$/\1/p' |
		      head -n1)
		[ -n "$abi" ] && { echo "$abi"; return 0; }
		[ "$try" = 1 ] || break
		say "apt-cache knows no linux-image-cloud-amd64; running apt-get update"
		apt-get update -qq >/dev/null 2>&1 || break
	done
	return 1
}

# Module dependencies of one .ko, from its .modinfo "depends=" string.
ko_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '; }

ko_decompress() {	# $1 = extracted module path; prints the plain .ko path
	case "$1" in
	*.ko.xz)  xz -dq "$1" || return 1; echo "${1%.xz}" ;;
	*.ko.zst) zstd -dq --rm "$1" || return 1; echo "${1%.zst}" ;;
	*.ko.gz)  gzip -dq "$1" || return 1; echo "${1%.gz}" ;;
	*)        echo "$1" ;;
	esac
}

# Extract vmlinuz and the virtio-serial modules (dependency closure, load order
# in modules/load.order) from the image .deb into $2.
extract_image() {
	local deb=$1 out=$2 tmp=$3 abi=$4 tar=$3/img.tar
	local -A path=() seen=()
	local order=() p n m
	dpkg-deb --fsys-tarfile "$deb" >"$tar" || return 1
	tar -tf "$tar" >"$tmp/img.list" || return 1
	p=$(grep -m1 "^\./boot/vmlinuz-" "$tmp/img.list") || { echo "no vmlinuz in $deb" >&2; return 1; }
	tar -xf "$tar" -C "$tmp" "$p" && mv "$tmp/$p" "$out/vmlinuz" || return 1
	while read -r p; do
		n=${p##*/}; n=${n%%.ko*}; path[${n//-/_}]=$p
	done < <(grep -E '/lib/modules/[^/]+/.*\.ko(\.xz|\.zst|\.gz)?$' "$tmp/img.list")
	grep -q '/modules\.builtin$' "$tmp/img.list" &&
		tar -xf "$tar" -C "$tmp" --wildcards '*/modules.builtin'
	mkdir -p "$out/modules"
	visit() {	# depth-first: dependencies first
		local name=$1 dep f
		[ -n "${seen[$name]:-}" ] && return 0
		seen[$name]=1
		if [ -z "${path[$name]:-}" ]; then
			cat "$tmp"/lib/modules/*/modules.builtin 2>/dev/null |
				grep -q "/${name}\.ko\$" && return 0
			echo "module $name is neither in $deb nor built in" >&2; return 1
		fi
		tar -xf "$tar" -C "$tmp" "${path[$name]}" || return 1
		f=$(ko_decompress "$tmp/${path[$name]}") || return 1
		for dep in $(ko_depends "$f"); do visit "${dep//-/_}" || return 1; done
		mv "$f" "$out/modules/$name.ko" && order+=("$name.ko")
	}
	for m in $ROOT_MODULES; do visit "$m" || return 1; done
	printf '%s\n' "${order[@]}" >"$out/modules/load.order"
	rm -f "$tar"
}

# vmlinux and the real System.map from the -dbg .deb.
extract_dbg() {
	local deb=$1 out=$2 tmp=$3 abi=$4 f
	mkdir -p "$tmp/dbg"
	# They lead the archive: --occurrence lets tar stop there instead of
	# inflating the 1.5 GB of module debug info behind them (38 s -> 15 s).
	dpkg-deb --fsys-tarfile "$deb" 2>/dev/null |
		tar -x -C "$tmp/dbg" --occurrence "./usr/lib/debug/boot/vmlinux-$abi" \
			"./usr/lib/debug/boot/System.map-$abi" 2>/dev/null
	if [ ! -f "$tmp/dbg/usr/lib/debug/boot/vmlinux-$abi" ]; then
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$tmp/dbg" --wildcards './usr/lib/debug/boot/*' ||
			return 1
	fi
	f=$(find "$tmp/dbg" -name "vmlinux-*" -type f | head -n1)
	[ -n "$f" ] || { echo "no usr/lib/debug/boot/vmlinux-* in $deb" >&2; return 1; }
	mv "$f" "$out/vmlinux"
	f=$(find "$tmp/dbg" -name "System.map*" -type f -size +100k | head -n1)
	if [ -n "$f" ]; then
		mv "$f" "$out/System.map"
	else	# same format as the real one: "addr type name", sorted
		say "no System.map in $deb; making one from vmlinux with nm"
		nm -n "$out/vmlinux" | grep -v ' [aNUw] ' >"$out/System.map" || return 1
	fi
}

download_kernel() {	# $1 abi, $2 final cache dir
	local abi=$1 d=$2 tmp t0 t1
	t0=$(now_ms)
	tmp=$(mktemp -d "$CACHE/.dl.XXXXXX") || die "cannot create a temp dir in $CACHE"
	chmod 755 "$tmp"	# apt's _apt user must be able to write there
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp' '$d.new'" EXIT
	rm -rf "$d.new"; mkdir -p "$d.new"
	echo "lab: downloading linux-image-$abi and linux-image-$abi-dbg (about 310 MB)" >&2
	(cd "$tmp" && apt-get download -q "linux-image-$abi" "linux-image-$abi-dbg" \
		>"$tmp/apt.log" 2>&1) || {
		sed 's/^/  /' "$tmp/apt.log" >&2
		die "apt-get download of linux-image-$abi{,-dbg} failed (apt sources and network to the Debian mirror? try 'apt-get update')"
	}
	t1=$(now_ms); echo "lab: downloaded in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s" >&2
	extract_image "$tmp"/linux-image-"${abi}"_*.deb "$d.new" "$tmp" "$abi" ||
		die "could not extract vmlinuz/modules from linux-image-$abi"
	extract_dbg "$tmp"/linux-image-"${abi}"-dbg_*.deb "$d.new" "$tmp" "$abi" ||
		die "could not extract vmlinux/System.map from linux-image-$abi-dbg"
	rm -rf "$tmp" "$d"
	mv "$d.new" "$d" && touch "$d/.complete"
	trap - EXIT
	t1=$(now_ms); echo "lab: fetched and extracted in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s" >&2
}

make_profile() {	# kernel.prof via build/mkprofile, when that exists
	local d=$1 mk=$BUILD/mkprofile
	[ -x "$mk" ] || return 0
	[ -f "$d/kernel.prof" ] && [ ! "$mk" -nt "$d/kernel.prof" ] && return 0
	say "making $d/kernel.prof with $mk"
	if "$mk" --vmlinux "$d/vmlinux" --system-map "$d/System.map" \
		-o "$d/kernel.prof.tmp" >"$d/kernel.prof.log" 2>&1; then
		mv "$d/kernel.prof.tmp" "$d/kernel.prof"
		[ "$QUIET" = 1 ] || cat "$d/kernel.prof.log" >&2
	else
		cat "$d/kernel.prof.log" >&2
		rm -f "$d/kernel.prof.tmp"
		echo "lab: warning: $mk failed; kernel.prof not updated" >&2
	fi
}

# Base initramfs: busybox + applet links, modules, /init. Keyed by the hash of
# its inputs so checkouts with different /init scripts can share one cache.
base_initramfs() {
	local d=$1 bb key f st tmpf
	bb=$(command -v busybox) || die "busybox not found (tests/lab/deps.sh installs busybox-static)"
	key=$(cat "$HERE/init" "$bb" "$d/modules/load.order" | sha256sum | cut -c1-16)
	f=$d/base-$key.cpio.gz
	if [ ! -f "$f" ]; then
		st=$(mktemp -d "$CACHE/.base.XXXXXX")
		mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc/upcalld,lib/modules,lab,root}
		cp "$bb" "$st/bin/busybox"
		"$bb" --list-full | while read -r a; do
			[ -e "$st/$a" ] || ln -s /bin/busybox "$st/$a"
		done
		cp "$d"/modules/*.ko "$d/modules/load.order" "$st/lib/modules/"
		install -m 0755 "$HERE/init" "$st/init"
		mknod -m 600 "$st/dev/console" c 5 1 2>/dev/null
		mknod -m 666 "$st/dev/null" c 1 3 2>/dev/null
		tmpf=$(mktemp "$f.XXXXXX")
		(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) \
			>"$tmpf" && chmod 644 "$tmpf" && mv "$tmpf" "$f"
		rm -rf "$st" "$tmpf"
		[ -f "$f" ] || die "could not build the base initramfs"
		find "$d" -maxdepth 1 -name 'base-*.cpio.gz' -mtime +30 ! -name "${f##*/}" -delete
	fi
	echo "$f"
}

# Make sure the cache holds the current kernel; prints its dir. Locked: several
# engineers may fetch or start guests at once.
cmd_fetch() {
	local abi d
	need_tools apt-get apt-cache dpkg-deb xz zstd busybox cpio
	[ "${1:-}" = "-q" ] && QUIET=1
	mkdir -p "$CACHE" || die "cannot create $CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if ! abi=$(resolve_abi); then
		[ -f "$CACHE/current" ] || die "cannot resolve the ABI of linux-image-cloud-amd64 (apt-cache depends; apt sources?)"
		abi=$(cat "$CACHE/current")
		say "apt-cache cannot resolve linux-image-cloud-amd64; using cached $abi"
	fi
	d=$CACHE/$abi
	if [ -f "$d/.complete" ]; then
		say "kernel $abi cached"
	else
		download_kernel "$abi" "$d"
	fi
	echo "$abi" >"$CACHE/current"
	make_profile "$d"
	base_initramfs "$d" >/dev/null
	exec 9>&-
	say "cache: $d"
}

# --- guests --------------------------------------------------------------------

# Is $1 a live QEMU started for run dir $2? (never touch anyone else's process)
is_our_qemu() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] &&
		tr '\0' '\n' <"/proc/$1/cmdline" | grep -qF -- "$2/qmp.sock"
}

guest_pid() { [ -f "$1/qemu.pid" ] && tr -dc 0-9 <"$1/qemu.pid"; }

stop_dir() {	# QMP quit, then SIGKILL; remove everything but the logs
	local dir=${1%/} pid i
	pid=$(guest_pid "$dir")
	if is_our_qemu "$pid" "$dir"; then
		printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
			timeout 3 socat -t 1 - "UNIX-CONNECT:$dir/qmp.sock" >/dev/null 2>&1
		for i in $(seq 50); do
			is_our_qemu "$pid" "$dir" || break
			[ "$i" = 30 ] && kill -KILL "$pid" 2>/dev/null
			sleep 0.1
		done
	fi
	[ -f "$dir/ram.path" ] && rm -f "$(cat "$dir/ram.path")"
	(cd "$dir" 2>/dev/null && rm -rf -- *.sock qemu.pid ram.path upcall.key initrd.img guest session)
	return 0
}

valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]]; }

# A guest of that name already running: refuse, unless it belongs to a
# run-lab.sh session that has ended (then it is stale and we stop it).
claim_name() {
	local name=$1 dir=$2 pid s
	pid=$(guest_pid "$dir")
	if is_our_qemu "$pid" "$dir"; then
		s=$(cat "$dir/session" 2>/dev/null)
		if [ -n "$s" ] && ! kill -0 "$s" 2>/dev/null; then
			say "stopping stale guest $name (session $s is gone)"
		else
			die "guest $name is already running (pid $pid); 'lab.sh stop $name' or choose another name"
		fi
	fi
	stop_dir "$dir"
	local ram=/dev/shm/upcalld-lab-$name.ram
	if [ -e "$ram" ] && grep -qslF -- "mem-path=$ram," /proc/[0-9]*/cmdline 2>/dev/null; then
		die "$ram is in use by another QEMU (a guest named $name under another run dir?)"
	fi
	rm -f "$ram"
}

# Per-guest cpio: scenario, upcall key, agent, build/guest/* programs.
guest_cpio() {
	local dir=$1 scenario=$2 st=$1/guest f
	rm -rf "$st"; mkdir -p "$st/etc/upcalld" "$st/lab" "$st/sbin" "$st/usr/bin"
	head -c 32 /dev/urandom >"$dir/upcall.key" && chmod 600 "$dir/upcall.key"
	install -m 0600 "$dir/upcall.key" "$st/etc/upcalld/agent.key"
	[ -n "$scenario" ] && install -m 0755 "$scenario" "$st/lab/scenario.sh"
	[ -x "$BUILD/upcalld-agent" ] && install -m 0755 "$BUILD/upcalld-agent" "$st/sbin/upcalld-agent"
	for f in "$BUILD"/guest/*; do
		[ -f "$f" ] && install -m 0755 "$f" "$st/usr/bin/"
	done
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1)
	rm -rf "$st"
}

need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null ||
			die "$t not found; run tests/lab/deps.sh (as root) first"
	done
}

cmd_start() {
	need_tools qemu-system-x86_64 socat cpio busybox gzip flock
	local name=${1:-} cpu=qemu64 scenario='' mem=512M agent=0 append='' d abi base
	local dir ram t0 t1 pid tmo=${UPCALLD_LAB_TIMEOUT:-60}
	valid_name "$name" || die "start: NAME must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--cpu) cpu=${2:?}; shift ;;
		--scenario) scenario=${2:?}; shift ;;
		--mem) mem=${2:?}; shift ;;
		--agent) agent=1 ;;
		--append) append=${2:-}; shift ;;
		*) die "start: unknown option $1" ;;
		esac
		shift
	done
	[ -z "$scenario" ] || [ -f "$scenario" ] || die "start: no scenario file $scenario"
	[[ $mem =~ ^[0-9]+[MG]$ ]] || die "start: --mem wants e.g. 512M or 1G"
	# run-lab.sh fetches first; here only when nothing is cached (apt-cache
	# takes a second, so the usual case does not ask it)
	abi=$(cat "$CACHE/current" 2>/dev/null)
	if [ -z "$abi" ] || [ ! -f "$CACHE/$abi/.complete" ]; then
		(cmd_fetch -q) || exit 1
		abi=$(cat "$CACHE/current")
	fi
	d=$CACHE/$abi
	(exec 9>"$CACHE/.lock"; flock 9; QUIET=1; make_profile "$d")
	base=$(base_initramfs "$d")
	dir=$RUN/$name; ram=/dev/shm/upcalld-lab-$name.ram
	# logs of guests stopped more than a day ago go
	find "$RUN" -mindepth 2 -maxdepth 2 -name console.log -mtime +1 2>/dev/null |
		while read -r f; do
			[ -e "${f%/*}/qemu.pid" ] || rm -rf "${f%/*}"
		done
	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	exec 8>"$dir/.lock"; flock 8	# one start/stop of this name at a time
	claim_name "$name" "$dir"
	rm -f "$dir/console.log" "$dir/qemu.log"
	echo "$ram" >"$dir/ram.path"
	[ -n "${UPCALLD_LAB_SESSION:-}" ] && echo "$UPCALLD_LAB_SESSION" >"$dir/session"
	{ cat "$base"; guest_cpio "$dir" "$scenario"; } >"$dir/initrd.img" ||
		die "could not build $dir/initrd.img"
	[ "$agent" = 1 ] && append="upcalld.agent=1 $append"
	t0=$(now_ms)
	qemu-system-x86_64 -name "upcalld-lab-$name" -accel tcg -smp 1 -cpu "$cpu" -m "$mem" \
		-object "memory-backend-file,id=ram,size=$mem,mem-path=$ram,share=on" \
		-machine pc,memory-backend=ram -nodefaults -display none -no-reboot \
		-kernel "$d/vmlinuz" -initrd "$dir/initrd.img" \
		-append "console=ttyS0 panic=-1 $append" \
		-chardev "file,id=con,path=$dir/console.log" -serial chardev:con \
		-chardev "socket,id=gt,path=$dir/gt.sock,server=on,wait=off" -serial chardev:gt \
		-device virtio-serial \
		-chardev "socket,id=up,path=$dir/upcall.sock,server=on,wait=off" \
		-device virtserialport,chardev=up,name=org.upcalld.0 \
		-gdb "unix:$dir/gdb.sock,server=on,wait=off" \
		-qmp "unix:$dir/qmp.sock,server=on,wait=off" \
		-pidfile "$dir/qemu.pid" -daemonize >"$dir/qemu.log" 2>&1 8>&- 9>&- ||
		{ cat "$dir/qemu.log" >&2; stop_dir "$dir"; die "qemu-system-x86_64 failed to start ($dir/qemu.log)"; }
	pid=$(guest_pid "$dir")
	# /init says "lab-init: ready" on the console once the ground-truth
	# shell is starting; then probe it, with more patience each time (a
	# loaded machine may take a while to fork and exec under TCG).
	local ptmo=500
	while :; do
		if grep -q '^lab-init: ready' "$dir/console.log" 2>/dev/null; then
			gt_exec "$dir/gt.sock" "true" "$ptmo" 1 && break
			ptmo=$((ptmo * 2 > 5000 ? 5000 : ptmo * 2))
		else
			sleep 0.05
		fi
		if ! is_our_qemu "$pid" "$dir"; then
			tail -n 20 "$dir/console.log" >&2
			stop_dir "$dir"; die "guest $name died while booting; see $dir/console.log"
		fi
		if [ $(( $(now_ms) - t0 )) -gt $((tmo * 1000)) ]; then
			tail -n 20 "$dir/console.log" >&2
			stop_dir "$dir"; die "guest $name: no ground-truth shell after ${tmo}s; see $dir/console.log"
		fi
	done
	t1=$(now_ms)
	cat <<EOF
NAME=$name
DIR=$dir
RAM=$ram
GDB=$dir/gdb.sock
QMP=$dir/qmp.sock
UPCALL=$dir/upcall.sock
GT=$dir/gt.sock
KEY=$dir/upcall.key
CONSOLE=$dir/console.log
VMLINUX=$d/vmlinux
SYSMAP=$d/System.map
PROFILE=$([ -f "$d/kernel.prof" ] && echo "$d/kernel.prof")
PID=$pid
CPU=$cpu
ABI=$abi
BOOT_MS=$((t1 - t0))
EOF
}

cmd_run() {
	local name=${1:-} dir
	valid_name "$name" || die "run: bad guest name '$name'"
	shift
	[ $# -gt 0 ] || die "run: no command"
	dir=$RUN/$name
	[ -S "$dir/gt.sock" ] || die "run: guest $name is not running (no $dir/gt.sock)"
	gt_exec "$dir/gt.sock" "$*" "$(( ${UPCALLD_LAB_RUN_TIMEOUT:-60} * 1000 ))"
}

cmd_stop() {
	local name=${1:-}
	valid_name "$name" || die "stop: bad guest name '$name'"
	[ -d "$RUN/$name" ] || return 0
	exec 8>"$RUN/$name/.lock"; flock 8
	stop_dir "$RUN/$name"
}

cmd_stopall() {	# only guests under $RUN (and only this session's, in a session)
	local dir s
	for dir in "$RUN"/*/; do
		[ -f "$dir/ram.path" ] || [ -f "$dir/qemu.pid" ] || continue
		if [ -n "${UPCALLD_LAB_SESSION:-}" ]; then
			s=$(cat "$dir/session" 2>/dev/null)
			[ "$s" = "$UPCALLD_LAB_SESSION" ] || continue
		fi
		cmd_stop "$(basename "$dir")"
	done
}

cmd_list() {
	local dir pid state
	printf '%-24s %-8s %-8s %s\n' NAME PID STATE DIR
	for dir in "$RUN"/*/; do
		dir=${dir%/}
		[ -f "$dir/qemu.pid" ] || continue
		pid=$(guest_pid "$dir")
		if is_our_qemu "$pid" "$dir"; then state=running; else state=dead; fi
		printf '%-24s %-8s %-8s %s\n' "$(basename "$dir")" "$pid" "$state" "$dir"
	done
}

case ${1:-} in
fetch) shift; cmd_fetch "$@" ;;
start) shift; cmd_start "$@" ;;
run) shift; cmd_run "$@" ;;
stop) shift; cmd_stop "$@" ;;
stopall) cmd_stopall ;;
list) cmd_list ;;
*) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
