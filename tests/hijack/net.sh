#!/bin/sh
# Unmodified network programs under LD_PRELOAD=librumphijack.so with their sockets in a rump_server
# (RUMPHIJACK's default, socket=all:nolocal), against the host's own programs as peers:
#   curl and wget fetch a file from the host's python3 -m http.server (SHA-256 compared);
#   nc connects to the host's nc -l, and listens for the host's nc (data compared both ways);
#   nc -u receives a datagram from the host's socat; python3's UDP client talks to socat's echo.
#
#   net.sh sockin   the server's AF_INET sockets are the host's (RUMP_SOCKIN=1): the kernel's
#                   socket layer over the host's TCP/IP, no privileges needed
#
# That the programs' sockets really are the kernel's is checked, not assumed: a listener made by a
# hijacked nc belongs to the rump_server process in ss's listing, and curl fails against a server
# without RUMP_SOCKIN (whose kernel has no route to the host's 127.0.0.1).
#
# Then t_hijack_sockets (HIJACK_SOCKETS) checks the calls one by one, with socket=all and with the
# default RUMPHIJACK.
#
# Environment: HIJACK_LIB (librumphijack.so), HIJACK_SERVER (rump_server), HIJACK_SOCKETS.
# Prints "N passed, N failed"; exits 1 on any failure.
set -u
mode=${1:-sockin}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

for tool in curl wget nc socat python3 ss sha256sum; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is missing (tools/setup-debian.sh installs it)" >&2; exit 1; }
done
for v in HIJACK_LIB HIJACK_SERVER HIJACK_SOCKETS; do
	eval "f=\${$v:-}"
	[ -f "$f" ] || { echo "FAIL: $v does not name the file" >&2; exit 1; }
done
[ "$mode" = sockin ] || { echo "FAIL: unknown mode $mode" >&2; exit 1; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy ALL_PROXY all_proxy RUMPHIJACK

work=$(mktemp -d "${TMPDIR:-/tmp}/hijacknet.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
python=$(python3 -c 'import sys; print(sys.executable)')

# A rump_server in the foreground (-s), ready once its socket is there. $1: the socket; the rest: env.
start_server() {
	sock=$1
	shift
	env "$@" "$HIJACK_SERVER" -s "unix://$sock" 2>"$sock.err" &
	srv=$!
	pids="$pids $srv"
	n=0
	while [ ! -S "$sock" ] && kill -0 $srv 2>/dev/null && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
	[ -S "$sock" ] || { echo "FAIL: rump_server did not start: $(cat "$sock.err")" >&2; exit 1; }
}
start_server "$work/sockin" RUMP_SOCKIN=1
srvpid=$srv
run() { RUMP_SERVER=unix://$work/sockin LD_PRELOAD=$HIJACK_LIB "$@"; }

# A free TCP or UDP port on 127.0.0.1 (the host's; another program may take it first, rarely).
freeport() {
	"$python" -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}
# wait_listen tcp|udp PORT [PID]: until ss lists a socket bound to the port (owned by PID if given);
# after 60 s it has failed (a program that never listens, not a slow one).
wait_listen() {
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -le $end ]; do
		if [ "$1" = tcp ]; then l=$(ss -Hltnp "sport = :$2" 2>/dev/null); else l=$(ss -Hlunp "sport = :$2" 2>/dev/null); fi
		if [ -n "$l" ] && { [ -z "${3:-}" ] || echo "$l" | grep -q "pid=$3,"; }; then return 0; fi
		sleep 0.05
	done
	return 1
}

# The files served, and the host's web server (ready once it says where it serves).
mkdir "$work/www"
head -c 3000000 /dev/urandom >"$work/www/big.bin"
echo "a small file" >"$work/www/small.txt"
want=$(sha256sum <"$work/www/big.bin" | cut -d' ' -f1)
"$python" -u -m http.server --bind 127.0.0.1 --directory "$work/www" 0 >"$work/http.log" 2>&1 &
pids="$pids $!"
n=0
while ! grep -q 'port [0-9]' "$work/http.log" && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
hport=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/http.log" | head -n 1)
[ -n "$hport" ] || { echo "FAIL: http.server did not start: $(cat "$work/http.log")" >&2; exit 1; }
url=http://127.0.0.1:$hport

# --- curl and wget ---
if run curl -sS -o "$work/curl.out" "$url/big.bin" 2>"$work/curl.err"; then
	got=$(sha256sum <"$work/curl.out" | cut -d' ' -f1)
	[ "$got" = "$want" ] && ok || bad "curl: SHA-256 expected $want, got $got"
else
	bad "curl: expected success, got status $? ($(cat "$work/curl.err"))"
fi
got=$(run curl -sS "$url/small.txt" 2>&1)
[ "$got" = "a small file" ] && ok || bad "curl to stdout: expected 'a small file', got '$got'"
# A name: resolved by the host's files (name resolution is not routed), then ::1 and 127.0.0.1
# tried through the kernel (the server listens on 127.0.0.1 only).
got=$(run curl -sS "http://localhost:$hport/small.txt" 2>&1)
[ "$got" = "a small file" ] && ok || bad "curl http://localhost: expected 'a small file', got '$got'"
got=$(run curl -sS -o /dev/null -w '%{http_code} %{remote_ip}' "$url/nonexistent" 2>&1)
[ "$got" = "404 127.0.0.1" ] && ok || bad "curl of a missing file: expected '404 127.0.0.1', got '$got'"
if run wget -q -O "$work/wget.out" "$url/big.bin" 2>"$work/wget.err"; then
	got=$(sha256sum <"$work/wget.out" | cut -d' ' -f1)
	[ "$got" = "$want" ] && ok || bad "wget: SHA-256 expected $want, got $got"
else
	bad "wget: expected success, got status $? ($(cat "$work/wget.err"))"
fi

# The negative control: against a kernel without sockin, curl's socket is the kernel's and fails.
start_server "$work/plain"
if RUMP_SERVER=unix://$work/plain LD_PRELOAD=$HIJACK_LIB curl -sS -o /dev/null "$url/small.txt" 2>"$work/plain.err"; then
	bad "curl against a kernel without sockin: expected failure (its sockets are the kernel's), got success"
else
	ok
fi
kill $srv 2>/dev/null

# --- nc as a client: the host's nc -l receives ---
port=$(freeport tcp)
nc -l -N 127.0.0.1 "$port" </dev/null >"$work/nc1.out" 2>"$work/nc1.err" &
ncpid=$!
pids="$pids $ncpid"
if wait_listen tcp "$port"; then
	if run nc -N 127.0.0.1 "$port" <"$work/www/big.bin" 2>"$work/nc1c.err"; then ok; else
		bad "hijacked nc to the host's nc -l: status $? ($(cat "$work/nc1c.err"))"; fi
	wait $ncpid
	got=$(sha256sum <"$work/nc1.out" | cut -d' ' -f1)
	[ "$got" = "$want" ] && ok || bad "hijacked nc -> host nc -l: SHA-256 expected $want, got $got"
else
	bad "the host's nc -l did not listen on $port"
fi

# --- nc as a listener in the kernel: the host's nc connects ---
port=$(freeport tcp)
run nc -l -N 127.0.0.1 "$port" </dev/null >"$work/nc2.out" 2>"$work/nc2.err" &
ncpid=$!
pids="$pids $ncpid"
# Its listening socket is the server's (sockin makes it there), which shows the routing.
if wait_listen tcp "$port" "$srvpid"; then
	ok
	if nc -N 127.0.0.1 "$port" <"$work/www/big.bin"; then ok; else bad "host nc to the hijacked nc -l: status $?"; fi
	wait $ncpid
	st=$?
	[ $st -eq 0 ] && ok || bad "hijacked nc -l: exit status expected 0, got $st ($(cat "$work/nc2.err"))"
	got=$(sha256sum <"$work/nc2.out" | cut -d' ' -f1)
	[ "$got" = "$want" ] && ok || bad "host nc -> hijacked nc -l: SHA-256 expected $want, got $got"
else
	bad "hijacked nc -l: no listener on $port owned by rump_server (pid $srvpid): $(ss -Hltnp "sport = :$port"; cat "$work/nc2.err")"
fi

# --- UDP: nc -u -l in the kernel takes one datagram from the host's socat ---
port=$(freeport udp)
run nc -u -l -W 1 127.0.0.1 "$port" </dev/null >"$work/udp1.out" 2>"$work/udp1.err" &
ncpid=$!
pids="$pids $ncpid"
if wait_listen udp "$port" "$srvpid"; then
	printf 'datagram one\n' | socat -u - "UDP4-SENDTO:127.0.0.1:$port"
	wait $ncpid
	got=$(cat "$work/udp1.out")
	[ "$got" = "datagram one" ] && ok || bad "hijacked nc -u -l: expected 'datagram one', got '$got' ($(cat "$work/udp1.err"))"
else
	bad "hijacked nc -u -l: no UDP socket on $port owned by rump_server: $(cat "$work/udp1.err")"
fi

# --- UDP both ways: python3's client in the kernel, socat's echo (upper case) on the host ---
port=$(freeport udp)
socat "UDP4-RECVFROM:$port,bind=127.0.0.1" SYSTEM:"tr a-z A-Z" 2>"$work/echo.err" &
echopid=$!
pids="$pids $echopid"
if wait_listen udp "$port" "$echopid"; then
	got=$(run "$python" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if s.fileno() < 128:
    sys.exit("a host socket (descriptor %d), not a kernel one" % s.fileno())
s.sendto(b"hello udp", ("127.0.0.1", int(sys.argv[1])))
data, addr = s.recvfrom(100)
print(data.decode().strip(), addr[0], addr[1] == int(sys.argv[1]), s.fileno() >= 128)' "$port" 2>&1)
	[ "$got" = "HELLO UDP 127.0.0.1 True True" ] && ok || bad "UDP exchange: expected 'HELLO UDP 127.0.0.1 True True', got '$got'"
else
	bad "socat's UDP echo did not start on $port: $(cat "$work/echo.err")"
fi

# --- the calls one by one ---
if RUMPHIJACK=path=/rump,socket=all run "$HIJACK_SOCKETS" all >"$work/calls.out" 2>&1; then ok; else
	bad "t_hijack_sockets all: $(cat "$work/calls.out")"; fi
if run "$HIJACK_SOCKETS" nolocal >"$work/calls.out" 2>&1; then ok; else
	bad "t_hijack_sockets nolocal (the default RUMPHIJACK): $(cat "$work/calls.out")"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
