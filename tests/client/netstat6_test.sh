#!/bin/sh
# rumpctl netstat and TCP over IPv6: python3 under librumphijack opens a listener on [::1]:7006
# in a rump_server and a connection to it with 5 bytes unread, and holds them open; netstat
# lists them as tcp6 lines (net.inet6.tcp6.pcblist) after the IPv4 ones, with NetBSD's
# netstat -n endpoints ("::1.7006", "*.*"). Prints "N passed, N failed" like the C tests.
set -u
server=$1
ctl=$2
hijack=$3
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

dir=$(mktemp -d /tmp/netstat6.XXXXXX)
A="unix://$dir/a"
cleanup() {
	RUMP_SERVER=$A "$ctl" halt >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
has() {
	if grep -Eq -- "$2" "$1"; then ok; else bad "$3: expected /$2/ in: $(cat "$1")"; fi
}

if ! "$server" "$A"; then
	echo "FAIL: rump_server $A did not start" >&2
	exit 1
fi
mkfifo "$dir/hold"
RUMP_SERVER=$A LD_PRELOAD=$hijack RUMPHIJACK=socket=all python3 -c '
import select, socket, sys
l = socket.socket(socket.AF_INET6); l.bind(("::1", 7006)); l.listen(4)
c = socket.create_connection(("::1", 7006)); a, peer = l.accept()
c.sendall(b"12345")
select.select([a], [], [])
print("ready", peer[0], flush=True)
open(sys.argv[1]).read()
' "$dir/hold" >"$dir/py" 2>&1 &
py=$!
n=0
while ! grep -qs ready "$dir/py" && kill -0 $py 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
if grep -qs "ready ::1" "$dir/py"; then ok; else bad "python3 under the hijack made no IPv6 connection: $(cat "$dir/py")"; fi
if RUMP_SERVER=$A "$ctl" netstat >"$dir/out" 2>"$dir/err"; then ok; else bad "netstat: $(cat "$dir/err")"; fi
has "$dir/out" "^tcp6 +0 +0 +::1\\.7006 +\\*\\.\\* +LISTEN$" "the listener"
has "$dir/out" "^tcp6 +5 +0 +::1\\.7006 +::1\\.[0-9]+ +ESTABLISHED$" "the accepted side, 5 bytes unread"
# The sender's 5 bytes may still wait for the receiver's delayed ACK: Send-Q is 5 or 0.
has "$dir/out" "^tcp6 +0 +[05] +::1\\.[0-9]+ +::1\\.7006 +ESTABLISHED$" "the connecting side"
echo >"$dir/hold"
wait $py

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
