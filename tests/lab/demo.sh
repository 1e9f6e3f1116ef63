#!/bin/bash
# demo.sh - `make demo`: boot a lab guest with the agent, start upcalld with
# the default rule pack, then play the intruder inside the guest (run a
# dropper from /tmp, hide a process with a bind mount over /proc/PID) and
# show what upcalld reports. Cleans up after itself.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$ROOT/build
LAB=$HERE/lab.sh
NAME=demo-$$
WORK=$(mktemp -d /tmp/upcalld-demo.XXXXXX)
DAEMON_PID=

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	"$LAB" stop "$NAME" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Wait up to $1 seconds for an alert whose JSON contains $2.
wait_alert() {
	local i
	for ((i = 0; i < $1 * 2; i++)); do
		grep -F -- "$2" "$WORK/alerts.json" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}

ctl() { "$B/upcallctl" -s "$WORK/upcalld.sock" "$@"; }

step "Fetching the lab kernel (cached after the first run)"
"$LAB" fetch || die "could not fetch the lab kernel"

step "Booting a Debian cloud-kernel guest under QEMU (KASLR on) with upcalld-agent"
eval "$("$LAB" start "$NAME" --agent | grep -E '^(DIR|RAM|GDB|UPCALL|KEY|PROFILE|BOOT_MS)=')" ||
	die "the guest did not boot"
echo "booted in ${BOOT_MS} ms; guest RAM: $RAM"

mkdir -p "$WORK/keys"
cp "$KEY" "$WORK/keys/$NAME.key"
cat >"$WORK/upcalld.yaml" <<EOF
guests:
  - match: "$NAME"
    backend: qemu
    profiles: $(dirname "$PROFILE")
    key_dir: $WORK/keys
    ram: $RAM
    gdb: $GDB
    upcall: $UPCALL
    upcall_timeout: 10s
rules:
  - $ROOT/rules
outputs:
  json:
    path: $WORK/alerts.json
control_socket: $WORK/upcalld.sock
watchdog: false
EOF

step "upcalld --check"
"$B/upcalld" --check -c "$WORK/upcalld.yaml" || die "configuration rejected"

step "Starting upcalld with the default rules"
"$B/upcalld" -v -c "$WORK/upcalld.yaml" 2>"$WORK/upcalld.log" &
DAEMON_PID=$!
for ((i = 0; i < 40; i++)); do [ -S "$WORK/upcalld.sock" ] && break; sleep 0.25; done
ctl status || die "upcalld did not start: $(cat "$WORK/upcalld.log")"

step "Processes of the guest, read from its memory (first lines)"
ctl ps "$NAME" | head -8
step "Memory against the guest's own answer: no disagreement on a clean guest"
ctl ps "$NAME" --diff

step "Intruder: run a dropper from /tmp inside the guest"
"$LAB" run "$NAME" 'cp /bin/busybox /tmp/dropper; /tmp/dropper true 2>/dev/null; true'
wait_alert 30 '/tmp/dropper' >/dev/null && echo "alert raised (see below)" ||
	echo "no alert yet for the dropper"

step "Intruder: hide a process by bind-mounting an empty directory over /proc/PID"
HIDDEN=$("$LAB" run "$NAME" 'sleep 100000 >/dev/null 2>&1 & P=$!; mkdir -p /tmp/.h;
	mount -o bind /tmp/.h /proc/$P && echo $P')
echo "hidden pid: $HIDDEN"
echo "the guest's own ps shows it? $("$LAB" run "$NAME" "ps | grep -c '^ *$HIDDEN '" || true) matching line(s)"

step "upcalld: memory against the guest's answer"
ctl ps "$NAME" --diff
step "Running the guest's cross-check rules now (they also run on their own timer)"
ctl check "$NAME"
wait_alert 60 '"pid":'"$HIDDEN" >/dev/null || echo "demo: no hidden-process alert arrived" >&2

step "Alerts (JSON lines, Elastic Common Schema) from $WORK/alerts.json"
if command -v python3 >/dev/null; then
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    print("[%s] %s\n    %s" % (a["log"]["level"], a["rule"]["name"], a["message"]))
' "$WORK/alerts.json"
else
	cat "$WORK/alerts.json"
fi
grep -q '"pid":'"$HIDDEN" "$WORK/alerts.json" || die "the hidden process was not reported"
step "Done: the hidden process (pid $HIDDEN) was caught"
