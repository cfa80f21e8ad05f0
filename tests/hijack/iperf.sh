#!/bin/sh
# Unmodified iperf3 under LD_PRELOAD=librumphijack.so over the rump kernel's own TCP/IP, Linux's
# iperf3 as the peer (issue 11). As hijack.net.kernel (netkernel.sh): the kernel
# (HIJACK_NETSERVER, tests/hijack/netserver.c) has virt0 at 10.77.0.2/24 over a TAP in a network
# namespace this test makes, where the host's end is 10.77.0.1 and the host's iperf3 runs. Needs
# root (ip netns, the TAP). The hijacked iperf3 runs outside the namespace, where nothing reaches
# 10.77.0.0/24: a test that completes went through the kernel's stack.
#
#   1. the host's iperf3 -s, the kernel's iperf3 -c;      2. the kernel's iperf3 -s, the host's -c;
#   3. as 1 with -R (the host sends);                     4. as 2 with -R (the kernel sends);
#   5. as 2 with -P 4 (four streams at once).
#
# Each run moves IPERF_BYTES (default 64M) with -n and -J; the client's JSON must have no
# "error" and at least IPERF_BYTES sent. With -R the receiver (the client) ends the test once it
# has them all, so the bytes received must equal the bytes sent. Without -R iperf3's client
# ends the test once it has *written* them, and the server closes its data sockets when that
# message arrives on the control connection, discarding what it has not read yet (iperf3's
# design, as between two Linux hosts): there the receiver's count must be more than half of
# what was sent and no more than it. The receiving rate of each run is printed (not asserted:
# it is a correctness test; bench/results/tcp.md has the numbers).
#
# Environment: HIJACK_LIB, HIJACK_NETSERVER. Prints "N passed, N failed"; exits 1 on any failure.
set -u
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "FAIL: this test needs root (ip netns add, a TAP device)" >&2; exit 1; }
for tool in ip iperf3 python3 ss; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is missing (tools/setup-debian.sh installs it)" >&2; exit 1; }
done
bytes=${IPERF_BYTES:-64M}
nsname=hjperf workname=hijackiperf
. "$(dirname "$0")/netns_kernel.sh"

freeport() {
	$H "$python" -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])'
}
wait_listen() {
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -le $end ]; do
		[ -n "$($H ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# check NAME JSONFILE exact|upto: the client's JSON says no error, and the receiver got every
# byte sent (exact), or more than half and no more (upto).
check() {
	got=$("$python" - "$2" "$bytes" "$3" <<'EOF'
import json, sys
want = sys.argv[2]
want = int(want[:-1]) << {"K": 10, "M": 20, "G": 30}[want[-1]] if want[-1] in "KMG" else int(want)
try:
    j = json.load(open(sys.argv[1]))
except Exception as e:
    print("no JSON (%s)" % e); sys.exit()
if "error" in j:
    print("iperf3 error: %s" % j["error"]); sys.exit()
s, r = j["end"]["sum_sent"], j["end"]["sum_received"]
streams = len(j["end"]["streams"])
if s["bytes"] < want or (r["bytes"] != s["bytes"] if sys.argv[3] == "exact" else not s["bytes"] // 2 < r["bytes"] <= s["bytes"]):
    print("sent %d, received %d, wanted at least %d sent and %s received" % (s["bytes"], r["bytes"], want,
          "all of it" if sys.argv[3] == "exact" else "more than half of it, no more")); sys.exit()
cpu = j["end"].get("cpu_utilization_percent", {})
print("ok %d of %d bytes received in %d stream(s), %.0f Mbit/s (%.2f s), CPU %% client %.0f server %.0f" % (r["bytes"], s["bytes"], streams,
      r["bits_per_second"] / 1e6, r["seconds"], cpu.get("host_total", -1), cpu.get("remote_total", -1)))
EOF
)
	case $got in
	ok*) ok; echo "$1: $got" ;;
	*) bad "$1: $got"; sed -n '1,40p' "$2" >&2 ;;
	esac
}

# The host's iperf3 -s in the namespace, the hijacked client: NAME exact|upto EXTRA-CLIENT-ARGS...
host_server() {
	name=$1 mode=$2; shift 2
	port=$(freeport)
	$H iperf3 -s -1 -B $host -p "$port" >"$work/hs.out" 2>&1 &
	hs=$!
	pids="$pids $hs"
	if ! wait_listen "$port"; then bad "$name: the host's iperf3 -s did not listen: $(cat "$work/hs.out")"; return; fi
	run timeout 120 iperf3 -c $host -p "$port" -n "$bytes" -J "$@" >"$work/$name.json" 2>"$work/$name.err"
	check "$name" "$work/$name.json" "$mode"
	wait $hs
}

# The hijacked iperf3 -s on the kernel's address, the host's client in the namespace, retried
# while the kernel refuses the connection (no listener yet): NAME exact|upto EXTRA-CLIENT-ARGS...
kernel_server() {
	name=$1 mode=$2; shift 2
	port=$(freeport)
	run timeout 150 iperf3 -s -1 -B $kern -p "$port" -J >"$work/ks.json" 2>"$work/ks.err" &
	ks=$!
	pids="$pids $ks"
	end=$(($(date +%s) + 60))
	while :; do
		$H timeout 120 iperf3 -c $kern -p "$port" -n "$bytes" -J "$@" >"$work/$name.json" 2>"$work/$name.err"
		grep -q 'unable to connect' "$work/$name.json" && kill -0 $ks 2>/dev/null && [ "$(date +%s)" -le $end ] || break
		sleep 0.1
	done
	check "$name" "$work/$name.json" "$mode"
	wait $ks
	got=$("$python" -c '
import json, sys
j = json.load(open(sys.argv[1]))
print("error: " + j["error"] if "error" in j else "ok")' "$work/ks.json" 2>&1)
	[ "$got" = ok ] && ok || bad "$name: the kernel's iperf3 -s: $got ($(head -c 400 "$work/ks.err"))"
}

host_server kernel-client upto
kernel_server host-client upto
host_server kernel-client-reverse exact -R
kernel_server host-client-reverse exact -R
kernel_server host-client-parallel upto -P 4

# The kernel's process (netserver: TCP/IP and the TAP's I/O, not the hijacked iperf3) in CPU seconds.
cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "user %.2f s, sys %.2f s", $14 / t, $15 / t}' /proc/$srv/stat 2>/dev/null)
echo "kernel process CPU: $cpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
