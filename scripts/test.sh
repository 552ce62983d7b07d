#!/bin/bash
# The one test command: installs dependencies, builds pop3d normally and with
# AddressSanitizer + UndefinedBehaviorSanitizer, runs every test in both,
# runs each libFuzzer target briefly, runs clang-tidy and cppcheck, and
# builds, lints, installs and purges the Debian package.
# Usage: scripts/test.sh   (from the repository root; needs root or sudo for apt)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
stage() { # stage NAME COMMAND...: runs a stage and prints how long it took
    local name=$1; shift
    local start=$SECONDS
    echo "=== $name"
    "$@"
    echo "=== $name: $((SECONDS - start)) s"
}
stage "install dependencies" scripts/install-deps.sh
stage "configure" cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage "build" cmake --build build -j "$jobs"
stage "test" ctest --test-dir build --output-on-failure -j "$jobs"
stage "configure (sanitizers)" cmake -S . -B build-asan -G Ninja \
    -DCMAKE_BUILD_TYPE=Debug -DPOP3D_SANITIZE=ON
stage "build (sanitizers)" cmake --build build-asan -j "$jobs"
stage "test (sanitizers)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
stage "fuzz (20 s per target)" env FUZZ_BUILD_JOBS="$jobs" scripts/fuzz.sh 20
stage "static analysis" scripts/static-analysis.sh "$jobs"
package() { # build, lintian, install, one session, remove, purge
    local deb
    deb=$(scripts/build-package.sh | tail -1)
    scripts/test-package.sh "$deb"
}
stage "Debian package" package
echo "all tests passed"
