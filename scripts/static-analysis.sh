#!/bin/bash
# Static analysis: clang-tidy with the check set in .clang-tidy (documented
# there and in docs/reliability.md) and cppcheck, over core/ and shell/.
# Fails on any finding. Usage: scripts/static-analysis.sh [jobs]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-$(nproc)}
for tool in clang-tidy cppcheck; do
    command -v $tool >/dev/null || {
        echo "$tool missing: apt-get install $(tr '\n' ' ' < scripts/packages/hardening.txt)" >&2
        exit 1
    }
done
# A compilation database of the product code only (no tests).
cmake -S . -B build-analysis -G Ninja -DPOP3D_TESTS=OFF \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
sources=$(ls core/src/*.cpp shell/*.cpp)
echo "=== clang-tidy ($(echo "$sources" | wc -l) files, $jobs jobs)"
start=$SECONDS
status=0
echo "$sources" | xargs -P "$jobs" -n 1 clang-tidy -p build-analysis --quiet \
    >build-analysis/clang-tidy.log 2>&1 || status=1
grep -E 'warning:|error:' build-analysis/clang-tidy.log || true
echo "=== clang-tidy: $((SECONDS - start)) s, $( [ $status -eq 0 ] && echo clean || echo FINDINGS)"
start=$SECONDS
echo "=== cppcheck"
# Checks: warning (likely bugs), portability, performance. Style is left to
# clang-tidy and the compiler's -Wall -Wextra -Wconversion -Werror.
if ! cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c++20 \
        --enable=warning,portability,performance \
        --suppress=missingIncludeSystem --suppress=unknownMacro \
        --suppress=syntaxError:*/range/v3/* \
        -I core/include -I shell -j "$jobs" core/src shell; then
    status=1
fi
echo "=== cppcheck: $((SECONDS - start)) s"
exit $status
