#!/bin/bash
# TCP benchmarks (tests/tcp/tcp_shmif.c's modes), like with like, in one run:
#  1. two rump kernels in two processes over one shmif bus: bulk one way, then the 1-byte
#     ping-pong round trip (TCP_NODELAY, 2000 exchanges) and the connection set-up rate (200
#     blocking connects in a row) (tcp_shmif bench);
#  2. the same two kernels, SIZE both directions at once, each checked against its FNV-1a
#     checksum and byte for byte (tcp_shmif test SIZE 1);
#  3. as root (ip, network namespaces): the same transfer between a rump kernel on a host TAP
#     (virtif) and Linux's stack in a namespace, and between two Linux stacks over a veth pair
#     into a namespace, with the same program on Linux sockets (host-server, host-client);
#     once at Ethernet's MTU and once with jumbo frames (JUMBO_MTU, default 65521) on every link,
#     and the TAP runs each twice: without virtif's offloads and with them (IFF_VNET_HDR);
#  4. the host's loopback with iperf3, if installed (tools/setup-debian.sh).
# Every run reports wall time, CPU seconds (user + sys of all its processes) and the load
# average: numbers measured while others build are noisy, CPU seconds less so.
# Writes bench/results/tcp-raw.md (or $OUT); bench/results/tcp.md is the commented summary.
#
#   bench/tcp.sh [SIZE_MB]      (default 1024: the issue's 1 GiB)
#   ONEWAY=1 bench/tcp.sh ...   the TAP, veth and loopback cases only, each one way (the kernel or
#                               Linux's client sending to the namespace's server), like iperf3's
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${TCP_SHMIF_BIN:-$repo/build/bin/tcp_shmif}
size=${1:-1024}
bytes=$((size * 1024 * 1024))
out=${OUT:-$here/results/tcp-raw.md}
[ -x "$bin" ] || { echo "tcp.sh: $bin is missing (cmake --build build)" >&2; exit 1; }
log=$(mktemp)
tmp=$(mktemp -d)
ns=rbench$$ tap=virt$(( $$ % 900 + 100 )) veth=rbv$$
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  for i in 0 1 2 3; do ip link del "$tap$i" 2>/dev/null || true; ip link del "$veth$i" 2>/dev/null || true; done
  rm -rf "$tmp" "$log"
}
trap cleanup EXIT

say() { echo "$@" | tee -a "$log"; }
cpu() { awk -v u="$1" -v s="$2" 'BEGIN { printf "%.2f", u + s }'; }
# timed FILE CMD...: runs CMD, then writes "wall user sys" (of CMD and its children) to FILE
timed() {
  local f=$1; shift
  local TIMEFORMAT='%R %U %S'
  { time "$@" 2>&3; } 3>&2 2> "$f"
}
# run NAME CMD...: the command's output, then its wall time, CPU seconds and the load average
run() {
  local name=$1; shift
  say "## $name (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  timed "$tmp/time" "$@" 2>&1 | tee -a "$log"
  read -r wall user sys < "$tmp/time"
  say "$name: $wall s wall, $(cpu "$user" "$sys") CPU-s (user $user, sys $sys)"
  say
}

say "bench/tcp.sh $size on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores${ONEWAY:+, one way only}"
say
way="each way"
if [ -n "${ONEWAY:-}" ]; then
  export TCP_ONEWAY=1
  way="one way"
elif command -v perf >/dev/null; then
  say "## shmif one way, $size MiB, under perf stat (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  perf stat -x, -o "$tmp/perf" -e task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fcntl \
    "$bin" bench "$bytes" 2>&1 | tee -a "$log"
  awk -F, '!/^#/ && NF > 2 {print "perf: " $3 " " $1 " " $2}' "$tmp/perf" | tee -a "$log"
  say
else
  run "shmif one way, $size MiB" "$bin" bench "$bytes"
fi
[ -n "${ONEWAY:-}" ] || run "shmif both directions, $size MiB each" "$bin" test "$bytes" 1

# tap_run MTU N OFFLOAD: the kernel on a TAP (virt<N>, 10.<NET>.N.0/24) against Linux's stack in
# the namespace, with virtif's offloads (IFF_VNET_HDR: checksums and TSO/GSO) on or off
# (RUMP_VIRTIF_OFFLOAD=0: one frame per MSS, as before them). Under perf stat if there is perf:
# the rump side's write(2) and read(2) counts (one per frame on the TAP, and the socket's).
tap_run() {
  local mtu=$1 n=$2 off=$3 t="$tap$2" net=94 what="offloads on"
  local mtuarg=() perfcmd=()
  [ "$mtu" = 1500 ] || mtuarg=("$mtu")
  [ "$off" = 1 ] || { t="$tap$(( $2 + 2 ))"; net=96; what="offloads off"; }
  command -v perf >/dev/null && perfcmd=(perf stat -x, -o "$tmp/tap.perf" -e task-clock,syscalls:sys_enter_write,syscalls:sys_enter_read --)
  rm -f "$tmp/tap.perf"
  # rump kernel over virtif: the kernel opens the TAP by name in this namespace, then it moves in
  ip tuntap add dev "$t" mode tap
  ip link set "$t" mtu "$mtu"
  timed "$tmp/tc.time" env RUMP_VIRTIF_OFFLOAD="$off" "${perfcmd[@]}" "$bin" tap-client "$t" 10.$net.$n.1 10.$net.$n.2 5100 "$bytes" "${mtuarg[@]}" > "$tmp/tap.out" 2>&1 &
  tc=$!
  touch "$tmp/tap.out"
  for i in $(seq 200); do grep -q "up as" "$tmp/tap.out" && break; sleep 0.05; done
  ip link set "$t" netns "$ns"
  ip -n "$ns" link set "$t" up
  ip -n "$ns" addr add 10.$net.$n.2/24 dev "$t"
  say "## rump kernel (virtif, TAP, MTU $mtu, $what) <-> Linux in a namespace, $size MiB $way (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  timed "$tmp/srv.time" ip netns exec "$ns" "$bin" host-server 5100 "$bytes" > "$tmp/srv.out" 2>&1
  wait "$tc" || say "tap-client failed"
  cat "$tmp/tap.out" "$tmp/srv.out" | tee -a "$log"
  read -r w u s < "$tmp/tc.time"
  say "rump side (client): $w s wall, $(cpu "$u" "$s") CPU-s (user $u, sys $s)"
  [ -f "$tmp/tap.perf" ] && awk -F, '!/^#/ && NF > 2 {print "perf (rump side): " $3 " " $1 " " $2}' "$tmp/tap.perf" | tee -a "$log"
  read -r w u s < "$tmp/srv.time"
  say "Linux side (server): $w s wall, $(cpu "$u" "$s") CPU-s (user $u, sys $s)"
  say
}

# tap_vs_veth MTU N: the kernel on a TAP (without and with offloads) against Linux over a veth
# pair, both links at MTU (jumbo frames: the same MTU on the TAP, the kernel's virt0 and the veth
# pair, like with like)
tap_vs_veth() {
  local mtu=$1 n=$2 v="$veth$2"
  tap_run "$mtu" "$n" 0
  tap_run "$mtu" "$n" 1

  # Linux <-> Linux over a veth pair into the namespace
  ip link add "$v" mtu "$mtu" type veth peer name "${v}p" mtu "$mtu"
  ip link set "${v}p" netns "$ns"
  ip addr add 10.95.$n.1/24 dev "$v"
  ip link set "$v" up
  ip -n "$ns" addr add 10.95.$n.2/24 dev "${v}p"
  ip -n "$ns" link set "${v}p" up
  timed "$tmp/vsrv.time" ip netns exec "$ns" "$bin" host-server 5101 "$bytes" > "$tmp/vsrv.out" 2>&1 &
  vs=$!
  touch "$tmp/vsrv.out"
  for i in $(seq 100); do grep -q listening "$tmp/vsrv.out" && break; sleep 0.05; done
  run "Linux <-> Linux over veth (MTU $mtu) into a namespace, $size MiB $way (client side's CPU; the server's below)" "$bin" host-client 10.95.$n.2 5101 "$bytes"
  wait "$vs" || say "host-server failed"
  cat "$tmp/vsrv.out" | tee -a "$log"
  read -r w u s < "$tmp/vsrv.time"
  say "Linux server side: $w s wall, $(cpu "$u" "$s") CPU-s (user $u, sys $s)"
  say
  ip link del "$v" 2>/dev/null || true
}

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns add "$ns" 2>/dev/null; then
  ip -n "$ns" link set lo up
  tap_vs_veth 1500 0
  tap_vs_veth "${JUMBO_MTU:-65521}" 1   # virtif's largest (Virtif.JumboMtu), which is Linux TAP's max_mtu
else
  say "TAP comparison: not run (needs root, ip and network namespaces)."
  say
fi

if command -v iperf3 >/dev/null; then
  iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  for i in $(seq 100); do ss -Htln "sport = :5299" | grep -q 5299 && break; sleep 0.05; done
  say "## host loopback, iperf3 -n ${size}M (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  iperf3 -c 127.0.0.1 -p 5299 -n "${size}M" -f m | awk '/receiver/ {print "iperf3 loopback: " $(NF-2), $(NF-1)}' | tee -a "$log"
  wait || true
else
  say "Host loopback: iperf3 not installed, not measured."
fi
{ echo '```'; cat "$log"; echo '```'; } > "$out"
echo "wrote $out"
