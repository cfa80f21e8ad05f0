#!/bin/bash
# TCP between two rump kernels in two processes over one shmif bus (tests/tcp/tcp_shmif.c's
# bench mode), beside the host's own TCP over loopback measured the same way where it can be:
# iperf3 if installed (tools/setup-debian.sh), else none (like with like: a bulk stream).
# Writes bench/results/tcp.md (or $OUT).
#
#   bench/tcp.sh [SIZE_MB]      (default 1024: the issue's 1 GiB)
#
# Reports: bulk throughput client -> server, the round trip of a 1-byte ping-pong
# (TCP_NODELAY, 2000 exchanges), and the connection set-up rate (200 blocking connects in a row).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${TCP_SHMIF_BIN:-$repo/build/bin/tcp_shmif}
size=${1:-1024}
out=${OUT:-$here/results/tcp.md}
[ -x "$bin" ] || { echo "tcp.sh: $bin is missing (cmake --build build)" >&2; exit 1; }
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
log=$(mktemp)
"$bin" bench $((size * 1024 * 1024)) | tee "$log"
host=""
if command -v iperf3 >/dev/null; then
  iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  # the server is up once its port listens
  for i in $(seq 100); do ss -Htln "sport = :5299" | grep -q 5299 && break; sleep 0.05; done

  host=$(iperf3 -c 127.0.0.1 -p 5299 -n ${size}M -f m | awk '/receiver/ {print $(NF-2), $(NF-1)}')
  wait || true
fi
{
  echo "# TCP between two rump kernels over shmif"
  echo
  echo "Run: \`bench/tcp.sh $size\` on $(date -u +%Y-%m-%d), load average before the run: $LOADAVG."
  echo
  echo '```'
  cat "$log"
  echo '```'
  echo
  if [ -n "$host" ]; then echo "Host loopback, iperf3 -n ${size}M: $host"; else echo "Host loopback: iperf3 not installed, not measured."; fi
} > "$out"
rm -f "$log"
echo "wrote $out"
