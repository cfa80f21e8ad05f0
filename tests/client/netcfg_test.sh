#!/bin/sh
# netcfg_test.sh RUMP_SERVER_BIN RUMPCTL_BIN HIJACK_LIB
#
# Two rump_servers in two processes on one shmif bus file, no privileges, configured only with
# rumpctl as NetBSD's tools would do it: ifconfig shmif0 create; linkstr BUS; inet ADDR/24. Then
# ping from each to the other, arp -a shows the peer's Ethernet address (the one ifconfig of the
# peer shows), route add/get/show/delete through a gateway on the bus, and errors: an unknown
# interface, a duplicate, a gateway off every subnet, a deleted route, ping without a reply.
# netstat lists a TCP listener and a connection, a bound UDP socket and a local socket pair that
# python3 holds open in A (its sockets in the kernel through librumphijack); -u and -x choose.
# Each output is compared with what is expected. Prints "N passed, N failed" like the C tests.
set -u
server=$1
ctl=$2
hijack=$3
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

dir=$(mktemp -d /tmp/netcfg.XXXXXX)
A="unix://$dir/a"
B="unix://$dir/b"
cleanup() {
	RUMP_SERVER=$A "$ctl" halt >/dev/null 2>&1
	RUMP_SERVER=$B "$ctl" halt >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

# expect STATUS DESCRIPTION SERVER COMMAND...: runs rumpctl against SERVER, output in $dir/out and $dir/err
expect() {
	want=$1; what=$2; srv=$3; shift 3
	RUMP_SERVER=$srv "$ctl" "$@" >"$dir/out" 2>"$dir/err"
	got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "$what: expected exit $want, got $got: $(cat "$dir/err") $(cat "$dir/out")"
	fi
}
# has FILE REGEX DESCRIPTION
has() {
	if grep -Eq -- "$2" "$1"; then ok; else bad "$3: expected /$2/ in: $(cat "$1")"; fi
}
hasnot() {
	if grep -Eq -- "$2" "$1"; then bad "$3: did not expect /$2/ in: $(cat "$1")"; else ok; fi
}

for s in "$A" "$B"; do
	if ! "$server" "$s"; then
		echo "FAIL: rump_server $s did not start" >&2
		exit 1
	fi
done

# Configure both ends as ifconfig(8) does.
expect 0 "A create" "$A" ifconfig shmif0 create
expect 0 "A linkstr" "$A" ifconfig shmif0 linkstr "$dir/bus"
expect 0 "A inet" "$A" ifconfig shmif0 inet 10.3.0.1/24
expect 0 "B create, linkstr, inet in one" "$B" ifconfig shmif0 create linkstr "$dir/bus" inet 10.3.0.2 netmask 255.255.255.0
expect 1 "create twice" "$A" ifconfig shmif0 create
has "$dir/err" "shmif0: File exists" "create twice names the error"
expect 1 "no such interface" "$A" ifconfig nosuch0 up
has "$dir/err" "nosuch0: No such device or address" "ENXIO named"
expect 2 "bad address" "$A" ifconfig shmif0 inet 10.3.0.300/24

expect 0 "A ifconfig shmif0" "$A" ifconfig shmif0
has "$dir/out" "^shmif0: flags=0x[0-9a-f]+<UP,BROADCAST,RUNNING" "up by its address"
has "$dir/out" "linkstr: $dir/bus" "linkstr shown"
has "$dir/out" "inet 10\\.3\\.0\\.1/24 broadcast 10\\.3\\.0\\.255" "the address shown"
expect 0 "B ifconfig -a" "$B" ifconfig -a
has "$dir/out" "^lo0: flags=0x[0-9a-f]+<UP,LOOPBACK,RUNNING" "lo0 listed"
has "$dir/out" "inet 127\\.0\\.0\\.1/8" "lo0's address"
has "$dir/out" "inet 10\\.3\\.0\\.2/24" "B's address"
bmac=$(sed -n 's/^[[:space:]]*address: \([0-9a-f:]*\)$/\1/p' "$dir/out")
[ -n "$bmac" ] && ok || bad "B's link address in ifconfig -a: $(cat "$dir/out")"

# Ping across the bus, both ways.
expect 0 "A pings B" "$A" ping -c 3 -i 0.3 10.3.0.2
has "$dir/out" "^PING 10\\.3\\.0\\.2" "ping's header"
has "$dir/out" "bytes from 10\\.3\\.0\\.2: icmp_seq=[0-2] ttl=64" "a reply line"
has "$dir/out" "3 packets transmitted, [1-3] packets received" "the statistics"
expect 0 "B pings A" "$B" ping -c 2 -i 0.3 10.3.0.1
has "$dir/out" "bytes from 10\\.3\\.0\\.1" "B heard A"
expect 2 "ping nobody" "$A" ping -c 2 -i 0.2 10.3.0.99
has "$dir/out" "2 packets transmitted, 0 packets received, 100\\.0% packet loss" "no reply"

# ARP: A learned B's Ethernet address, the one B's ifconfig shows.
expect 0 "A arp -a" "$A" arp -a
has "$dir/out" "^\\? \\(10\\.3\\.0\\.2\\) at $bmac on shmif0$" "B in A's ARP cache"

# Routes: a network through B, seen by get and show, then deleted.
expect 0 "route add" "$A" route add -net 192.168.7.0/24 10.3.0.2
has "$dir/out" "add net 192\\.168\\.7\\.0/24: gateway 10\\.3\\.0\\.2" "route add's answer"
expect 0 "route get" "$A" route get 192.168.7.9
has "$dir/out" "destination: 192\\.168\\.7\\.0$" "get: destination"
has "$dir/out" "mask: 255\\.255\\.255\\.0$" "get: mask"
has "$dir/out" "gateway: 10\\.3\\.0\\.2$" "get: gateway"
has "$dir/out" "interface: shmif0$" "get: interface"
has "$dir/out" "flags: UGS$" "get: flags"
expect 0 "route get connected" "$A" route get 10.3.0.77
has "$dir/out" "gateway: link#2$" "a connected route's gateway is the link"
expect 0 "route show" "$A" route show
has "$dir/out" "^192\\.168\\.7\\.0/24 +10\\.3\\.0\\.2 +UGS +1500 shmif0$" "show: the new route"
has "$dir/out" "^10\\.3\\.0\\.0/24 +link#2 +UC +1500 shmif0$" "show: the connected route"
has "$dir/out" "^127\\.0\\.0\\.0/8 +link#1 +UC" "show: lo0's route"
expect 1 "route add twice" "$A" route add -net 192.168.7.0/24 10.3.0.2
has "$dir/err" "File exists" "EEXIST"
expect 1 "unreachable gateway" "$A" route add -net 172.20.0.0/16 10.9.9.9
has "$dir/err" "Network is unreachable" "ENETUNREACH"
expect 0 "route change" "$A" route change -net 192.168.7.0/24 10.3.0.1
expect 0 "route get after change" "$A" route get 192.168.7.9
has "$dir/out" "gateway: 10\\.3\\.0\\.1$" "changed gateway"
expect 0 "route delete" "$A" route delete 192.168.7.0/24
expect 1 "route get deleted" "$A" route get 192.168.7.9
has "$dir/err" "No such process" "ESRCH after delete"
expect 0 "route show after delete" "$A" route show
hasnot "$dir/out" "^192\\.168\\.7" "the route is gone"

# netstat: a listener on A's address, a connection to it with 5 bytes unread, held open by
# python3 until the fifo is written; it says "ready" once the bytes have arrived.
mkfifo "$dir/hold"
RUMP_SERVER=$A LD_PRELOAD=$hijack RUMPHIJACK=socket=all python3 -c '
import select, socket, sys
l = socket.socket(); l.bind(("10.3.0.1", 7000)); l.listen(4)
c = socket.create_connection(("10.3.0.1", 7000)); a, _ = l.accept()
c.sendall(b"12345")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.3.0.1", 7001))
p1, p2 = socket.socketpair(); p1.sendall(b"abc")
select.select([a], [], [])
print("ready", flush=True)
open(sys.argv[1]).read()
' "$dir/hold" >"$dir/py" 2>&1 &
py=$!
n=0
while ! grep -qs ready "$dir/py" && kill -0 $py 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
if grep -qs ready "$dir/py"; then ok; else bad "python3 under the hijack made no connection: $(cat "$dir/py")"; fi
expect 0 "A netstat" "$A" netstat
has "$dir/out" "^Proto +Recv-Q +Send-Q +Local Address +Foreign Address +State$" "netstat's header"
has "$dir/out" "^tcp +0 +0 +10\\.3\\.0\\.1\\.7000 +\\*\\.\\* +LISTEN$" "the listener"
has "$dir/out" "^tcp +5 +0 +10\\.3\\.0\\.1\\.7000 +10\\.3\\.0\\.1\\.[0-9]+ +ESTABLISHED$" "the accepted side, 5 bytes unread"
# The sender's 5 bytes may still wait for the receiver's delayed ACK: Send-Q is 5 or 0.
has "$dir/out" "^tcp +0 +[05] +10\\.3\\.0\\.1\\.[0-9]+ +10\\.3\\.0\\.1\\.7000 +ESTABLISHED$" "the connecting side"
has "$dir/out" "^udp +0 +0 +10\\.3\\.0\\.1\\.7001 +\\*\\.\\*$" "the bound UDP socket"
has "$dir/out" "^Active UNIX domain sockets$" "the local sockets' header"
has "$dir/out" "^[0-9a-f]+ +stream +3 +0 +[0-9a-f]+ *$" "the socket pair's reading end, 3 bytes unread, connected"
expect 0 "A netstat -u" "$A" netstat -u
hasnot "$dir/out" "^tcp " "-u lists no TCP"
has "$dir/out" "^udp .*7001" "-u lists UDP"
hasnot "$dir/out" "UNIX domain" "-u lists no local sockets"
expect 0 "A netstat -x" "$A" netstat -x
has "$dir/out" "^[0-9a-f]+ +stream +0 +3 +[0-9a-f]+ *$" "-x: the writing end, 3 bytes not yet read by its peer"
hasnot "$dir/out" "^udp " "-x lists no UDP"
echo >"$dir/hold"
wait $py
expect 2 "netstat with a bad argument" "$A" netstat -q

# Down: pings go nowhere; destroy: the interface is gone.
expect 0 "B down" "$B" ifconfig shmif0 down
expect 2 "ping a downed peer" "$A" ping -c 1 -i 0.3 10.3.0.2
expect 0 "B destroy" "$B" ifconfig shmif0 destroy
expect 1 "B shmif0 after destroy" "$B" ifconfig shmif0
has "$dir/err" "shmif0: No such device or address" "destroyed"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
