#!/bin/sh
# Real programs under LD_PRELOAD=librumphijack.so against ext2 and FAT images made by mke2fs -d
# and mkfs.fat + mcopy, then checked by e2fsck -fn, debugfs, fsck.fat -n and mtype.
#
#   programs.sh server   rump_server (HIJACK_SERVER) serves the image at /mnt (mounted by
#                        rumpctl, HIJACK_RUMPCTL); programs reach it through
#                        librumpclient; shells fork and exec with the connection kept, pipelines
#                        run programs side by side; then t_hijack_calls (HIJACK_CALLS) on a tmpfs
#   programs.sh local    each program boots the kernel in its own process (HIJACK_LOCALCLIENT,
#                        tests/hijack/localclient.c) with the image mounted at /mnt: programs run
#                        one at a time, the image carries the state from one to the next
#
# Environment: HIJACK_LIB (librumphijack.so), and HIJACK_SERVER, HIJACK_RUMPCTL, HIJACK_CALLS or
# HIJACK_LOCALCLIENT, RUMP_LIBDIR.
# Prints "N passed, N failed"; exits 1 on any failure.
set -u
mode=${1:-local}
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	what=$1
	shift
	if "$@" >"$work/out" 2>"$work/err"; then ok; else
		bad "$what: expected success, got status $? (stderr: $(head -c 400 "$work/err"))"; fi
}
# check_eq DESCRIPTION EXPECTED COMMAND...: the command's output must be EXPECTED.
check_eq() {
	what=$1
	want=$2
	shift 2
	got=$("$@" 2>"$work/err")
	st=$?
	if [ $st -eq 0 ] && [ "$got" = "$want" ]; then ok; else
		bad "$what: expected '$want' (status 0), got '$got' (status $st; stderr: $(head -c 400 "$work/err"))"; fi
}

for tool in mke2fs e2fsck debugfs mkfs.fat fsck.fat mcopy mtype tar diff find du stat; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is missing (tools/setup-debian.sh installs it)" >&2; exit 1; }
done
[ -f "${HIJACK_LIB:-}" ] || { echo "FAIL: HIJACK_LIB does not name librumphijack.so" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hijack.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TZ=UTC LC_ALL=C

# The source tree: text, a binary file larger than the buffer cache's blocks, an empty file, a name
# with spaces, nested directories, a symbolic link (not on FAT).
mktree() {
	mkdir -p "$1/d1/d2/d3" "$1/empty dir"
	echo hello >"$1/a.txt"
	printf '' >"$1/empty"
	echo "spaces in the name" >"$1/with space.txt"
	head -c 300000 /dev/urandom >"$1/d1/big.bin"
	seq 1 2000 >"$1/d1/d2/numbers"
	echo deep >"$1/d1/d2/d3/deep.txt"
}
mktree "$work/src"
ln -s a.txt "$work/src/link"
mktree "$work/fsrc"

# run PROGRAM...: the program under the hijack, with the kernel it should use.
if [ "$mode" = local ]; then
	[ -f "${HIJACK_LOCALCLIENT:-}" ] || { echo "FAIL: HIJACK_LOCALCLIENT is not set" >&2; exit 1; }
	# HJ: the same as a command prefix inside sh -c, for pipelines with one hijacked program.
	sethj() { HJ="env RUMPHIJACK_CLIENTLIB='$HIJACK_LOCALCLIENT' RUMPHIJACK_LOCAL='$fstype:$img' LD_LIBRARY_PATH='${RUMP_LIBDIR:-}' LD_PRELOAD='$HIJACK_LIB'"; }
	run() { RUMPHIJACK_CLIENTLIB=$HIJACK_LOCALCLIENT RUMPHIJACK_LOCAL=$fstype:$img \
		LD_LIBRARY_PATH=${RUMP_LIBDIR:-} LD_PRELOAD=$HIJACK_LIB "$@"; }
	R=/rump/mnt
	shell=bash
	start_fs() { sethj; }
	stop_fs() { :; }
elif [ "$mode" = server ]; then
	for v in HIJACK_SERVER HIJACK_RUMPCTL HIJACK_CALLS; do
		eval "f=\${$v:-}"
		[ -x "$f" ] || { echo "FAIL: $v does not name the program" >&2; exit 1; }
	done
	sethj() { HJ="env RUMP_SERVER='unix://$sock' LD_PRELOAD='$HIJACK_LIB'"; }
	run() { RUMP_SERVER=unix://$sock LD_PRELOAD=$HIJACK_LIB "$@"; }
	R=/rump/mnt
	shell=sh
	# start_fs: a server in the foreground (-s) whose pid we wait for, ready once its socket is there.
	start_fs() {
		sock=$work/sock.$fstype
		if [ "$fstype" = tmpfs ]; then disk=; else disk="-d key=/dev/img,hostpath=$img,size=host"; fi
		"$HIJACK_SERVER" -s $disk "unix://$sock" 2>"$work/server.err" &
		srvpid=$!
		n=0
		while [ ! -S "$sock" ] && kill -0 $srvpid 2>/dev/null && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
		[ -S "$sock" ] || { echo "FAIL: rump_server did not start: $(cat "$work/server.err")" >&2; exit 1; }
		if [ "$fstype" = tmpfs ]; then opts="-o mode=777"; else opts=; fi
		RUMP_SERVER=unix://$sock "$HIJACK_RUMPCTL" mkdir /mnt &&
		RUMP_SERVER=unix://$sock "$HIJACK_RUMPCTL" mount -t $fstype $opts /dev/img /mnt ||
			{ echo "FAIL: rumpctl mount in the server" >&2; exit 1; }
		sethj
	}
	# stop_fs: halt (sync and unmount) and wait for the server to be gone.
	stop_fs() {
		check "rumpctl halt" env RUMP_SERVER=unix://$sock "$HIJACK_RUMPCTL" halt
		wait $srvpid
		st=$?
		[ $st -eq 0 ] && ok || bad "rump_server exit status: expected 0, got $st ($(cat "$work/server.err"))"
	}
else
	echo "FAIL: unknown mode $mode" >&2
	exit 1
fi

# --- ext2 ---------------------------------------------------------------------------------------
fstype=ext2fs
img=$work/ext2.img
mke2fs -q -t ext2 -b 1024 -d "$work/src" "$img" 8M >/dev/null || { echo "FAIL: mke2fs -d" >&2; exit 1; }
start_fs

check_eq "ls /rump/mnt" "a.txt
d1
empty
empty dir
link
lost+found
with space.txt" run ls $R
check "ls -l" run ls -l $R
grep -q '^lrwxrwxrwx .* link -> a.txt$' "$work/out" && ok || bad "ls -l: expected 'link -> a.txt' in: $(cat "$work/out")"
check_eq "cat" "hello" run cat $R/a.txt
check_eq "cat through a symbolic link" "hello" run cat $R/link
check_eq "stat" "6 regular file 644" run stat -c '%s %F %a' $R/a.txt
check_eq "stat -L on the link" "regular file" run stat -L -c '%F' $R/link
check_eq "readlink" "a.txt" run readlink $R/link
check_eq "readlink -f (realpath)" "$R/a.txt" run readlink -f $R/d1/../link
check_eq "realpath of a directory" "$R/d1/d2" run realpath $R/d1/./d2/d3/..

# cp -r of a tree in, diff -r across the kernels, cp -r out, diff -r on the host.
check "cp -r in" run cp -r "$work/src" $R/copy
check "diff -r source against the kernel's copy" run diff -r "$work/src" $R/copy
check "cp -r out" run cp -r $R/copy "$work/out1"
check "diff -r source against the copy out" diff -r "$work/src" "$work/out1"
check_eq "find" "$(cd "$work/src" && find . | sort)" sh -c "$HJ find $R/copy | sed 's|^$R/copy|.|' | sort"
# cp -a: modes, times and links kept (utimensat, fchmod, lchown; ACL calls find no xattrs).
check "cp -a in" run cp -a "$work/src" $R/copya
check "diff -r, the kernel's copy first" run diff -r $R/copya "$work/src"
check_eq "cp -a kept the mtime and mode" "$(stat -c '%Y %a' "$work/src/d1/big.bin")" run stat -c '%Y %a' $R/copya/d1/big.bin
check_eq "cp -a kept the link" "a.txt" run readlink $R/copya/link
check "cp -a out" run cp -a $R/copya "$work/outa"
check "diff -r of cp -a out" diff -r "$work/src" "$work/outa"
check_eq "cp -a out kept the mtime" "$(stat -c '%Y' "$work/src/d1/d2/numbers")" stat -c '%Y' "$work/outa/d1/d2/numbers"
check_eq "ls -R" "$(cd "$work/src" && ls -R .)" sh -c "cd '$work' && $HJ ls -R $R/copya | sed 's|^$R/copya|.|'"
check "ls -lR" run ls -lR $R/copya
check "rm -r of cp -a's copy" run rm -r $R/copya
check_eq "du -b of a file" "300000	$R/copy/d1/big.bin" run du -b $R/copy/d1/big.bin
check "du -s" run du -s $R/copy
check_eq "find -type f | wc" "6" sh -c "$HJ find $R/copy -type f | wc -l"

# Names and attributes.
check "mkdir -p" run mkdir -p $R/x/y/z
check_eq "stat of the new directory" "directory 755" run stat -c '%F %a' $R/x/y/z
check "mv" run mv $R/copy/a.txt $R/x/moved.txt
check_eq "cat after mv" "hello" run cat $R/x/moved.txt
check "ln -s" run ln -s ../a.txt $R/x/sl
check_eq "readlink of ln -s" "../a.txt" run readlink $R/x/sl
check "ln (hard)" run ln $R/x/moved.txt $R/x/hard
check_eq "link count" "2" run stat -c %h $R/x/moved.txt
check "touch -d" run touch -d "2020-01-02 03:04:05" $R/x/t
check_eq "mtime after touch" "1577934245" run stat -c %Y $R/x/t
check "chmod" run chmod 0600 $R/x/t
check "sed -i (mkstemp, rename)" run sh -c "cp $R/x/moved.txt $R/x/sed.txt && sed -i s/hello/HELLO/ $R/x/sed.txt"
check_eq "sed -i's result" "HELLO" run cat $R/x/sed.txt
check_eq "mode after chmod" "600" run stat -c %a $R/x/t
check_eq "ln across the kernels: EXDEV" "Invalid cross-device link" sh -c "$HJ ln $R/x/t '$work/cross' 2>&1 | sed 's/.*: //'"
check "mkfifo" run mkfifo -m 0640 $R/fifo
check_eq "stat of the FIFO" "fifo 640" run stat -c '%F %a' $R/fifo

# tar c from the kernel, tar x into it, and both checked against the source.
check "tar c" run tar cf $R/x/t.tar -C "$work/src" .
check "tar x" run sh -c "mkdir $R/tx && tar xf $R/x/t.tar -C $R/tx"
check "diff -r after tar x" run diff -r "$work/src" $R/tx
check "tar c of the kernel's tree to the host" run tar cf "$work/k.tar" -C $R/tx .
mkdir "$work/out2"
check "tar x on the host" tar xf "$work/k.tar" -C "$work/out2"
check "diff -r of the tar round trip" diff -r "$work/src" "$work/out2"

# A shell's cd into the kernel, redirections and pwd, all in the shell itself (local mode: bash,
# which leaves through exit(3) so that the in-process kernel unmounts; dash's _exit skips that).
check_eq "sh: cd, echo >, read <, pwd" "hi from sh
$R/x" run $shell -c "cd $R/x && echo 'hi from sh' > f && read l < f && echo \"\$l\" && pwd"
check_eq "sh: relative paths after cd" "hi from sh" run $shell -c "cd $R && cd x && read l < ./f && echo \"\$l\""

check "rm -r" run rm -r $R/copy
check "rm -r is complete" run sh -c "! test -e $R/copy"

if [ "$mode" = server ]; then
	# Shells: fork and exec keep the kernel process (descriptors, current directory), and the
	# programs of a pipeline use the kernel side by side.
	check_eq "sh: echo >, cat | wc" "3" run sh -c "echo hi > $R/p; cat $R/p | wc -c"
	check_eq "sh: cd, then programs" "f
hard
moved.txt
sed.txt
sl
t
t.tar
y
9 listing" run sh -c "cd $R/x && ls > listing && grep -v listing listing && wc -l < listing | sed 's/\$/ listing/' && rm listing"
	check_eq "sh: a program's stdout redirected into the kernel" "2000" run sh -c "cat $R/tx/d1/d2/numbers > $R/n2 && wc -l < $R/n2"
	check_eq "find -exec" "2000" run sh -c "find $R/tx -name numbers -exec cat {} \\; | wc -l"
	check_eq "sh: cd into the kernel, the host's files by absolute path" "hello" run sh -c "cd $R/x && cat '$work/src/a.txt'"
	check_eq "tar c | tar x, both hijacked" "" run sh -c "mkdir $R/tp && tar cf - -C $R/tx . | tar xf - -C $R/tp && diff -r '$work/src' $R/tp"
	check "rm -r of the pipeline's copy" run rm -r $R/tp $R/p $R/n2
	check_eq "a FIFO between two programs, through the kernel" "through the fifo" run sh -c "echo 'through the fifo' > $R/fifo & cat $R/fifo; wait"
fi
stop_fs

# The image, checked by the real tools after the last program let go of it.
check "e2fsck -fn" e2fsck -fn "$img"
check_eq "debugfs reads the shell's file" "hi from sh" debugfs -R "cat /x/f" "$img"
check_eq "debugfs reads the moved file" "hello" debugfs -R "cat /x/moved.txt" "$img"
check_eq "debugfs: mkfifo made a FIFO inode" "Type: FIFO" sh -c "debugfs -R 'stat /fifo' '$img' 2>/dev/null | grep -o 'Type: FIFO'"
check_eq "debugfs reads tar's copy" "$(cat "$work/src/d1/d2/numbers" | md5sum)" sh -c "debugfs -R 'cat /tx/d1/d2/numbers' '$img' 2>/dev/null | md5sum"
check_eq "debugfs: the symlink" "../a.txt" sh -c "debugfs -R 'stat /x/sl' '$img' 2>/dev/null | sed -n 's/^Fast link dest: \"\\(.*\\)\"\$/\\1/p'"
check "debugfs: rm -r left nothing" sh -c "! debugfs -R 'ls /' '$img' 2>/dev/null | grep -qw copy"

# --- FAT ----------------------------------------------------------------------------------------
fstype=msdos
img=$work/fat.img
mkfs.fat -C -n HIJACK "$img" 8192 >/dev/null || { echo "FAIL: mkfs.fat" >&2; exit 1; }
mcopy -s -i "$img" "$work/fsrc/a.txt" "$work/fsrc/d1" ::/ || { echo "FAIL: mcopy" >&2; exit 1; }
start_fs

check_eq "FAT: cat" "hello" run cat $R/a.txt
check_eq "FAT: ls" "a.txt
d1" run ls $R
check "FAT: cp -r in" run cp -r "$work/fsrc" $R/copy
check "FAT: diff -r" run diff -r "$work/fsrc" $R/copy
check "FAT: mkdir, mv, rm" run sh -c "mkdir $R/n && mv $R/copy/a.txt $R/n/b.txt && rm -r $R/copy/d1"
check_eq "FAT: find" "$R/copy
$R/copy/empty
$R/copy/empty dir
$R/copy/with space.txt" sh -c "$HJ find $R/copy | sort"
stop_fs
check "fsck.fat -n" fsck.fat -n "$img"
check_eq "mtype reads the moved file" "hello" mtype -i "$img" ::/n/b.txt
check_eq "mtype reads mcopy's tree after the changes" "deep" mtype -i "$img" "::/d1/d2/d3/deep.txt"
check_eq "mtype reads cp's file" "spaces in the name" mtype -i "$img" "::/copy/with space.txt"

# --- the calls, one by one, on a tmpfs in the server -----------------------------------------------
if [ "$mode" = server ]; then
	fstype=tmpfs
	img=
	start_fs
	mkdir "$work/calls"
	check "t_hijack_calls" run "$HIJACK_CALLS" "$work/calls"
	[ $fail -gt 0 ] && cat "$work/err" >&2
	stop_fs
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
