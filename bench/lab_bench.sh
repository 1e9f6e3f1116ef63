#!/bin/bash
# lab_bench.sh - whole-system figures on real lab guests (part of `make bench`):
#   - cold `vmictl ps` of a KASLR guest, process start to exit (target <= 16 ms)
#   - upcalld resident memory while watching N guests (target < 20 MB at 10)
# Prints figures; fails only if the lab itself cannot run.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=$ROOT/build
LAB=$ROOT/tests/lab/lab.sh
N=${UPCALLD_BENCH_GUESTS:-10}
TAG=bench$$
WORK=$(mktemp -d /tmp/upcalld-bench.XXXXXX)
DAEMON=

cleanup() {
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	for ((i = 0; i < N; i++)); do "$LAB" stop "$TAG-$i" >/dev/null 2>&1; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$LAB" fetch -q || exit 1
echo "== booting $N guests (128 MiB each, KASLR on, agent running)"
for ((i = 0; i < N; i++)); do
	"$LAB" start "$TAG-$i" --mem 128M --agent >"$WORK/g$i.env" || exit 1
done
eval "$(grep -E '^(RAM|PROFILE)=' "$WORK/g0.env")"

# Median and minimum over 30 cold runs (a new process each time).
times=()
for ((k = 0; k < 30; k++)); do
	t0=${EPOCHREALTIME/[.,]/}
	"$B/vmictl" --ram "$RAM" --profile "$PROFILE" ps >/dev/null || exit 1
	t1=${EPOCHREALTIME/[.,]/}
	times+=($(((t1 - t0))))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
printf 'cold vmictl ps (KASLR, %s tasks): min %.1f ms, median %.1f ms\n' \
	"$("$B/vmictl" --ram "$RAM" --profile "$PROFILE" ps | tail -n +2 | wc -l)" \
	"$(echo "$sorted" | head -1 | awk '{print $1/1000}')" \
	"$(echo "$sorted" | sed -n 15p | awk '{print $1/1000}')"

mkdir -p "$WORK/keys"
{
	echo "guests:"
	for ((i = 0; i < N; i++)); do
		eval "$(grep -E '^(RAM|GDB|UPCALL|KEY)=' "$WORK/g$i.env")"
		cp "$KEY" "$WORK/keys/$TAG-$i.key"
		cat <<EOF
  - match: "$TAG-$i"
    backend: qemu
    profiles: $(dirname "$PROFILE")
    key_dir: $WORK/keys
    ram: $RAM
    gdb: $GDB
    upcall: $UPCALL
    upcall_timeout: 10s
EOF
	done
	cat <<EOF
rules: [ "$ROOT/rules" ]
outputs:
  json: { path: "$WORK/alerts.json" }
control_socket: $WORK/upcalld.sock
watchdog: false
EOF
} >"$WORK/upcalld.yaml"

"$B/upcalld" -c "$WORK/upcalld.yaml" 2>"$WORK/upcalld.log" &
DAEMON=$!
for ((k = 0; k < 40; k++)); do [ -S "$WORK/upcalld.sock" ] && break; sleep 0.25; done
for ((i = 0; i < N; i++)); do
	"$B/upcallctl" -s "$WORK/upcalld.sock" check "$TAG-$i" >/dev/null
done
sleep 10	# let every guest answer its upcalls
"$B/upcallctl" -s "$WORK/upcalld.sock" status | sed -n '2,$p' | head -$((N + 1))
# RSS counts pages of the guests' RAM files the walks touched (shmem: the
# guests' memory, mapped, not ours) and of mapped files (profiles,
# libraries); RssAnon is what the daemon itself allocated.
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$DAEMON/status"; }
printf 'upcalld memory watching %d guests: RSS %.1f MB = own (anon) %.1f MB + files %.1f MB + guest RAM pages (shmem) %.1f MB; peak RSS %.1f MB\n' \
	"$N" "$(kb VmRSS | awk '{print $1/1024}')" "$(kb RssAnon | awk '{print $1/1024}')" \
	"$(kb RssFile | awk '{print $1/1024}')" "$(kb RssShmem | awk '{print $1/1024}')" \
	"$(kb VmHWM | awk '{print $1/1024}')"
