#!/bin/sh
# xen-domu-gt.sh - scenario of the Xen lab's domU (tests/lab/xenlab.sh): a
# PVH guest has no second serial port for tests/lab/init's ground-truth
# shell, so it prints its own process list to hvc0 every 2 s, framed as
# "GT-PS-BEGIN <uptime> <n>" / "GT pid ppid uid comm" / "GT-PS-END", which
# xenconsoled logs in dom0 (/var/log/xen/console/guest-domu.log). gtps
# (tests/lab/guest/gtps.c) does it in one process: a shell loop forking per
# /proc entry never finished a snapshot under nested TCG.
exec gtps -i 2 >/dev/console 2>&1
