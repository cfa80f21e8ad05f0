#!/bin/sh
# Unmodified programs under LD_PRELOAD=librumphijack.so over the rump kernel's own TCP/IP: the
# kernel (HIJACK_NETSERVER, tests/hijack/netserver.c) has virt0 at 10.77.0.2/24 over a TAP in a
# network namespace this test makes, where the host's end is 10.77.0.1 and the host's peers run.
# Needs root (ip netns, the TAP). The hijacked programs run outside the namespace, where nothing
# reaches 10.77.0.0/24: an exchange that works went through the kernel's stack.
#
#   UDP: python3's client in the kernel and socat's echo on the host; nc -u -l in the kernel
#        taking a datagram from socat.
#   TCP (TcpProto, merged from branch tcpsock): curl and wget from python3 -m http.server (SHA-256),
#        the host's curl -4 from python3 -m http.server on :: in the kernel (dual-stack, the
#        client logged v4-mapped), a socket on :: with Linux's default IPV6_V6ONLY (the host's
#        bindv6only: 0) taking the host's nc -4, nc to the host's nc -l, the host's nc to nc -l in
#        the kernel, and an asyncio client (epoll) fetching from http.server. Without TCP in the
#        kernel (socket(AF_INET, SOCK_STREAM) says EPROTOTYPE or EPROTONOSUPPORT) these say
#        SKIP, uncounted.
#
# Environment: HIJACK_LIB, HIJACK_NETSERVER. Prints "N passed, N failed"; exits 1 on any failure.
set -u
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "FAIL: this test needs root (ip netns add, a TAP device)" >&2; exit 1; }
for tool in ip curl wget nc socat python3 ss sha256sum; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is missing (tools/setup-debian.sh installs it)" >&2; exit 1; }
done
nsname=hjnet workname=hijacknetk
. "$(dirname "$0")/netns_kernel.sh"

# freeport tcp|udp: a port free in the namespace. wait_listen tcp|udp PORT: until ss there lists it.
freeport() {
	$H "$python" -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])' "$1"
}
wait_listen() {
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -le $end ]; do
		if [ "$1" = tcp ]; then l=$($H ss -Hltn "sport = :$2"); else l=$($H ss -Hlun "sport = :$2"); fi
		[ -n "$l" ] && return 0
		sleep 0.05
	done
	return 1
}

# --- UDP both ways: python3 in the kernel, socat's echo (upper case) on the host ---
port=$(freeport udp)
$H socat "UDP4-RECVFROM:$port,bind=$host" SYSTEM:"tr a-z A-Z" 2>"$work/echo.err" &
pids="$pids $!"
if wait_listen udp "$port"; then
	got=$(run "$python" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if s.fileno() < 128:
    sys.exit("a host socket (descriptor %d), not a kernel one" % s.fileno())
s.sendto(b"hello kernel udp", (sys.argv[1], int(sys.argv[2])))
data, addr = s.recvfrom(100)
print(data.decode().strip(), addr[0], addr[1] == int(sys.argv[2]), s.fileno() >= 128)' $host "$port" 2>&1)
	[ "$got" = "HELLO KERNEL UDP $host True True" ] && ok ||
		bad "UDP through the kernel's stack: expected 'HELLO KERNEL UDP $host True True', got '$got'"
else
	bad "socat's UDP echo did not start in $ns: $(cat "$work/echo.err")"
fi

# --- nc -u -l in the kernel takes a datagram: the host sends until nc has one (and exits) ---
port=$(freeport udp)
run nc -u -l -W 1 $kern "$port" </dev/null >"$work/udp.out" 2>"$work/udp.err" &
ncpid=$!
pids="$pids $ncpid"
end=$(($(date +%s) + 60))
while kill -0 $ncpid 2>/dev/null && [ "$(date +%s)" -le $end ]; do
	printf 'to the kernel\n' | $H socat -u - "UDP4-SENDTO:$kern:$port" 2>/dev/null
	sleep 0.1
done
got=$(cat "$work/udp.out")
[ "$got" = "to the kernel" ] && ok || bad "hijacked nc -u -l on $kern: expected 'to the kernel', got '$got' ($(cat "$work/udp.err"))"

# --- TCP, if the kernel has it ---
tcp=$(run "$python" -c '
import errno, socket
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    print("yes" if s.fileno() >= 128 else "error: a host socket")
except OSError as e:
    print("no" if e.errno in (errno.EPROTONOSUPPORT, errno.EPROTOTYPE) else "error %s" % e)' 2>&1)
if [ "$tcp" = no ]; then
	echo "SKIP: TCP: the kernel has no TCP socket protocol yet (socket(AF_INET, SOCK_STREAM) fails)"
elif [ "$tcp" != yes ]; then
	bad "socket(AF_INET, SOCK_STREAM) in the kernel: $tcp"
else
	mkdir "$work/www"
	head -c 3000000 /dev/urandom >"$work/www/big.bin"
	want=$(sha256sum <"$work/www/big.bin" | cut -d' ' -f1)
	# port_of LOG: http.server's port, once its log says it serves (nothing after 60 s).
	port_of() {
		end=$(($(date +%s) + 60))
		while ! grep -q 'port [0-9]' "$1" && [ "$(date +%s)" -le $end ]; do sleep 0.05; done
		sed -n 's/.* port \([0-9]*\).*/\1/p' "$1" | head -n 1
	}
	$H "$python" -u -m http.server --bind $host --directory "$work/www" 0 >"$work/http.log" 2>&1 &
	pids="$pids $!"
	hport=$(port_of "$work/http.log")
	if [ -z "$hport" ]; then
		bad "http.server did not start in $ns: $(cat "$work/http.log")"
	else
		if run curl -sS -o "$work/curl.out" "http://$host:$hport/big.bin" 2>"$work/curl.err"; then
			got=$(sha256sum <"$work/curl.out" | cut -d' ' -f1)
			[ "$got" = "$want" ] && ok || bad "curl over the kernel's TCP: SHA-256 expected $want, got $got"
		else
			bad "curl over the kernel's TCP: status $? ($(cat "$work/curl.err"))"
		fi
		if run wget -q -O "$work/wget.out" "http://$host:$hport/big.bin" 2>"$work/wget.err"; then
			got=$(sha256sum <"$work/wget.out" | cut -d' ' -f1)
			[ "$got" = "$want" ] && ok || bad "wget over the kernel's TCP: SHA-256 expected $want, got $got"
		else
			bad "wget over the kernel's TCP: status $? ($(cat "$work/wget.err"))"
		fi
		# An asyncio program (its event loop waits in epoll_wait: the library's epoll over a
		# kernel socket and the loop's own host socketpair) fetching the same file.
		got=$(run "$python" -c '
import asyncio, hashlib, selectors, sys
assert selectors.DefaultSelector is selectors.EpollSelector, "asyncio would not use epoll"
async def fetch(host, port):
    r, w = await asyncio.open_connection(host, port)
    w.write(b"GET /big.bin HTTP/1.0\r\n\r\n")
    data = await r.read()
    w.close()
    return hashlib.sha256(data.split(b"\r\n\r\n", 1)[1]).hexdigest()
print(asyncio.run(fetch(sys.argv[1], int(sys.argv[2]))))' $host $hport 2>"$work/asyncio.err")
		[ "$got" = "$want" ] && ok || bad "asyncio (epoll) over the kernel's TCP: SHA-256 expected $want, got '$got' ($(head -c 600 "$work/asyncio.err"))"
	fi
	# A dual-stack server in the kernel: python3's http.server on :: clears IPV6_V6ONLY (its
	# DualStackServer does), so the host's curl -4 reaches it, and it logs the client v4-mapped.
	run "$python" -u -m http.server --bind :: --directory "$work/www" 0 >"$work/http6.log" 2>&1 &
	pids="$pids $!"
	dport=$(port_of "$work/http6.log")
	if [ -z "$dport" ]; then
		bad "hijacked http.server on :: did not start: $(cat "$work/http6.log")"
	elif $H curl -4 -sS -o "$work/curl6.out" "http://$kern:$dport/big.bin" 2>"$work/curl6.err"; then
		got=$(sha256sum <"$work/curl6.out" | cut -d' ' -f1)
		[ "$got" = "$want" ] && ok || bad "host curl -4 -> hijacked http.server on ::: SHA-256 expected $want, got $got"
		grep -q "^::ffff:$host - .*GET /big.bin" "$work/http6.log" && ok ||
			bad "hijacked http.server on :: should log the IPv4 client as ::ffff:$host; its log: $(cat "$work/http6.log")"
	else
		bad "host curl -4 -> hijacked http.server on :: (port $dport): status $? ($(cat "$work/curl6.err"); server: $(cat "$work/http6.log"))"
	fi
	# Linux's default for IPV6_V6ONLY (the host's net.ipv6.bindv6only, 0 here) on the kernel's
	# sockets: a program that binds :: without touching the option takes the host's nc -4.
	rport=$(freeport tcp)
	run "$python" -u -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(1)
print("v6only", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), "kernel", s.fileno() >= 128)
c, a = s.accept()
c.sendall(b"hi " + a[0].encode() + b"\n")
c.close()' "$rport" >"$work/raw6.log" 2>&1 &
	pids="$pids $!"
	# It prints its line once it listens.
	end=$(($(date +%s) + 60))
	while ! grep -q '^v6only' "$work/raw6.log" && [ "$(date +%s)" -le $end ]; do sleep 0.05; done
	if grep -q '^v6only' "$work/raw6.log"; then
		got=$($H nc -4 -w 10 "$kern" "$rport" </dev/null 2>&1)
		[ "$got" = "hi ::ffff:$host" ] && grep -q '^v6only 0 kernel True$' "$work/raw6.log" && ok ||
			bad "a kernel socket bound to :: with Linux's default IPV6_V6ONLY: the host's nc -4 expected 'hi ::ffff:$host', got '$got'; the server said: $(cat "$work/raw6.log")"
	else
		bad "python3 on :: in the kernel did not listen: $(cat "$work/raw6.log")"
	fi
	# nc in the kernel to the host's nc -l.
	port=$(freeport tcp)
	$H nc -l -N $host "$port" </dev/null >"$work/nc1.out" &
	ncpid=$!
	pids="$pids $ncpid"
	if wait_listen tcp "$port"; then
		if run nc -N $host "$port" <"$work/www/big.bin" 2>"$work/nc1.err"; then ok; else
			bad "hijacked nc to the host's nc -l: $(cat "$work/nc1.err")"
			kill $ncpid
		fi
		wait $ncpid
		got=$(sha256sum <"$work/nc1.out" | cut -d' ' -f1)
		[ "$got" = "$want" ] && ok || bad "kernel nc -> host nc -l: SHA-256 expected $want, got $got"
	else
		bad "the host's nc -l did not listen in $ns"
	fi
	# The host's nc to nc -l in the kernel: it connects once the kernel listens (refused before).
	port=$(freeport tcp)
	run nc -l -N $kern "$port" </dev/null >"$work/nc2.out" 2>"$work/nc2.err" &
	ncpid=$!
	pids="$pids $ncpid"
	end=$(($(date +%s) + 60))
	until $H nc -N $kern "$port" <"$work/www/big.bin" 2>/dev/null; do
		kill -0 $ncpid 2>/dev/null && [ "$(date +%s)" -le $end ] || break
		sleep 0.1
	done
	wait $ncpid
	got=$(sha256sum <"$work/nc2.out" | cut -d' ' -f1)
	[ "$got" = "$want" ] && ok || bad "host nc -> kernel nc -l: SHA-256 expected $want, got $got ($(cat "$work/nc2.err"))"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
