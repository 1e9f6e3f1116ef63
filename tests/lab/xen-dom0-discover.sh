#!/bin/sh
# xen-dom0-discover.sh - Xen domain discovery, run in dom0 of the Xen lab:
# upcalld follows guests matching "dom*" through xenstore. Rounds of
# xl create / xl destroy of /xen/domu.cfg; each must show "attached" with
# the new domain id, upcallctl guests listing it, then "dropped" and an
# empty list. Prints "DISC ok|FAIL ..." lines with the delays measured
# (50 ms polling of the daemon's log: finer polling slows the one TCG vCPU
# of dom0 and with it xl); negative: before xl returned. Exit 1 on a FAIL.
#
#   discover.sh [ROUNDS] [RULE]   RULE: none (default) or cr3 (an event
#                                 rule on new_address_space: the monitor
#                                 ring is live when the domain dies)
. /xen/lib.sh	# tests/lab/xen-dom0-lib.sh: up, ms
ROUNDS=${1:-2}
RULE=${2:-none}
D=/tmp/disc
LOGF=$D/upcalld.log
SOCK=$D/ctl.sock
fail=0
ok() { echo "DISC ok $*"; }
bad() { echo "DISC FAIL $*"; fail=1; }
# the time (uptime) when the log has COUNT lines with PATTERN, into FILE
watch_for() {	# $1 pattern $2 count $3 file
	rm -f "$3"
	( i=0; while [ $i -lt 1200 ]; do
		[ "$(grep -c "$1" "$LOGF")" -ge "$2" ] && { up >"$3"; exit 0; }
		sleep 0.05; i=$((i + 1)); done; echo never >"$3" ) &
}
wait_file() { while [ ! -s "$1" ]; do sleep 0.05; done; cat "$1"; }

mkdir -p "$D/rules"; rm -f "$D/rules/"*
cat >"$D/upcalld.yaml" <<EOF
guests:
  - match: "dom*"
    backend: xen
    profiles: /xen/kernel.prof
rules: [$D/rules]
control_socket: $SOCK
EOF
if [ "$RULE" = cr3 ]; then
	cat >"$D/rules/cr3.yaml" <<EOF
- rule: New address space
  desc: lab only - CR3 events reach a discovered guest
  trigger: new_address_space
  condition: event.type = new_address_space
  output: "new address space %event.cr3 in guest %guest.name"
  priority: info
  rate_limit: 5/min
EOF
fi
xl list | grep -q '^domu ' && xl destroy domu
upcalld -v -c "$D/upcalld.yaml" >"$LOGF" 2>&1 &
UPID=$!
i=0; while [ $i -lt 100 ] && ! grep -q '^upcalld: started' "$LOGF"; do sleep 0.05; i=$((i + 1)); done
grep -q 'xenstore: following domains' "$LOGF" && ok "upcalld follows xenstore" ||
	bad "upcalld does not follow xenstore: $(cat "$LOGF")"

r=1
while [ $r -le "$ROUNDS" ]; do
	watch_for ': attached' "$r" $D/t.att
	t0=$(up); xl create /xen/domu.cfg >$D/xl.out 2>&1 || { cat $D/xl.out; bad "xl create"; break; }
	t1=$(up)
	id=$(xl domid domu)
	ta=$(wait_file $D/t.att)
	if [ "$ta" = never ]; then bad "round $r: no attach in 60 s"; break; fi
	grep -q "guest domu (dom $id): attached" "$LOGF" &&
		ok "round $r: domu (dom $id) attached $(ms "$t0" "$ta") ms after xl create began, $(ms "$t1" "$ta") ms after it returned (took $(ms "$t0" "$t1") ms)" ||
		bad "round $r: attached, but not as dom $id: $(grep attached "$LOGF" | tail -1)"
	upcallctl -s "$SOCK" guests >$D/g.out 2>&1
	awk -v id="$id" '$1 == "domu" && $2 == "xen" && $3 == id' $D/g.out | grep -q . &&
		ok "round $r: upcallctl guests: $(grep '^domu' $D/g.out | tr -s ' ')" ||
		bad "round $r: upcallctl guests: $(cat $D/g.out)"
	sleep 8	# the guest boots; with RULE=cr3 the monitor ring is busy
	watch_for ': domain gone, dropped' "$r" $D/t.drop
	t2=$(up); xl destroy domu; t3=$(up)
	td=$(wait_file $D/t.drop)
	[ "$td" = never ] && { bad "round $r: no drop in 60 s"; break; }
	ok "round $r: dropped $(ms "$t2" "$td") ms after xl destroy began, $(ms "$t3" "$td") ms after it returned (took $(ms "$t2" "$t3") ms)"
	upcallctl -s "$SOCK" guests >$D/g.out 2>&1
	[ "$(grep -c '^domu' $D/g.out)" = 0 ] && ok "round $r: upcallctl guests is empty" ||
		bad "round $r: guests after destroy: $(cat $D/g.out)"
	xl list | grep -q '^domu ' && bad "round $r: domain still listed (a zombie we hold?)"
	r=$((r + 1))
done
# xl rename fires no xenstore watch: a reload (or the periodic rescan)
# notices it, dropping the old name and attaching the new one.
if xl create /xen/domu.cfg >$D/xl.out 2>&1; then
	id=$(xl domid domu)
	xl rename domu domr
	upcallctl -s "$SOCK" reload >/dev/null 2>&1; sleep 1
	grep -q "guest domu (dom $id): domain renamed, dropped" "$LOGF" &&
		grep -q "guest domr (dom $id): attached" "$LOGF" &&
		ok "xl rename domu domr + reload: old name dropped, domr (dom $id) attached" ||
		bad "rename: $(tail -3 "$LOGF" | tr '\n' ' ')"
	xl destroy domr; sleep 1
	grep -q "guest domr (dom $id): domain gone, dropped" "$LOGF" &&
		ok "domr destroyed: dropped" || bad "domr not dropped"
else
	bad "xl create for the rename: $(head -1 $D/xl.out)"
fi
# Forged xenstore entries: an id the hypervisor does not know, an id that
# does not parse. A reload rescans; neither may be attached.
xenstore-write /local/domain/77/name dom77 /local/domain/abc/name domabc
upcallctl -s "$SOCK" reload >/dev/null 2>&1; sleep 1
if grep -q 'dom77\|domabc' "$LOGF" || upcallctl -s "$SOCK" guests | grep -q '^dom'; then
	bad "a forged xenstore entry was attached"
else ok "forged xenstore entries (no such domain, bad id) ignored"; fi
xenstore-rm /local/domain/77; xenstore-rm /local/domain/abc
# A real domain whose name we refuse (a space): not attached, said once.
if xl create /xen/domu.cfg 'name="dom x"' >$D/xl.out 2>&1; then
	sleep 2
	upcallctl -s "$SOCK" guests | grep -q '^dom' && bad "'dom x' attached" ||
		ok "domain named 'dom x' not attached: $(grep -c 'without a usable name' "$LOGF") notice(s)"
	xl destroy 'dom x'
else
	echo "DISC skip name with a space: xl refused it: $(head -1 $D/xl.out)"
fi
kill -0 $UPID 2>/dev/null && ok "upcalld still running" || bad "upcalld died"
kill $UPID; wait $UPID 2>/dev/null
echo "--- upcalld log"; cat "$LOGF"
exit $fail
