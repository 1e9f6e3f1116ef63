#!/bin/bash
# gt.sh - the host side of the lab's ground-truth shell, sourced by lab.sh
# and xenlab.sh (the guest side is the loop in tests/lab/init and
# xen-dom0-init). GT_WHO names the caller in messages.

# One ground-truth exchange: "TOKEN BASE64(cmd)\n" -> "TOKEN:B\n" output
# "\nTOKEN:E:STATUS\n". Prints the output; returns the status (255 + message
# on timeout or a closed channel). Timeout in ms.
gt_exec() {
	local sock=$1 cmd=$2 tmo=$3 quiet=${4:-0} tok line prev='' have=0 began=0 left st=''
	tok=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	coproc GT { exec socat -t 1 - "UNIX-CONNECT:$sock" 2>/dev/null 8>&- 9>&-; }
	local gin=${GT[0]:-} gout=${GT[1]:-} gpid=${GT_PID:-} deadline=$(( ${EPOCHREALTIME/[.,]/} / 1000 + tmo ))
	[ -n "$gout" ] &&
		printf '%s %s\n' "$tok" "$(printf '%s' "$cmd" | base64 -w0)" 2>/dev/null 1>&"$gout"
	while [ -n "$gin" ] && left=$((deadline - ${EPOCHREALTIME/[.,]/} / 1000)) &&
		[ "$left" -gt 0 ]; do
		IFS= read -r -t "$((left / 1000)).$(printf %03d $((left % 1000)))" line <&"$gin" || break
		if [ "$began" = 0 ]; then
			[[ $line == *"$tok:B" ]] && began=1
			continue
		fi
		if [[ $line == "$tok:E:"* ]]; then
			st=${line#"$tok:E:"}
			[ "$have" = 1 ] && printf '%s' "$prev"
			break
		fi
		[ "$have" = 1 ] && printf '%s\n' "$prev"
		prev=$line; have=1
	done
	[ -n "$gpid" ] && { kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null; }
	if [[ $st =~ ^[0-9]+$ ]]; then return "$st"; fi
	[ "$quiet" = 1 ] || echo "${GT_WHO:-lab}: no answer from the ground-truth shell on $sock within ${tmo} ms" >&2
	return 255
}
