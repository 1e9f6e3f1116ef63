# xen-dom0-lib.sh - shell functions shared by the Xen lab's dom0 scenarios
# (xen-dom0-smoke.sh, xen-dom0-daemon.sh, xen-dom0-discover.sh), sourced
# from /xen/lib.sh in dom0. dom0 has busybox only: no comm(1), no bc, so
# set operations and arithmetic on times are awk.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/lib/xen-4.17/bin
LOG=/var/log/xen/console/guest-domu.log	# the domU's console (xenconsoled)

up() { cut -d' ' -f1 /proc/uptime; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# The domU's last complete ground-truth snapshot (tests/lab/guest/gtps.c
# on its console) as "pid comm" lines. /proc names kworkers
# "kworker/0:1-wq" and shows kthread names whole; task->comm keeps 15.
last_gt() {
	awk '/^GT-PS-BEGIN/ { n = 0; delete l; go = 1; next }
	     /^GT-PS-END/ { if (go) { out = ""; for (i = 0; i < n; i++) out = out l[i] "\n"; keep = out }; go = 0; next }
	     go && $1 == "GT" { c = $5; for (i = 6; i <= NF; i++) c = c " " $i;
	                        if (c ~ /^kworker\//) sub(/-.*/, "", c)
	                        l[n++] = $2 " " substr(c, 1, 15) }
	     END { printf "%s", keep }' "$LOG" | tr -d '\r'
}
snapshots() { grep -c '^GT-PS-END' "$LOG" 2>/dev/null; }
# Seconds until the domU's next snapshot (it writes one every 2 s; a loaded
# nested-TCG domU can take several times that), "none" after $1 s.
next_snapshot() {
	n1=$(snapshots); i=0
	while [ $i -lt $(($1 * 5)) ] && [ "$(snapshots)" -le "$n1" ]; do
		sleep 0.2; i=$((i + 1))
	done
	[ "$(snapshots)" -gt "$n1" ] && echo $((i / 5)) || echo none
}

# Lines of file $1 not in file $2 / in both.
minus() { awk 'NR == FNR { s[$0] = 1; next } !($0 in s)' "$2" "$1"; }
both() { awk 'NR == FNR { s[$0] = 1; next } ($0 in s)' "$2" "$1"; }
