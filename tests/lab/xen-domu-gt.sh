#!/bin/sh
# xen-domu-gt.sh - scenario of the Xen lab's domU (tests/lab/xenlab.sh): a
# PVH guest has no second serial port for tests/lab/init's ground-truth
# shell, so it reports on hvc0, which xenconsoled logs in dom0
# (/var/log/xen/console/guest-domu.log):
#   "GT-XEN dev <ls /dev/xen>"         the Xen devices (modules from /init)
#   "GT-LIAR victim PID COMM"          upcalld.xenlab=liar only: a process
#   "GT-LIAR agent ARGS"               the lying agent leaves out of its
#   "GT-AGENT ..."                     answers (it is in memory and /proc);
#   "GT-LIAR agent exited STATUS"      the agent's log lines, its end
#   "GT-PS-BEGIN <uptime> <n>" / "GT pid ppid uid comm" / "GT-PS-END"
#                                       its process list every 2 s (gtps)
# gtps (tests/lab/guest/gtps.c) does that in one process: a shell loop
# forking per /proc entry never finished a snapshot under nested TCG.
# gtps writes each snapshot in one write(), so the agent's lines, one
# write each, fall between snapshots, never inside one.
mkdir -p /proc/xen 2>/dev/null
grep -qw xenfs /proc/filesystems && mount -t xenfs xenfs /proc/xen
echo "GT-XEN dev $(ls /dev/xen 2>&1 | tr '\n' ' ')" >/dev/console

if grep -qw 'upcalld.xenlab=liar' /proc/cmdline; then
	victim=$(labproc -d -n labvictim)
	echo "GT-LIAR victim $victim labvictim" >/dev/console
	# the agent's Xen transport is its default when no virtio port exists;
	# an explicit option wins where the agent has one
	args=
	agent=/usr/bin/upcalld-agent-liar
	help=$($agent --help 2>&1)
	case $help in *--xen*) args=--xen ;; esac
	echo "GT-LIAR agent $args --omit-pid $victim" >/dev/console
	(
		# shellcheck disable=SC2086
		{ $agent $args --foreground --omit-pid "$victim" 2>&1; echo "exit $?"; } |
			while IFS= read -r l; do echo "GT-AGENT $l"; done >/dev/console
		echo "GT-LIAR agent exited" >/dev/console
	) &
fi
exec gtps -i 2 >/dev/console 2>&1
