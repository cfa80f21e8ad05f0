#!/bin/sh
# remote_run.sh RUMP_SERVER_BIN [-d spec]... -- PROGRAM [ARGS...]
#
# Starts rump_server in the foreground (-s) on a fresh unix socket, waits until it says it
# serves (-v: after listen(2)), runs PROGRAM with RUMP_SERVER set to it, then stops the server with SIGTERM (it syncs
# and exits) and gives PROGRAM's status.  A server that dies early fails the run.
set -u
server=$1; shift
sargs=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sargs="$sargs $1"; shift; done
[ $# -gt 0 ] && shift
dir=$(mktemp -d /tmp/rumpremote.XXXXXX) || exit 2
sock=$dir/ctrl
# shellcheck disable=SC2086
"$server" -s -v $sargs "unix://$sock" 2>"$dir/log" &
spid=$!
while ! grep -q "serving unix://" "$dir/log"; do
	if ! kill -0 "$spid" 2>/dev/null; then
		echo "remote_run: rump_server exited before serving $sock:" >&2
		cat "$dir/log" >&2
		rm -rf "$dir"
		exit 2
	fi
	sleep 0.01
done
RUMP_SERVER="unix://$sock" "$@"
rc=$?
kill -TERM "$spid" 2>/dev/null
wait "$spid"
src=$?
cat "$dir/log" >&2
rm -rf "$dir"
if [ "$src" -ne 0 ]; then
	echo "remote_run: rump_server exited with status $src after SIGTERM" >&2
	[ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
