#!/bin/sh
# xen-domu-gt.sh - scenario of the Xen lab's domU (tests/lab/xenlab.sh): a
# PVH guest has no second serial port for tests/lab/init's ground-truth
# shell, so it reports on hvc0, which xenconsoled logs in dom0
# (/var/log/xen/console/guest-domu.log):
#   "GT-XEN dev <ls /dev/xen>"         the Xen devices (modules from /init)
#   "GT-PS-BEGIN <uptime> <n>" / "GT pid ppid uid comm" / "GT-PS-END"
#                                       its process list every 2 s (gtps)
# gtps (tests/lab/guest/gtps.c) does that in one process: a shell loop
# forking per /proc entry never finished a snapshot under nested TCG.
mkdir -p /proc/xen 2>/dev/null
grep -qw xenfs /proc/filesystems && mount -t xenfs xenfs /proc/xen
echo "GT-XEN dev $(ls /dev/xen 2>&1 | tr '\n' ' ')" >/dev/console
exec gtps -i 2 >/dev/console 2>&1
