#!/bin/sh
# Benchmarks pop3d against Dovecot, Courier and GNU Mailutils POP3 servers on
# the same Maildir, on loopback, and prints the table (docs/performance.md).
#
#   sudo scripts/bench.sh [--keep] [--repeats N] [--sizes 1000,10000,100000]
#                         [--huge-mb 200] [DIR]
#
# Installs what it needs with apt-get (the peers are NOT in
# scripts/packages/, so CI never installs them), builds a Release tree in
# build-bench/ (-j1), writes the fixture under DIR (default: a new directory
# under /tmp), runs the micro-benchmarks and every scenario, and deletes the
# fixture unless --keep. Not part of CI. Needs root (apt-get, tcpserver -u).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
keep=0 repeats=3 sizes=1000,10000,100000 huge=200 dir=""
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1 ;;
    --repeats) repeats=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --huge-mb) huge=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) dir=$1 ;;
    esac
    shift
done
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }
[ -n "$dir" ] || dir=$(mktemp -d /tmp/pop3d-bench.XXXXXX)
# The servers run unprivileged (pop3test, Dovecot's auth user): they must
# be able to reach DIR/passwd and DIR/store; mktemp -d makes DIR 0700.
chmod 755 "$dir"
peers=${BENCH_PEERS:-/tmp/bench-peers}
export BENCH_PEERS="$peers" DEBIAN_FRONTEND=noninteractive

echo "== packages"
"$here/scripts/install-deps.sh"
# Keep package scripts from starting system-wide daemons on port 110.
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
fi
apt-get install -y -qq --no-install-recommends libbenchmark-dev ucspi-tcp \
    dovecot-core dovecot-pop3d mailutils-pop3d openssl python3 \
    courier-authlib libcourier-unicode4 libidn12 >/dev/null
[ "$added_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
# courier-pop and popa3d conflict with every other pop3-server package (and
# courier-pop would pull in an MTA): unpack them beside, without installing.
if [ ! -x "$peers/usr/lib/courier/courier/courierpop3d" ]; then
    debs=$(mktemp -d)
    (cd "$debs" && chmod 777 . && apt-get download -qq courier-pop popa3d)
    for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$peers"; done
    rm -rf "$debs"
fi
# Mailutils creates its (here null) locker under this directory.
mkdir -p /var/lock/subsys/mail

echo "== build (Release, build-bench/)"
cmake -S "$here" -B "$here/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPOP3D_BENCH=ON -DPOP3D_TESTS=OFF >/dev/null
cmake --build "$here/build-bench" -j1 >/dev/null

echo "== fixture in $dir"
df -h "$dir" | tail -1
python3 "$here/bench/make_fixture.py" "$dir/store" --sizes "$sizes" \
    --huge-mb "$huge"
cleanup() { [ "$keep" -eq 1 ] || rm -rf "$dir"; }
trap cleanup EXIT

echo "== micro-benchmarks"
"$here/build-bench/bin/micro" --benchmark_min_time=0.5 \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    2>/dev/null | grep -E '_median|^Benchmark|^---'

echo "== scenarios (commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown), $repeats repeats)"
echo "popa3d: not measured: Debian's popa3d reads mbox spools only" \
     "($(strings "$peers/usr/sbin/popa3d" | grep -m1 '^/var/mail' || true)), not Maildir"
python3 "$here/bench/run_bench.py" --root "$dir" --bin "$here/build-bench/bin" \
    --repeats "$repeats" --sizes "$sizes" --json "$dir/results.json"
[ "$keep" -eq 0 ] || echo "kept $dir (results.json, peers/*.log)"
