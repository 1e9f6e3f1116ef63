#!/bin/bash
# xenlab.sh - the Xen lab: Xen 4.17 under QEMU TCG with a PV dom0 (the lab's
# Debian cloud kernel, a busybox initramfs with Debian's Xen tools and
# upcalld's programs) that can "xl create" a PVH domU booting the same kernel
# with the lab's guest initramfs. Reuses tests/lab/lab.sh's kernel cache.
#
#   xenlab.sh fetch [-q]          Xen debs + dom0 modules into $CACHE/xen (once)
#   xenlab.sh start NAME [--mem 1024M] [--agent] [--liar]
#                                 boot Xen + dom0; prints KEY=VALUE lines
#   xenlab.sh run NAME CMD...     run CMD in dom0 (exit status is CMD's)
#   xenlab.sh stop NAME | list
#   xenlab.sh smoke [NAME [BP]]   boot, run xen-dom0-smoke.sh [BP] in dom0, stop
#                                 (BP default: __x64_sys_openat with the QEMU
#                                 of qemu-build.sh, none with the system's)
#   xenlab.sh daemon [NAME]       boot (--liar), run xen-dom0-daemon.sh, stop
#   xenlab.sh discover [NAME]     boot, run xen-dom0-discover.sh, stop
#   xenlab.sh check               qemu-build.sh, smoke, daemon, discover;
#                                 "xen: N passed, N failed"
#
# dom0 I/O: Xen owns com1 (QEMU's first serial, logged to console.log: Xen's
# and the kernels' messages). dom0 drives the second 16550 (ttyS1) itself:
# it carries tests/lab/init's ground-truth framing, reached on gt.sock.
# In dom0: /xen/vmlinuz, /xen/domu.img (lab guest initramfs + agent),
# /xen/domu.cfg (PVH, name "domu"), /xen/kernel.prof, build programs in
# /usr/bin (upcalld, vmictl, ... when built), the agent's key /xen/domu.key,
# the project's rules in /xen/rules, the lab's in /xen/lab-rules.yaml.
# "xl create /xen/domu.cfg" starts the guest. --liar: the domU runs the
# lying agent hiding a process (tests/lab/xen-domu-gt.sh).
#
# start prints NAME DIR GT QMP CONSOLE PID ABI BOOT_MS (QEMU start to a
# working dom0 shell).
set -u
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${UPCALLD_BUILD:-$ROOT/build}
CACHE=${UPCALLD_LAB_CACHE:-/var/cache/upcalld-lab}
XC=$CACHE/xen
RUN=${UPCALLD_LAB_RUN:-/tmp/upcalld-lab}
QUIET=0
XENVER=4.17
XEN_DEBS="xen-hypervisor-$XENVER-amd64 xen-utils-$XENVER xenstore-utils"
# dom0 runs Debian's generic kernel: the cloud kernel lacks CONFIG_XEN_DOM0
# (it boots as a PV guest but is no initial domain: no xsd_kva, privcmd
# blocks). The domU runs the cloud kernel of tests/lab/lab.sh.
# What dom0 needs from that image (modules there).
DOM0_MODULES="xenfs xen_evtchn xen_gntdev xen_gntalloc xen_privcmd"
# What the domU needs from the cloud kernel's image (the agent's vchan end:
# /dev/xen/evtchn, /dev/xen/gntalloc, /dev/xen/gntdev; xenfs for /proc/xen).
DOMU_MODULES="xen_evtchn xen_gntalloc xen_gntdev xenfs"
# Tools copied into dom0 (from the extracted debs), with their libraries.
XEN_BINS="usr/lib/xen-$XENVER/bin/xl usr/lib/xen-$XENVER/bin/xenstored
usr/lib/xen-$XENVER/bin/xenconsoled usr/lib/xen-$XENVER/bin/xen-init-dom0
usr/lib/xen-$XENVER/bin/xenconsole usr/lib/xen-$XENVER/bin/xen-access
usr/lib/xen-$XENVER/bin/libxl-save-helper usr/lib/xen-$XENVER/bin/lsevtchn
usr/bin/xenstore-read usr/bin/xenstore-write usr/bin/xenstore-ls
usr/bin/xenstore-list usr/bin/xenstore-rm usr/bin/xenstore-chmod
usr/bin/xenstore-watch usr/bin/xenstore-exists"

die() { echo "xenlab: error: $*" >&2; exit 1; }
say() { [ "$QUIET" = 1 ] || echo "xenlab: $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
randhex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
GT_WHO=xenlab
# shellcheck source=tests/lab/gt.sh
. "$HERE/gt.sh"
valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]]; }
# The QEMU the lab boots: $UPCALLD_XENLAB_QEMU, else tests/lab/qemu-build.sh's
# when built (an int3 in the domU raises Xen's #BP intercept there), else
# the system's (where it oopses the domU).
lab_qemu() {
	local v b
	[ -n "${UPCALLD_XENLAB_QEMU:-}" ] && { echo "$UPCALLD_XENLAB_QEMU"; return; }
	v=$(dpkg-query -W -f '${source:Version}' qemu-system-x86 2>/dev/null)
	b=$CACHE/qemu-${v#*:}-svmfix/qemu-system-x86_64
	if [ -n "$v" ] && [ -f "${b%/*}/.done" ] && [ -x "$b" ]; then echo "$b"; else echo qemu-system-x86_64; fi
}

# --- cache ---------------------------------------------------------------------

ko_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '; }

# Modules $4 (dependency closure, load order in $2/load.order) and vmlinuz
# from a kernel image deb: dom0's ($DOM0_MODULES) and the domU's.
extract_dom0_modules() {	# $1 deb, $2 out dir, $3 tmp [, $4 modules]
	local deb=$1 out=$2 tmp=$3 mods=${4:-$DOM0_MODULES} tar=$3/img.tar p n m
	local -A path=() seen=()
	local order=()
	dpkg-deb --fsys-tarfile "$deb" >"$tar" || return 1
	mkdir -p "$out"
	p=$(tar -tf "$tar" | grep -m1 '^\./boot/vmlinuz-') || return 1
	tar -xf "$tar" -C "$tmp" "$p" && mv "$tmp/$p" "$out/vmlinuz" || return 1
	while read -r p; do
		n=${p##*/}; n=${n%%.ko*}; path[${n//-/_}]=$p
	done < <(tar -tf "$tar" | grep -E '/lib/modules/.*\.ko(\.xz|\.zst)?$')
	mkdir -p "$out"
	visit() {
		local name=$1 dep f
		[ -n "${seen[$name]:-}" ] && return 0
		seen[$name]=1
		[ -n "${path[$name]:-}" ] || { echo "xenlab: module $name not in $deb (built in?)" >&2; return 0; }
		tar -xf "$tar" -C "$tmp" "${path[$name]}" || return 1
		f=$tmp/${path[$name]}
		case $f in *.xz) xz -dq "$f"; f=${f%.xz} ;; *.zst) zstd -dq --rm "$f"; f=${f%.zst} ;; esac
		for dep in $(ko_depends "$f"); do visit "${dep//-/_}" || return 1; done
		mv "$f" "$out/$name.ko" && order+=("$name.ko")
	}
	for m in $mods; do visit "$m" || return 1; done
	printf '%s\n' "${order[@]}" >"$out/load.order"
	rm -f "$tar"
}

# The domU's Xen device modules from the cloud kernel's image deb, into
# $2/domu-modules (own marker: a cache made before them gets them too).
fetch_domu_modules() {	# $1 abi, $2 xen cache dir (locked)
	local abi=$1 d=$2 tmp
	tmp=$(mktemp -d "$XC/.dl.XXXXXX") || die "mktemp in $XC"
	chmod 755 "$tmp"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp' '$d/domu-modules.new'" EXIT
	echo "xenlab: downloading linux-image-$abi for the domU's Xen modules (about 20 MB)" >&2
	(cd "$tmp" && apt-get download -q "linux-image-$abi" >apt.log 2>&1) ||
		{ sed 's/^/  /' "$tmp/apt.log" >&2; die "apt-get download linux-image-$abi failed"; }
	rm -rf "$d/domu-modules.new"
	extract_dom0_modules "$tmp"/linux-image-"$abi"_*.deb "$d/domu-modules.new" "$tmp" \
		"$DOMU_MODULES" || die "could not extract the domU's modules from linux-image-$abi"
	rm -f "$d/domu-modules.new/vmlinuz"	# the lab's kernel cache has it
	rm -rf "$tmp" "$d/domu-modules"
	mv "$d/domu-modules.new" "$d/domu-modules" && touch "$d/.complete-domu"
	trap - EXIT
}

cmd_fetch() {
	local abi gabi d tmp t0
	[ "${1:-}" = "-q" ] && QUIET=1
	"$HERE/lab.sh" fetch -q || die "lab.sh fetch failed"
	abi=$(cat "$CACHE/current")
	d=$XC/$abi
	mkdir -p "$XC"
	exec 9>"$XC/.lock"; flock 9
	t0=$(now_ms)
	if [ -f "$d/.complete" ]; then
		say "xen $XENVER and dom0 modules for $abi cached"
	else
		tmp=$(mktemp -d "$XC/.dl.XXXXXX") || die "mktemp in $XC"
		chmod 755 "$tmp"
		# shellcheck disable=SC2064
		trap "rm -rf '$tmp' '$d.new'" EXIT
		gabi=${abi%-cloud-amd64}-amd64
		echo "xenlab: downloading $XEN_DEBS linux-image-$gabi-unsigned (about 75 MB)" >&2
		# shellcheck disable=SC2086
		(cd "$tmp" && apt-get download -q $XEN_DEBS "linux-image-$gabi-unsigned" >apt.log 2>&1) ||
			{ sed 's/^/  /' "$tmp/apt.log" >&2; die "apt-get download failed"; }
		rm -rf "$d.new"; mkdir -p "$d.new/root"
		for f in "$tmp"/xen*.deb; do dpkg -x "$f" "$d.new/root" || die "dpkg -x $f"; done
		gunzip -c "$d.new/root/boot/xen-$XENVER-amd64.gz" >"$d.new/xen.elf" || die "no xen.gz"
		extract_dom0_modules "$tmp"/linux-image-"$gabi"-unsigned_*.deb "$d.new/modules" "$tmp" ||
			die "could not extract the dom0 kernel and modules"
		mv "$d.new/modules/vmlinuz" "$d.new/vmlinuz-dom0" ||
			die "no vmlinuz in linux-image-$gabi-unsigned"
		rm -rf "$tmp" "$d"; mv "$d.new" "$d" && touch "$d/.complete"
		trap - EXIT
	fi
	if [ -f "$d/.complete-domu" ]; then
		say "domU Xen modules for $abi cached"
	else
		fetch_domu_modules "$abi" "$d"
	fi
	exec 9>&-
	say "cache: $d ($(( ($(now_ms) - t0) / 1000 )) s)"
}

# --- images --------------------------------------------------------------------

# Copy ELF $1 (host path) to $2/$3 plus every library ldd names (the host is
# Debian 12 like dom0 will be; libxen-dev brought the Xen libraries).
copy_elf() {
	local src=$1 st=$2 dst=$3 lib
	install -D -m 0755 "$src" "$st/$dst"
	ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' |
	while read -r lib; do
		[ -e "$st/$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$st/$lib"
	done
}

# The domU's initramfs: the lab's base image (busybox, /init, virtio
# modules) plus the Xen device modules (a load.order listing both replaces
# the base's: /init loads them before it starts anything), the agent, the
# key and build/guest programs.
domu_image() {	# $1 abi dir, $2 out, $3 key file, $4 xen cache dir
	local d=$1 out=$2 key=$3 xd=$4 st base
	base=$(ls -t "$d"/base-*.cpio.gz 2>/dev/null | head -n1)
	[ -n "$base" ] || die "no base initramfs in $d (lab.sh fetch)"
	st=$(mktemp -d); mkdir -p "$st/etc/upcalld" "$st/sbin" "$st/usr/bin" "$st/lib/modules"
	cp "$xd"/domu-modules/*.ko "$st/lib/modules/" || die "no domU modules in $xd (xenlab.sh fetch)"
	cat "$d/modules/load.order" "$xd/domu-modules/load.order" >"$st/lib/modules/load.order"
	install -m 0600 "$key" "$st/etc/upcalld/agent.key"
	mkdir -p "$st/lab"
	install -m 0755 "$HERE/xen-domu-gt.sh" "$st/lab/scenario.sh"
	[ -x "$BUILD/upcalld-agent" ] && install -m 0755 "$BUILD/upcalld-agent" "$st/sbin/"
	for f in "$BUILD"/guest/*; do [ -f "$f" ] && install -m 0755 "$f" "$st/usr/bin/"; done
	# One gzip stream: libxc gunzips a domU's ramdisk itself and keeps only
	# the first gzip member, so a second member (scenario, gtps) was lost.
	{ zcat "$base"; (cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet); } |
		gzip -1 >"$out"
	rm -rf "$st"
}

dom0_image() {	# $1 abi dir, $2 xen dir, $3 run dir, $4 domU extra args
	local d=$1 xd=$2 dir=$3 extra=$4 st bb b a
	bb=$(command -v busybox) || die "busybox not found"
	st=$dir/dom0.st; rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules,root,xen,var}
	cp "$bb" "$st/bin/busybox"
	"$bb" --list-full | while read -r a; do [ -e "$st/$a" ] || ln -s /bin/busybox "$st/$a"; done
	cp "$xd"/modules/*.ko "$xd/modules/load.order" "$st/lib/modules/"
	install -m 0755 "$HERE/xen-dom0-init" "$st/init"
	gcc -static -O2 -o "$st/sbin/xenlab_serial" "$HERE/xenlab_serial.c" ||
		die "could not build xenlab_serial"
	for b in $XEN_BINS; do copy_elf "$xd/root/$b" "$st" "$b"; done
	# glibc dlopens it for pthread_cancel (xl aborts without it)
	copy_elf "$(readlink -f /lib/x86_64-linux-gnu/libgcc_s.so.1)" "$st" \
		lib/x86_64-linux-gnu/libgcc_s.so.1
	mkdir -p "$st/etc/xen"; : >"$st/etc/xen/xl.conf"
	for b in upcalld upcallctl vmictl; do
		[ -x "$BUILD/$b" ] && copy_elf "$BUILD/$b" "$st" "usr/bin/$b"
	done
	if [ -f "$BUILD/libupcalld.a" ]; then
		# shellcheck disable=SC2046
		gcc -std=gnu11 -O2 -g -I"$ROOT/hypervisor-hooks" -I"$ROOT/daemon/vmi" \
			-I"$ROOT/daemon" -I"$ROOT/guest-services" -o "$dir/xenlab_probe" "$HERE/xenlab_probe.c" \
			"$BUILD/libupcalld.a" $(pkg-config --libs yaml-0.1 libbpf json-c \
			libsystemd openssl libelf) -lm -lxenctrl -lxenforeignmemory \
			-lxenevtchn -lxenstore -lxenvchan -lxengnttab -lxentoollog ||
			die "could not build xenlab_probe (make first)"
		copy_elf "$dir/xenlab_probe" "$st" usr/bin/xenlab_probe
	fi
	install -m 0755 "$HERE/xen-dom0-smoke.sh" "$st/xen/smoke.sh"
	install -m 0755 "$HERE/xen-dom0-daemon.sh" "$st/xen/daemon.sh"
	install -m 0755 "$HERE/xen-dom0-discover.sh" "$st/xen/discover.sh"
	install -m 0644 "$HERE/xen-dom0-lib.sh" "$st/xen/lib.sh"
	mkdir -p "$st/xen/rules"
	cp "$ROOT"/rules/*.yaml "$st/xen/rules/"
	cp "$HERE/xen-lab-rules.yaml" "$st/xen/lab-rules.yaml"
	cp "$d/vmlinuz" "$st/xen/vmlinuz"
	[ -f "$d/kernel.prof" ] && cp "$d/kernel.prof" "$st/xen/"
	cp "$d/System.map" "$st/xen/"
	head -c 32 /dev/urandom >"$dir/domu.key"; chmod 600 "$dir/domu.key"
	install -m 0600 "$dir/domu.key" "$st/xen/domu.key"
	domu_image "$d" "$st/xen/domu.img" "$dir/domu.key" "$xd"
	cat >"$st/xen/domu.cfg" <<EOF
name = "domu"
type = "pvh"
kernel = "/xen/vmlinuz"
ramdisk = "/xen/domu.img"
extra = "console=hvc0 panic=-1 $extra"
memory = 256
vcpus = 1
on_crash = "preserve"
EOF
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$dir/dom0.img" ||
		die "could not build dom0.img"
	rm -rf "$st"
}

# --- running -------------------------------------------------------------------

is_our_qemu() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] &&
		tr '\0' '\n' <"/proc/$1/cmdline" | grep -qF -- "$2/qmp.sock"
}
qpid() { [ -f "$1/qemu.pid" ] && tr -dc 0-9 <"$1/qemu.pid"; }

stop_dir() {
	local dir=${1%/} pid i
	pid=$(qpid "$dir")
	if is_our_qemu "$pid" "$dir"; then
		printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
			timeout 3 socat -t 1 - "UNIX-CONNECT:$dir/qmp.sock" >/dev/null 2>&1
		for i in $(seq 50); do
			is_our_qemu "$pid" "$dir" || break
			[ "$i" = 30 ] && kill -KILL "$pid" 2>/dev/null
			sleep 0.1
		done
	fi
	(cd "$dir" 2>/dev/null && rm -f -- *.sock qemu.pid dom0.img)
	return 0
}


cmd_start() {
	# An AMD model: Xen then drives the SVM it sees. With Haswell-noTSX,+svm
	# (Intel vendor, SVM) dom0 boots but a PVH domU triple-faults in its
	# first instructions (startup_64, MSR 0x1a0 in rcx).
	local name=${1:-} mem=1024M agent=0 extra='quiet' abi d xd dir t0 t1 pid ptmo=1000 qemu
	local cpu=${UPCALLD_XENLAB_CPU:-qemu64,+svm,+npt}
	local tmo=${UPCALLD_LAB_TIMEOUT:-300}
	valid_name "$name" || die "start: NAME must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--mem) mem=${2:?}; shift ;;
		--agent) agent=1 ;;
		--liar) extra="$extra upcalld.xenlab=liar" ;;
		*) die "start: unknown option $1" ;;
		esac
		shift
	done
	[ "$agent" = 1 ] && extra="$extra upcalld.agent=1"
	(cmd_fetch -q) || exit 1
	abi=$(cat "$CACHE/current"); d=$CACHE/$abi; xd=$XC/$abi
	dir=$RUN/xen-$name
	mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	exec 8>"$dir/.lock"; flock 8
	is_our_qemu "$(qpid "$dir")" "$dir" && die "xen lab $name is already running"
	stop_dir "$dir"; rm -f "$dir/console.log" "$dir/qemu.log"
	t0=$(now_ms)
	dom0_image "$d" "$xd" "$dir" "$extra"
	say "images built in $(( $(now_ms) - t0 )) ms ($(du -k "$dir/dom0.img" | cut -f1) KiB dom0.img)"
	t0=$(now_ms)
	qemu=$(lab_qemu); say "qemu: $qemu"
	"$qemu" -name "upcalld-xenlab-$name" -accel tcg -smp 1 \
		-cpu "$cpu" -m "$mem" -nodefaults -display none -no-reboot \
		-kernel "$xd/xen.elf" \
		-append "console=com1 com1=115200,8n1 dom0_mem=512M,max:512M dom0_max_vcpus=1 loglvl=all guest_loglvl=all" \
		-initrd "$xd/vmlinuz-dom0 console=hvc0 earlyprintk=xen panic=-1,$dir/dom0.img" \
		-chardev "file,id=con,path=$dir/console.log" -serial chardev:con \
		-chardev "socket,id=gt,path=$dir/gt.sock,server=on,wait=off" -serial chardev:gt \
		-qmp "unix:$dir/qmp.sock,server=on,wait=off" \
		-pidfile "$dir/qemu.pid" -daemonize >"$dir/qemu.log" 2>&1 8>&- 9>&- ||
		{ cat "$dir/qemu.log" >&2; stop_dir "$dir"; die "qemu failed to start"; }
	pid=$(qpid "$dir")
	# the shell answers before xenstored is up; /init marks the end
	while ! gt_exec "$dir/gt.sock" "test -e /run/xenlab.ready" "$ptmo" 1; do
		ptmo=$((ptmo * 2 > 5000 ? 5000 : ptmo * 2))
		if ! is_our_qemu "$pid" "$dir"; then
			tail -n 30 "$dir/console.log" >&2
			stop_dir "$dir"; die "QEMU died while booting; see $dir/console.log"
		fi
		if [ $(( $(now_ms) - t0 )) -gt $((tmo * 1000)) ]; then
			tail -n 30 "$dir/console.log" >&2
			gt_exec "$dir/gt.sock" "cat /run/xenlab.log" 5000 1 >&2
			stop_dir "$dir"; die "no dom0 shell after ${tmo}s; see $dir/console.log"
		fi
	done
	t1=$(now_ms)
	cat <<EOF
NAME=$name
DIR=$dir
GT=$dir/gt.sock
QMP=$dir/qmp.sock
CONSOLE=$dir/console.log
KEY=$dir/domu.key
PID=$pid
ABI=$abi
BOOT_MS=$((t1 - t0))
EOF
}

cmd_run() {
	local name=${1:-} dir
	valid_name "$name" || die "run: bad name '$name'"
	shift
	[ $# -gt 0 ] || die "run: no command"
	dir=$RUN/xen-$name
	[ -S "$dir/gt.sock" ] || die "run: xen lab $name is not running"
	gt_exec "$dir/gt.sock" "$*" "$(( ${UPCALLD_LAB_RUN_TIMEOUT:-120} * 1000 ))"
}

# Boot lab $1 with start options $3, run dom0 command $2 (its output is the
# scenario's), stop the lab whatever happens. On a failure the tail of the
# machine's console (Xen, dom0's kernel) follows; the dom0 scripts print
# their own logs (daemon, domU console).
run_scenario() {	# $1 name, $2 dom0 command, $3 start options, $4 what
	local name=$1 cmd=$2 opts=$3 what=$4 out rc t0
	t0=$(now_ms)
	# shellcheck disable=SC2064
	trap "cmd_stop '$name'" EXIT
	trap 'exit 130' INT TERM HUP
	# shellcheck disable=SC2086
	if ! out=$(cmd_start "$name" $opts); then
		echo "xenlab: $what: the lab did not boot"
		trap - EXIT; cmd_stop "$name"; return 1
	fi
	printf '%s\n' "$out" | grep BOOT_MS
	UPCALLD_LAB_RUN_TIMEOUT=${UPCALLD_XENLAB_RUN_TIMEOUT:-900} cmd_run "$name" "$cmd"; rc=$?
	if [ "$rc" != 0 ]; then
		echo "--- $RUN/xen-$name/console.log (tail)"
		tail -n 25 "$RUN/xen-$name/console.log" | cut -c1-200
	fi
	trap - EXIT INT TERM HUP
	cmd_stop "$name"
	echo "xenlab: $what $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(( ($(now_ms) - t0) / 1000 )) s"
	return "$rc"
}

# The whole smoke test: boot, run xen-dom0-smoke.sh in dom0, stop.
cmd_smoke() {
	local name=${1:-smoke} bp=${2:-}
	# int3 traps only under qemu-build.sh's QEMU: the breakpoint step then
	# runs unless BP is given (empty: skipped)
	[ $# -lt 2 ] && [[ $(lab_qemu) == */qemu-*-svmfix/qemu-system-x86_64 ]] &&
		bp=__x64_sys_openat
	[[ $bp =~ ^[A-Za-z0-9_]*$ ]] || die "smoke: bad symbol '$bp'"
	valid_name "$name" || die "smoke: bad name '$name'"
	(run_scenario "$name" "sh /xen/smoke.sh $bp" "" smoke)
}

# The daemon scenario: boot with the lying agent in the domU, run
# xen-dom0-daemon.sh in dom0, stop.
cmd_daemon() {
	local name=${1:-daemon} q v bpt desc
	valid_name "$name" || die "daemon: bad name '$name'"
	# what traps into Xen for a domU breakpoint under the QEMU booted:
	# int3 under qemu-build.sh's patched one, debug registers from 9.1 on
	if declare -F lab_qemu >/dev/null; then q=$(lab_qemu); else q=${UPCALLD_XENLAB_QEMU:-qemu-system-x86_64}; fi
	v=$("$q" --version 2>/dev/null | sed -n '1s/.*version \([0-9][0-9.]*\).*/\1/p')
	desc="QEMU $v"
	case $q in
	*/qemu-*-svmfix/*) bpt=int3; desc="$desc (qemu-build.sh's)" ;;
	*) bpt=$(awk -v v="$v" 'BEGIN { split(v, a, "."); print (a[1] > 9 || (a[1] == 9 && a[2] >= 1)) ? "debugreg" : "none" }') ;;
	esac
	(run_scenario "$name" "sh /xen/daemon.sh $bpt \"$desc\"" --liar daemon)
}

# Discovery: upcalld follows two create/destroy rounds, a rename, forged
# xenstore entries and a domain whose name no entry accepts.
cmd_discover() {
	local name=${1:-discover}
	valid_name "$name" || die "discover: bad name '$name'"
	(run_scenario "$name" "sh /xen/discover.sh 2 cr3" "" discover)
}

# make check / make check-xen: smoke, then the daemon scenario, one lab at
# a time, names of this run only; the run dirs of passing labs are removed.
cmd_check() {
	local pass=0 failed="" t rc name t0
	t0=$(now_ms)
	(cmd_fetch -q) || { echo "xen: 0 passed, 1 failed"; echo "failing: fetch"; return 1; }
	# the syscall breakpoint steps need the fixed QEMU (about 8 min to
	# build, once per machine and QEMU version; instant afterwards)
	"$HERE/qemu-build.sh" >/dev/null ||
		{ echo "xen: 0 passed, 1 failed"; echo "failing: qemu-build"; return 1; }
	for t in smoke daemon discover; do
		name=chk$$-$t
		echo "== xenlab.sh $t"
		"cmd_$t" "$name"; rc=$?
		if [ "$rc" = 0 ]; then
			pass=$((pass + 1)); rm -rf "${RUN:?}/xen-$name"
		else
			failed="$failed $t"
			echo "xenlab: logs kept in $RUN/xen-$name"
		fi
	done
	echo "xen: $pass passed, $(echo "$failed" | wc -w) failed ($(( ($(now_ms) - t0) / 1000 )) s)"
	[ -z "$failed" ] || { echo "failing:$failed"; return 1; }
}

cmd_stop() {
	local name=${1:-}
	valid_name "$name" || die "stop: bad name '$name'"
	[ -d "$RUN/xen-$name" ] || return 0
	exec 8>"$RUN/xen-$name/.lock"; flock 8
	stop_dir "$RUN/xen-$name"
}

cmd_list() {
	local dir pid
	for dir in "$RUN"/xen-*/; do
		dir=${dir%/}; pid=$(qpid "$dir")
		is_our_qemu "$pid" "$dir" && printf '%s %s %s\n' "${dir##*/xen-}" "$pid" "$dir"
	done
}

case ${1:-} in
fetch) shift; cmd_fetch "$@" ;;
start) shift; cmd_start "$@" ;;
run) shift; cmd_run "$@" ;;
stop) shift; cmd_stop "$@" ;;
smoke) shift; cmd_smoke "$@" ;;
discover) shift; cmd_discover "$@" ;;
daemon) shift; cmd_daemon "$@" ;;
check) shift; cmd_check "$@" ;;
list) cmd_list ;;
*) sed -n '2,25s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
