#!/bin/sh
# rumpctl_test.sh RUMP_SERVER_BIN RUMPCTL_BIN LIBRUMPHIJACK
#
# rumpctl against rump_server with an ext2 image (made by mke2fs, checked by e2fsck -fn and
# debugfs after the kernel halted), a FAT image (mkfs.fat; fsck.fat -n and mtools after) and an
# ISO image (xorriso, read-only): mkdir, mount (ro and rw),
# stat, df (of a path and of every mount), ps with two more clients connected, sysctl read and write, dmesg, umount, halt; errors name the object and the errno;
# --help; an unreachable server.  Prints "N passed, N failed" like the C tests.
set -u
server=$1
ctl=$2
hijack=$3
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

for tool in mke2fs e2fsck debugfs mkfs.fat fsck.fat mdir xorriso; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "FAIL: $tool is missing (tools/setup-debian.sh installs it)" >&2
		exit 1
	fi
done

dir=$(mktemp -d /tmp/rumpctl.XXXXXX)
trap 'rm -rf "$dir"' EXIT
truncate -s 8M "$dir/e2.img"
mke2fs -q -t ext2 -F "$dir/e2.img" || exit 1
truncate -s 8M "$dir/fat.img"
mkfs.fat -n RUMPCTL "$dir/fat.img" >/dev/null || exit 1
mkdir "$dir/isotree"
echo "hello from the iso" >"$dir/isotree/hello.txt"
xorriso -as mkisofs -R -J -o "$dir/cd.iso" "$dir/isotree" >/dev/null 2>&1 || exit 1
export RUMP_SERVER="unix://$dir/ctrl"

# expect STATUS DESCRIPTION COMMAND...: runs it, output in $dir/out and $dir/err
expect() {
	want=$1; what=$2; shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "$what: expected exit $want, got $got: $(cat "$dir/err")"
	fi
}
# has FILE TEXT DESCRIPTION
has() {
	if grep -q -- "$2" "$1"; then ok; else bad "$3: expected \"$2\" in: $(cat "$1")"; fi
}

# No server yet: exit 2 and the reason.
expect 2 "no server" "$ctl" stat /
has "$dir/err" "cannot reach the rump kernel at unix://$dir/ctrl" "no server message"
expect 0 "--help" "$ctl" --help
has "$dir/out" "SYNOPSIS" "--help is the manual"
has "$dir/out" "RUMP_SERVER" "--help names RUMP_SERVER"
expect 2 "no command" "$ctl"
expect 2 "unknown command" "$ctl" frobnicate

# The server detaches once it listens (no -s).
if ! "$server" -d key=/dev/e2,hostpath="$dir/e2.img",size=host \
    -d key=/dev/fat,hostpath="$dir/fat.img",size=host \
    -d key=/dev/cd,hostpath="$dir/cd.iso",size=host "unix://$dir/ctrl"; then
	echo "FAIL: rump_server did not start" >&2
	exit 1
fi

expect 0 "mkdir" "$ctl" mkdir /e2 /fat /t /cd
expect 1 "mkdir of an existing directory" "$ctl" mkdir /e2
has "$dir/err" "rumpctl mkdir: /e2: File exists" "mkdir error names the path and errno"
expect 0 "mount ext2fs" "$ctl" mount -t ext2fs /dev/e2 /e2
expect 0 "mount msdos" "$ctl" mount -t msdos /dev/fat /fat
expect 0 "mount cd9660 (read-only)" "$ctl" mount -t cd9660 /dev/cd /cd
expect 0 "mount tmpfs" "$ctl" mount -t tmpfs -o size=1048576 tmpfs /t
expect 1 "mount of a missing device" "$ctl" mount -t ext2fs /dev/nope /e2
has "$dir/err" "rumpctl mount: /dev/nope on /e2: No such file or directory" "mount error names both ends"
expect 2 "mount of an unknown type" "$ctl" mount -t zfs /dev/e2 /e2
has "$dir/err" "unknown file system type zfs" "unknown type message"

expect 0 "df ext2" "$ctl" df /e2
has "$dir/out" "/dev/e2 *ext2fs *8191" "df shows the ext2 device, type and size"
expect 0 "df fat" "$ctl" df /fat
has "$dir/out" "msdos" "df shows msdos"
expect 0 "df tmpfs" "$ctl" df /t
has "$dir/out" "tmpfs *1024 " "df shows the tmpfs size limit"
# Without a path: every mount (getvfsstat), the root first.
expect 0 "df of all mounts" "$ctl" df
has "$dir/out" "/dev/e2 *ext2fs *8191 .* /e2$" "df lists the ext2 mount"
has "$dir/out" "msdos .* /fat$" "df lists the FAT mount"
has "$dir/out" "cd9660 .* /cd$" "df lists the iso mount"
has "$dir/out" "tmpfs *1024 .* /t$" "df lists the tmpfs mount"
if [ "$(sed -n 2p "$dir/out" | awk '{print $NF}')" = "/" ]; then ok; else
	bad "df: the root mount first, got: $(cat "$dir/out")"; fi
if [ "$(wc -l <"$dir/out")" -eq 6 ]; then ok; else bad "df: a heading and 5 mounts, got: $(cat "$dir/out")"; fi
expect 0 "stat" "$ctl" stat /e2 /dev/e2
has "$dir/out" "File: /e2" "stat names the path"
has "$dir/out" "directory" "stat: /e2 is a directory"
has "$dir/out" "Access: (0755/drwxr-xr-x)" "stat mode"
has "$dir/out" "block special file" "stat: /dev/e2 is a block device"
expect 1 "stat of a missing path" "$ctl" stat /e2/nothing
has "$dir/err" "rumpctl stat: /e2/nothing: No such file or directory" "stat error"
expect 0 "stat of a file on the iso" "$ctl" stat /cd/hello.txt
has "$dir/out" "Size: 19" "the iso's file has its size"
has "$dir/out" "regular file" "the iso's file is a regular file"
# Read-only: the kernel refuses to make a directory there.
expect 1 "mkdir on a read-only mount" "$ctl" mkdir /cd/d
has "$dir/err" "rumpctl mkdir: /cd/d: Read-only file system" "EROFS from the ro mount"
expect 0 "mkdir on fat" "$ctl" mkdir /fat/FROMCTL
expect 0 "mkdir on ext2" "$ctl" mkdir -m 0700 /e2/made-by-rumpctl
expect 0 "stat of it" "$ctl" stat /e2/made-by-rumpctl
has "$dir/out" "(0700/drwx------)" "mkdir -m mode"

expect 0 "sysctl read" "$ctl" sysctl kern.ostype hw.machine
has "$dir/out" "kern.ostype = NetBSD" "sysctl kern.ostype"
has "$dir/out" "hw.machine = " "sysctl hw.machine"
expect 0 "sysctl write" "$ctl" sysctl kern.hostname=rumpctl-test
has "$dir/out" "kern.hostname: .* -> rumpctl-test" "sysctl write prints old -> new"
expect 0 "sysctl reads the write" "$ctl" sysctl -w kern.hostname
has "$dir/out" "kern.hostname = rumpctl-test" "sysctl reads back"
expect 0 "sysctl of a directory" "$ctl" sysctl kern
has "$dir/out" "kern.hostname = rumpctl-test" "sysctl kern lists its leaves"
expect 0 "sysctl -a" "$ctl" sysctl -a
has "$dir/out" "hw.pagesize = " "sysctl -a lists hw"
expect 1 "sysctl of a missing name" "$ctl" sysctl kern.nope
has "$dir/err" "rumpctl sysctl: kern.nope: No such file or directory" "sysctl error"
expect 2 "sysctl of a bad integer" "$ctl" sysctl kern.msgbufsize=lots
# ps: the server's own processes, rumpctl itself, and two programs connected through the hijack
# library (each client its own process, named after its program) until they are killed.
expect 0 "ps" "$ctl" ps
has "$dir/out" "PID *PPID *UID *NLWP *FDS *STAT *COMMAND" "ps heading"
has "$dir/out" "^ *1 *0 *0 .* init$" "ps lists pid 1"
has "$dir/out" " rumpctl$" "ps lists rumpctl itself"
# The second holds a file of the kernel open: one descriptor there.
LD_PRELOAD="$hijack" RUMPHIJACK=path=/rump sh -c 'echo hi >/rump/t/psfile'
LD_PRELOAD="$hijack" RUMPHIJACK=path=/rump sleep 120 </dev/null >/dev/null 2>&1 &
c1=$!
LD_PRELOAD="$hijack" RUMPHIJACK=path=/rump tail -f /rump/t/psfile </dev/null >/dev/null 2>&1 &
c2=$!
# Both connect at start-up: wait (bounded) until the kernel lists them, tail with its file open.
i=0
while [ $i -lt 500 ]; do
	"$ctl" ps >"$dir/out" 2>"$dir/err"
	if grep -q " sleep$" "$dir/out" && grep -q " 1 *A *tail$" "$dir/out"; then break; fi
	sleep 0.02; i=$((i + 1))
done
has "$dir/out" "^ *[0-9][0-9]* *[0-9][0-9]* *0 *[0-9][0-9]* *0 *A *sleep$" "ps lists the first client (sleep, uid 0, no descriptors, active)"
has "$dir/out" "^ *[0-9][0-9]* *[0-9][0-9]* *0 *[0-9][0-9]* *1 *A *tail$" "ps lists the second client (tail, one descriptor)"
if [ "$(awk '$NF == "sleep" || $NF == "tail" {print $1}' "$dir/out" | sort -u | wc -l)" -eq 2 ]; then ok; else
	bad "ps: the two clients have two pids, got: $(cat "$dir/out")"; fi
kill $c1 $c2
wait $c1 $c2 2>/dev/null
# Gone from the list once their connections closed (the server releases their processes).
i=0
while [ $i -lt 500 ]; do
	"$ctl" ps >"$dir/out" 2>"$dir/err"
	if ! grep -q " sleep$\| tail$" "$dir/out"; then break; fi
	sleep 0.02; i=$((i + 1))
done
if grep -q " sleep$\| tail$" "$dir/out"; then bad "ps: clients still listed after they died: $(cat "$dir/out")"; else ok; fi

expect 0 "dmesg" "$ctl" dmesg
has "$dir/out" "mainbus0" "dmesg shows the boot messages"

expect 1 "umount of a non-mount" "$ctl" umount /e2/made-by-rumpctl
has "$dir/err" "rumpctl umount: /e2/made-by-rumpctl: Invalid argument" "umount error"
expect 0 "umount ext2" "$ctl" umount /e2
expect 0 "umount fat" "$ctl" umount /fat
expect 0 "umount cd9660" "$ctl" umount /cd
expect 0 "halt" "$ctl" halt
# The server is gone once the kernel halted: the socket too.
i=0
while [ -S "$dir/ctrl" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
if [ -S "$dir/ctrl" ]; then bad "the socket is still there after halt"; else ok; fi
expect 2 "after halt" "$ctl" stat /

if e2fsck -fn "$dir/e2.img" >"$dir/out" 2>&1; then ok; else bad "e2fsck -fn after halt: $(cat "$dir/out")"; fi
if fsck.fat -n "$dir/fat.img" >"$dir/out" 2>&1; then ok; else bad "fsck.fat -n after halt: $(cat "$dir/out")"; fi
# The directories rumpctl made are in the images, as debugfs and mtools see them.
if debugfs -R "ls -l /" "$dir/e2.img" 2>/dev/null | grep -q made-by-rumpctl; then ok; else
	bad "debugfs: made-by-rumpctl is not in the ext2 image"; fi
if MTOOLS_SKIP_CHECK=1 mdir -i "$dir/fat.img" :: 2>/dev/null | grep -q FROMCTL; then ok; else
	bad "mdir: FROMCTL is not in the FAT image"; fi

# Over TCP, IPv4 and IPv6 literals: a free port is found by trying a few.
for addr in "127.0.0.1" "[::1]"; do
	started=""
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + ($$ * 7 + try * 131) % 40000))
		if "$server" "tcp://$addr:$port" 2>"$dir/err"; then started=$port; break; fi
	done
	if [ -z "$started" ]; then bad "rump_server on tcp://$addr: $(cat "$dir/err")"; continue; fi
	RUMP_SERVER="tcp://$addr:$started" expect 0 "sysctl over tcp://$addr" "$ctl" sysctl kern.ostype
	has "$dir/out" "kern.ostype = NetBSD" "sysctl over tcp://$addr"
	RUMP_SERVER="tcp://$addr:$started" expect 0 "halt over tcp://$addr" "$ctl" halt
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
