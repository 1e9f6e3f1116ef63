#!/bin/sh
# xen-domu-gt.sh - scenario of the Xen lab's domU (tests/lab/xenlab.sh): a
# PVH guest has no second serial port for tests/lab/init's ground-truth
# shell, so it prints its own process list to hvc0 every 2 s, framed as
# "GT-PS-BEGIN <uptime>" / "GT pid ppid uid comm" / "GT-PS-END", which
# xenconsoled logs in dom0 (/var/log/xen/console/guest-domu.log).
while :; do
	{
		echo "GT-PS-BEGIN $(cut -d' ' -f1 /proc/uptime)"
		for d in /proc/[0-9]*; do
			[ -r "$d/stat" ] || continue
			# comm may hold spaces: take it between the parentheses
			s=$(cat "$d/stat" 2>/dev/null) || continue
			comm=${s#*(}; comm=${comm%)*}
			set -- ${s##*) }
			uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "$d/status" 2>/dev/null)
			echo "GT ${d#/proc/} $2 ${uid:-?} $comm"
		done
		echo "GT-PS-END"
	} >/dev/console 2>&1
	sleep 2
done
