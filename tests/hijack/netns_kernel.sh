# Sourced by netkernel.sh and iperf.sh (hijack.net.kernel, hijack.net.iperf) once they have checked
# for root and their tools: the rump kernel (HIJACK_NETSERVER, netserver.c) with virt0 at $kern/24
# over a TAP in a network namespace made here ($ns: $nsname and the pid), where the host's end is $host.
# $workname names the work directory. Defines H (a prefix that runs a command in the namespace), run
# (runs a command hijacked onto the kernel: LD_PRELOAD=$HIJACK_LIB), python, pids (killed at exit,
# with the namespace and the work directory).
for v in HIJACK_LIB HIJACK_NETSERVER; do
	eval "f=\${$v:-}"
	[ -f "$f" ] || { echo "FAIL: $v does not name the file" >&2; exit 1; }
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy ALL_PROXY all_proxy RUMPHIJACK RUMP_SOCKIN

work=$(mktemp -d "${TMPDIR:-/tmp}/$workname.XXXXXX")
ns=$nsname$$
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del $ns 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
python=$(python3 -c 'import sys; print(sys.executable)')
H="ip netns exec $ns"
host=10.77.0.1
kern=10.77.0.2

ip netns add $ns || { echo "FAIL: ip netns add $ns" >&2; exit 1; }
$H ip link set lo up

# The kernel, inside the namespace so that its TAP is made there; ready once its socket exists.
sock=$work/kern
$H "$HIJACK_NETSERVER" "unix://$sock" $kern 24 2>"$work/server.err" &
srv=$!
pids="$pids $srv"
end=$(($(date +%s) + 120))
while [ ! -S "$sock" ] && kill -0 $srv 2>/dev/null && [ "$(date +%s)" -le $end ]; do sleep 0.05; done
[ -S "$sock" ] || { echo "FAIL: netserver did not start: $(cat "$work/server.err")" >&2; exit 1; }
$H ip addr add $host/24 dev virt0 && $H ip link set virt0 up ||
	{ echo "FAIL: configuring the host's end of virt0 in $ns" >&2; exit 1; }
run() { RUMP_SERVER=unix://$sock LD_PRELOAD=$HIJACK_LIB "$@"; }
