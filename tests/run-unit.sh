#!/bin/sh
# run-unit.sh - run Check unit test programs (plain and ASan/UBSan builds),
# keep going after a failure, and close with one summary line.
# Each program prints Check's own "NN%: Checks: N, Failures: N, Errors: N".
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-60}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0 fail=0 failed=""
for t in "$@"; do
	echo "== $t"
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^Running suite' | grep -E '%: Checks:|:[EF]:|ERROR|runtime error|Sanitizer' 
	n=$(printf '%s\n' "$out" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' | awk '{c+=$1;f+=$2;e+=$3} END{print c+0, f+0, e+0}')
	checks=$(echo "$n" | awk '{print $1+0}')
	f=$(echo "$n" | awk '{print $2+$3}')
	if [ $rc -ne 0 ] && [ $f -eq 0 ]; then f=1; printf '%s\n' "$out" | tail -20; fi
	pass=$((pass + checks - f)); fail=$((fail + f))
	[ $f -ne 0 ] && failed="$failed $t"
done
echo "unit: $pass passed, $fail failed"
[ -n "$failed" ] && { echo "failing:$failed"; exit 1; }
exit 0
