#!/bin/bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded
# time, failing on any finding. Prints executions and coverage per target.
#
#   scripts/fuzz.sh            30 s per target (what CI runs)
#   scripts/fuzz.sh 3600       a long run: one hour per target
#   scripts/fuzz.sh 60 session only the named targets (parse, session, ...)
#
# Seeds are fuzz/corpus/<target>/ (read only); new inputs go to
# build-fuzz/corpus/<target>/, findings to build-fuzz/artifacts/. Reproduce a
# finding with: build-fuzz/bin/fuzz_<target> build-fuzz/artifacts/<file>
# (fuzz_session also prints the session it decodes to with FUZZ_TRACE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse session passwd_line maildir_name dotstuff sasl privsep_wire proxy_header dovecot_uidlist dovecot_auth scenario)
fi
jobs=${FUZZ_BUILD_JOBS:-1}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DPOP3D_FUZZ=ON \
    -DPOP3D_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$jobs" --target "${targets[@]/#/fuzz_}"
mkdir -p build-fuzz/artifacts
status=0
printf '%-14s %12s %8s %8s %s\n' target executions cov ft result
for t in "${targets[@]}"; do
    mkdir -p "build-fuzz/corpus/$t"
    log="build-fuzz/fuzz_$t.log"
    set +e
    "build-fuzz/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        -dict=fuzz/pop3.dict -artifact_prefix="build-fuzz/artifacts/$t-" \
        "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    if [ $rc -eq 0 ]; then result=ok; else result="FAILED (see $log)"; status=1; fi
    printf '%-14s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
    if [ $rc -ne 0 ]; then grep -E 'law violated|ERROR|runtime error|SUMMARY' "$log" | head -5; fi
done
exit $status
