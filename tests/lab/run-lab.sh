#!/bin/sh
# run-lab.sh - run lab test programs (Check programs that boot real guests
# through tests/lab/lab.sh): fetch the kernel first (quiet when cached), run
# each program, print Check's summary lines, close with
# "lab: N passed, N failed". Every guest this run started is stopped at exit,
# and only those: other runs on the machine keep theirs.
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/lab.sh
export UPCALLD_LAB_SH="$LAB"
export UPCALLD_LAB_SESSION=$$
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-300}"

cleanup() { "$LAB" stopall >/dev/null 2>&1; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$LAB" fetch -q || { echo "lab: 0 passed, 1 failed"; echo "lab: fetch failed"; exit 1; }

pass=0 fail=0 failed=""
for t in "$@"; do
	echo "== $t"
	if [ ! -x "$t" ]; then
		echo "$t: not built"
		fail=$((fail + 1)); failed="$failed $t"
		continue
	fi
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E '%: Checks:|:[EF]:'
	n=$(printf '%s\n' "$out" |
		sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' |
		awk '{c+=$1;f+=$2;e+=$3} END{print c+0, f+e+0}')
	checks=${n% *} f=${n#* }
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; printf '%s\n' "$out" | tail -n 20
	elif [ "$f" -ne 0 ]; then	# what lab.sh / labsup said about it
		printf '%s\n' "$out" | grep -E '^(lab|labsup|lab_[a-z]+):' | tail -n 20
	fi
	pass=$((pass + checks - f)); [ $pass -lt 0 ] && pass=0
	fail=$((fail + f))
	[ "$f" -ne 0 ] && failed="$failed $t"
done
echo "lab: $pass passed, $fail failed"
[ -n "$failed" ] && { echo "failing:$failed"; exit 1; }
exit 0
