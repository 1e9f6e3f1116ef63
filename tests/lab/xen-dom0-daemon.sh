#!/bin/sh
# xen-dom0-daemon.sh - the Xen lab's daemon scenario, run in dom0
# (xenlab.sh daemon): the real upcalld watches the PVH domU, whose agent is
# the lying one (tests/lab/xen-domu-gt.sh with upcalld.xenlab=liar: it
# leaves the process "labvictim" out of its answers). Prints
# "XEN ok|FAIL|skip what" lines; exit 1 on a FAIL.
#
#   daemon.sh [int3|debugreg|none [QEMU_DESCRIPTION]]
#
#   upcalld started first, then "xl create": the daemon finds the domU in
#   xenstore (config glob "domu*") and attaches it; its process list from
#   memory equals the domU's ground truth (gtps on its console); CR3-write
#   events arrive; a syscall breakpoint (int3 or debug registers, as the
#   lab's QEMU allows) fires on execve; an upcall over vchan gets the
#   agent's answer; the hidden process is reported; "xl destroy" makes the
#   daemon drop the guest and it keeps answering; no breakpoint state file
#   is left.
#
# Steps whose piece is not there are skipped with a reason: discovery (no
# xenstore watch in upcalld: it is then started after "xl create" with
# --guest domu), the breakpoint event (a QEMU where neither int3 nor debug
# registers trap: with no "breakpoints: debugreg" in upcalld the breakpoint
# rules are switched off, as an int3 would oops the domU), the vchan
# transport. The key in key_dir is not the channel's: upcalld publishes a
# fresh one per attach in xenstore.
. /xen/lib.sh	# tests/lab/xen-dom0-lib.sh: LOG, up, ms, last_gt, snapshots, minus, both
# What traps into Xen under the lab's QEMU (xenlab.sh knows which QEMU it
# booted): int3 (tests/lab/qemu-build.sh's patched QEMU), debugreg (QEMU
# 9.1 and later raise #DB for a nested guest's DR7 breakpoints), none
# (Debian 12's QEMU 7.2: an int3 oopses the domU, a debug register never
# fires).
BPTRAP=${1:-none}
QEMU_DESC=${2:-unknown QEMU}
W=/run/lab
CONF=$W/upcalld.yaml
DLOG=$W/upcalld.log
ALERTS=$W/alerts.json
SOCK=$W/upcalld.sock
STATE=/run/upcalld
fail=0
at() { awk -v a="$T0" -v b="$(up)" 'BEGIN { printf "%5.1f", b - a }'; }
ok() { echo "XEN ok [$(at)] $*"; }
bad() { echo "XEN FAIL [$(at)] $*"; fail=1; }
skip() { echo "XEN skip [$(at)] $*"; }
ctl() { timeout 60 upcallctl -s "$SOCK" "$@"; }
# one number of the (single) guest in "upcallctl --json guests"
gstat() { ctl --json guests 2>/dev/null | sed -n "s/.*\"$1\": *\([0-9-]*\).*/\1/p" | head -n1; }
# wait up to $1 seconds for command $2... (by the clock: a loaded TCG
# dom0 takes a good part of a second for a few forks)
waitfor() {
	wend=$(awk -v a="$(up)" -v b="$1" 'BEGIN { printf "%d", a + b }'); shift
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$wend" ]; do "$@" && return 0; sleep 0.2; done
	"$@"
}
alive() {	# the domU still produces snapshots
	s=$(next_snapshot 30)
	[ "$s" != none ] && ok "domU alive $1 (a snapshot after $s s)" ||
		bad "domU stalled $1"
}
show_logs() {
	echo "--- upcalld log (tail)"; tail -n 40 "$DLOG" 2>/dev/null
	echo "--- domU console (tail, no snapshots)"
	grep -av '^GT \|^GT-PS' "$LOG" 2>/dev/null | tail -n 40
	echo "--- alerts (messages, last 8)"
	sed -n 's/.*"message":"\([^"]*\)".*/\1/p' "$ALERTS" 2>/dev/null | tail -n 8
	echo "--- upcallctl guests"; ctl guests 2>&1
}
xs_dump() {	# the vchan rendezvous as dom0 sees it
	echo "--- xenstore /local/domain/$domid: data (agent's ring), upcalld (key hidden)"
	xenstore-ls -p "/local/domain/$domid/data" 2>&1 | head -n 10
	xenstore-ls -p "/local/domain/$domid/upcalld" 2>&1 | sed 's/key = "[0-9a-f]*"/key = (64 hex digits)/'
}
finish() {
	[ $fail = 0 ] || show_logs
	if [ -n "${dpid:-}" ] && kill -0 "$dpid" 2>/dev/null; then
		kill "$dpid"; i=0
		while [ $i -lt 100 ] && kill -0 "$dpid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
		kill -0 "$dpid" 2>/dev/null && { bad "upcalld ignores SIGTERM"; kill -9 "$dpid"; }
	fi
	xl list domu >/dev/null 2>&1 && xl destroy domu
	echo "XEN total $(ms "$T0" "$(up)") ms"
	exit $fail
}
T0=$(up)

# --- configuration ---------------------------------------------------------------
rm -rf "$W"; mkdir -p "$W/rules" "$W/keys" "$W/profiles"
cp /xen/rules/*.yaml "$W/rules/"
cp /xen/lab-rules.yaml "$W/rules/90-xenlab.yaml"
cp /xen/kernel.prof "$W/profiles/"
cp /xen/domu.key "$W/keys/domu.key"; chmod 600 "$W/keys/domu.key"
conf() {	# $1: extra guest keys
	cat >"$CONF" <<EOF
guests:
  - match: "domu*"
    backend: xen
    profiles: $W/profiles
    key_dir: $W/keys
    upcall_timeout: 10s
$1
rules:
  - $W/rules
outputs:
  json:
    path: $ALERTS
control_socket: $SOCK
rate_limit:
  rate: unlimited
  dedup: 0s
watchdog: false
EOF
}
no_bp_rules() {	# an int3 would oops the domU: no breakpoint rules at all
	awk '/^- rule:/ { sub(/^- rule: */, ""); name = $0 }
	     /^  trigger:/ && /syscall|breakpoint/ { print "- rule: " name; print "  enabled: false" }' \
		"$W"/rules/*.yaml >"$W/rules/99-no-bp.yaml"
}
conf "    breakpoints: debugreg"
DR_OK=0; upcalld -c "$CONF" --check >$W/check.out 2>&1 && DR_OK=1
BP=1; EXPECT_EV=1
case $BPTRAP in
int3) conf "" ;;	# the default mechanism
debugreg)
	[ $DR_OK = 1 ] || { BP=0; no_bp_rules; conf ""
		skip "syscall breakpoint (no 'breakpoints: debugreg' in this upcalld: $(head -n1 $W/check.out))"; } ;;
*)
	EXPECT_EV=0
	[ $DR_OK = 1 ] || { BP=0; no_bp_rules; conf ""
		skip "syscall breakpoint ($QEMU_DESC traps neither int3 nor debug registers, and this upcalld has no 'breakpoints: debugreg')"; } ;;
esac
upcalld -c "$CONF" --check >$W/check.out 2>&1 || { cat $W/check.out; bad "config"; finish; }
ok "config: $(cat $W/check.out)"
DISCOVER=0; grep -q introduceDomain /usr/bin/upcalld && DISCOVER=1
VCHAN=0; grep -q 'data/upcalld' /usr/bin/upcalld && VCHAN=1

start_daemon() {
	upcalld -c "$CONF" -v "$@" >"$DLOG" 2>&1 &
	dpid=$!
	waitfor 30 ctl status >/dev/null 2>&1 || { bad "upcalld does not answer"; finish; }
}
attached() { grep -q 'domu.*attached' "$DLOG" && ctl guests 2>/dev/null | grep -q '^domu '; }

# --- attach ----------------------------------------------------------------------
if [ $DISCOVER = 1 ]; then
	t=$(up); start_daemon
	ok "upcalld up in $(ms "$t" "$(up)") ms, no guest yet: $(ctl guests | grep -c '^domu ') listed"
fi
t1=$(up)
xl create /xen/domu.cfg >$W/xl.out 2>&1 || { cat $W/xl.out; bad "xl create"; finish; }
t2=$(up)
domid=$(xl domid domu)
ok "xl create (domid $domid) in $(ms "$t1" "$t2") ms"
if [ $DISCOVER = 1 ]; then
	if waitfor 120 attached; then
		ok "discovered and attached in $(ms "$t2" "$(up)") ms after xl create: $(grep -m1 'domu.*attached' "$DLOG")"
	else
		bad "domU not attached 120 s after xl create"; finish
	fi
else
	skip "discovery (no xenstore watch in this upcalld): started after xl create with --guest domu"
	t=$(up); start_daemon --guest domu
	waitfor 60 attached || { bad "domU not attached"; finish; }
	ok "attached in $(ms "$t" "$(up)") ms: $(grep -m1 'domu.*attached' "$DLOG")"
fi
d=$(gstat domid)
if [ -n "$d" ]; then
	[ "$d" = "$domid" ] && ok "upcallctl guests: domu domid $d" || bad "upcallctl guests domid $d, xl says $domid"
fi
ctl guests

# --- the domU's ground truth --------------------------------------------------
waitfor 180 grep -q '^GT-PS-END' "$LOG" || { bad "no ground truth from the domU in 180 s"; finish; }
ok "domU boot to first ground truth $(ms "$t2" "$(up)") ms"
grep -a '^GT-XEN' "$LOG" | head -n1
grep -a '^GT-LIAR' "$LOG"
victim=$(sed -n 's/^GT-LIAR victim \([0-9][0-9]*\) .*/\1/p' "$LOG" | head -n1)
[ -n "$victim" ] || bad "the domU started no victim (upcalld.xenlab=liar?)"

# --- processes from memory ----------------------------------------------------
last_gt >$W/gt1
n1=$(snapshots)
t=$(up)
ctl ps domu >$W/ps.out 2>&1 || { cat $W/ps.out; bad "upcallctl ps domu"; }
ok "upcallctl ps domu (memory) in $(ms "$t" "$(up)") ms"
t=$(up)
newsnap() { [ "$(snapshots)" -gt "$n1" ]; }
waitfor 30 newsnap || echo "XEN note: no new snapshot in $(ms "$t" "$(up)") ms"
last_gt >$W/gt2
awk 'NR > 1 { c = $4; for (i = 5; i <= NF; i++) c = c " " $i; print $1 " " c }' $W/ps.out >$W/mem
both $W/gt1 $W/gt2 >$W/stable
missing=$(minus $W/stable $W/mem)
extra=$(minus $W/mem $W/gt1 | while read -r p c; do grep -q "^$p " $W/gt2 || echo "$p $c"; done | tr '\n' ',' | sed 's/,$//; s/,/, /g')
ns=$(wc -l <$W/stable); nm=$(wc -l <$W/mem)
if [ "$ns" -gt 20 ] && [ -z "$missing" ]; then
	ok "ps from memory has all $ns stable ground-truth processes ($nm listed)"
else
	bad "memory vs ground truth: $ns stable, missing from memory: $missing"
fi
[ -z "$extra" ] && ok "no process in memory unknown to the domU" ||
	echo "XEN note: in memory only (transient?): $extra"
[ -n "$victim" ] && grep -q "^$victim labvictim\$" $W/mem && ok "victim $victim labvictim is in memory"

# --- CR3 events: the lab's CR3 rule on for 5 s (a reload), then off ---------------
cr3_rule() {	# $1 true|false
	printf -- '- rule: Xen lab CR3 write\n  enabled: %s\n' "$1" >"$W/rules/95-cr3.yaml"
	ctl reload >$W/reload.out 2>&1 || { cat $W/reload.out; bad "reload (CR3 rule $1)"; }
}
e0=$(gstat events)
cr3_rule true
e1=$(gstat events); sleep 5; e2=$(gstat events)
cr3_rule false
sleep 1; e3=$(gstat events); sleep 3; e4=$(gstat events)
[ "${e2:-0}" -gt "${e1:-0}" ] && ok "CR3-write events: $e1 -> $e2 in 5 s (before the rule: $e0)" ||
	bad "no CR3-write events: $e1 -> $e2"
[ "$((e4 - e3))" -lt "$(((e2 - e1) / 4 + 10))" ] && ok "CR3 rule off again: $e3 -> $e4 in 3 s" ||
	bad "CR3 events still on after the reload: $e3 -> $e4 in 3 s"

# --- syscall breakpoint ---------------------------------------------------------
if [ $BP = 1 ]; then
	nb=$(gstat breakpoints)
	if [ "${nb:-0}" -gt 0 ]; then
		ok "breakpoints placed ($([ "$BPTRAP" = int3 ] && echo int3 || echo debug registers)): $nb"
	else
		bad "no breakpoint placed (breakpoints ${nb:-?}): $(grep -m1 -i 'breakpoint' "$DLOG")"
	fi
	t=$(up)
	if waitfor "$([ $EXPECT_EV = 1 ] && echo 60 || echo 10)" grep -q 'Xen lab syscall breakpoint' "$ALERTS"; then
		ok "syscall breakpoint event $(ms "$t" "$(up)") ms: $(grep -m1 'Xen lab syscall breakpoint' "$ALERTS" |
			sed -n 's/.*"message":"\([^"]*\)".*/\1/p')"
	elif [ $EXPECT_EV = 0 ]; then
		skip "syscall breakpoint event: none in $(ms "$t" "$(up)") ms; $QEMU_DESC raises no #DB for a nested guest's debug registers (hypervisor-hooks/xen.h)"
	else
		bad "no execve breakpoint event in 60 s (breakpoints $(gstat breakpoints), $BPTRAP, $QEMU_DESC)"
	fi
	alive "with the breakpoints set"
	grep -aq 'Oops\|invalid opcode\|int3:' "$LOG" && bad "domU oops: $(grep -am1 'RIP: ' "$LOG")"
fi

# --- upcall over vchan, the hidden process ---------------------------------------
# Upcalls made while the domU still boots (the 30 s interval rule fires
# from the attach on) may time out before the agent serves: counted from
# here on, after one upcall of our own (it waits for one in flight).
waitfor 60 grep -aq 'GT-AGENT.*serving' "$LOG" || echo "XEN note: the agent never said it serves"
ctl ps domu --guest >$W/psg0.out 2>&1 || echo "XEN note: first upcall: $(head -n 1 $W/psg0.out)"
u0=$(gstat upcalls); f0=$(gstat upcall_failures)
[ "${f0:-0}" -gt 0 ] && echo "XEN note: $f0 of $u0 upcalls failed before (domU booting): $(grep -m1 'silent\|forged' "$ALERTS" | sed -n 's/.*"message":"\([^"]*\)".*/\1/p')"
ctl check domu >$W/check1.out 2>&1
t=$(up)
hidden() { grep 'Hidden or phantom process' "$ALERTS" 2>/dev/null | grep '"hidden"' | grep -q "labvictim"; }
if waitfor "$([ $VCHAN = 1 ] && echo 120 || echo 10)" hidden; then
	ok "hidden process reported $(ms "$t" "$(up)") ms after 'upcallctl check': $(grep -m1 'labvictim' "$ALERTS" |
		sed -n 's/.*"message":"\([^"]*\)".*/\1/p')"
	grep 'labvictim' "$ALERTS" | grep -q "\"pid\":$victim[,}]" && ok "the alert names pid $victim" ||
		bad "the alert does not name pid $victim"
	hid=1
else
	hid=0
fi
ctl ps domu --guest >$W/psg.out 2>&1
u=$(gstat upcalls); f=$(gstat upcall_failures)
if [ "${u:-0}" -gt "${u0:-0}" ] && [ "${f:-1}" = "${f0:-0}" ]; then
	ok "upcalls over vchan since the agent served: $((u - u0)), failures 0"
	ng=$(($(wc -l <$W/psg.out) - 1))
	grep -q "labvictim" $W/psg.out && bad "the lying agent's answer names labvictim" ||
		ok "the agent's answer: $ng processes, labvictim not among them"
elif [ $VCHAN = 0 ]; then
	skip "upcall over vchan (no Xen transport in this upcalld: upcalls $u, failures $f)"
else
	bad "upcalls since the agent served: $((u - u0)), failures $((f - f0)): $(cat $W/psg.out | head -n 2)"
	xs_dump
fi
[ $hid = 0 ] && { [ $VCHAN = 1 ] && bad "hidden process not reported in 120 s" ||
	skip "hidden process (needs the upcall)"; }

# --- xl destroy -------------------------------------------------------------------
t=$(up)
xl destroy domu && ok "xl destroy" || bad "xl destroy"
if [ $DISCOVER = 1 ]; then
	dropped() { grep -q 'domu.*dropped' "$DLOG" && ! ctl guests 2>/dev/null | grep -q '^domu '; }
	waitfor 30 dropped && ok "dropped $(ms "$t" "$(up)") ms after xl destroy: $(grep -m1 'domu.*dropped' "$DLOG")" ||
		bad "the daemon still lists domu 30 s after xl destroy"
else
	skip "drop on destroy (no discovery)"
fi
kill -0 "$dpid" 2>/dev/null && ctl status >/dev/null 2>&1 && ok "upcalld still runs and answers status" ||
	bad "upcalld died or stopped answering after the destroy"
ls $STATE/xen-dom*.bps 2>/dev/null && bad "breakpoint state file left after the drop"
kill "$dpid"; i=0
while [ $i -lt 100 ] && kill -0 "$dpid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -0 "$dpid" 2>/dev/null && bad "upcalld still runs 10 s after SIGTERM" || {
	wait "$dpid"; rc=$?
	[ $rc = 0 ] && ok "upcalld stopped (exit 0)" || bad "upcalld exit $rc"
}
ls $STATE/xen-dom*.bps 2>/dev/null && bad "breakpoint state file left"
finish
