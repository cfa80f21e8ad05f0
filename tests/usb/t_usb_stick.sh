#!/usr/bin/env bash
# t_usb_stick.sh USBSTICK LIBDIR BASEDIR: the kernel's own USB stack end to end (LIBDIR: librump.so
# built for the guest's CPU, with librumpuser.so and librumpuser_usb.so). Two emulated
# usb-storage sticks in one QEMU guest boot, a FAT32 image made by mkfs.fat + mcopy and an ext2
# image made by mke2fs -d; usbstick (run as uid 1000) boots the rump kernel, which attaches them
# through ugenhc/uhub/umass/scsibus/sd, mounts each with msdosfs / ext2fs, reads a file and writes
# one; a 300 KB file is read (staged in the stick's zero-copy memory, lent as DMA memory, with no
# copy on the way in) and again with RUMPUSB_NOZEROCOPY (usbfs copying), each run saying which
# path it took; fsu lists
# and reads a stick named usb:46f4:0001; rumpusb list names them. After the guest powers off, fsck.fat -n
# and e2fsck -fn must be clean, and mtools/debugfs
# must read the written file back with the expected bytes.
set -euo pipefail
usbstick=${1:?usage: t_usb_stick.sh USBSTICK LIBDIR BASEDIR FSU RUMPUSB}
libdir=${2:?usage: t_usb_stick.sh USBSTICK LIBDIR BASEDIR}
export RUMP_QEMU_BASE=${3:?usage: t_usb_stick.sh USBSTICK LIBDIR BASEDIR FSU}
fsu=${4:?usage: t_usb_stick.sh USBSTICK LIBDIR BASEDIR FSU RUMPUSB}
rumpusb=${5:?usage: t_usb_stick.sh USBSTICK LIBDIR BASEDIR FSU RUMPUSB}
here=$(cd "$(dirname "$0")" && pwd)
for t in mkfs.fat mcopy mtype fsck.fat mke2fs e2fsck debugfs; do
  command -v $t >/dev/null || { echo "t_usb_stick: FAILED: $t is missing (dosfstools, mtools, e2fsprogs: tools/setup-debian.sh)"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_stick.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/src/docs/deep"
printf 'hello from the host over usb\n' > "$tmp/hello.txt"
cp "$tmp/hello.txt" "$tmp/src/hello.txt"
head -c 300000 /dev/urandom > "$tmp/src/docs/random.bin"
printf 'deep\n' > "$tmp/src/docs/deep/leaf.txt"
mkfs.fat -C -F 32 -n RUMPSTICK "$tmp/fat.img" 65536 >/dev/null
mcopy -s -i "$tmp/fat.img" "$tmp/src/hello.txt" "$tmp/src/docs" ::/
mke2fs -q -F -t ext2 -b 1024 -d "$tmp/src" "$tmp/ext2.img" 16384k
for i in $(seq 0 999); do printf 'line %04d written by rump over usb\n' "$i"; done > "$tmp/expect"

# awk reads to the end: exiting early could kill ldconfig with SIGPIPE, which pipefail and set -e
# turned into a silent failure of the whole test (seen under load).
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir RUMP_USB=46f4:0001 RUMP_VERBOSE=1
# rumpusb list names both sticks and the driver that would take them, and claims nothing.
./rumpusb list | sed 's/^/rumpusb: /' || exit \$?
./usbstick msdos hello.txt ./hello.txt WRITTEN.TXT || exit \$?
# A file large enough for clustered reads (256 KiB bulk transfers): through ugenhc's zero-copy
# buffers, then with the host's usbfs copying (the fallback where it cannot map memory).
./usbstick msdos docs/random.bin ./random.bin WRITTEN.TXT || exit \$?
RUMPUSB_NOZEROCOPY=1 ./usbstick msdos docs/random.bin ./random.bin WRITTEN.TXT || exit \$?
./usbstick ext2fs hello.txt ./hello.txt written.txt || exit \$?
# fsu names a stick by vendor:product (both sticks hold /hello.txt; either may be sd0).
./fsu ls -l usb:46f4:0001 / || exit \$?
./fsu cat usb:46f4:0001 /hello.txt > fsu.out || exit \$?
cmp fsu.out ./hello.txt && echo "ok - fsu cat usb:46f4:0001 /hello.txt"
G
out=$("$here/../qemu/run-guest.sh" --timeout 200 \
  --drive id=fat,file="$tmp/fat.img",format=raw --device usb-storage,drive=fat \
  --drive id=ext,file="$tmp/ext2.img",format=raw --device usb-storage,drive=ext \
  --copy "$usbstick" --copy "$fsu" --copy "$rumpusb" --copy "$libdir:$libdir" \
  --copy "$tmp/hello.txt" --copy "$tmp/src/docs/random.bin" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh) && status=0 || status=$?
printf '%s\n' "$out"
fail=0
n=$(printf '%s\n' "$out" | grep -c '^rumpusb: 46f4:0001 QEMU QEMU USB HARDDRIVE (host bus .* at uhub0 port [0-9]*: interface 0 (class 8/6/80): umass$' || true)
[ "$n" -eq 2 ] || { echo "t_usb_stick: FAILED: rumpusb list should name both sticks with umass, named $n"; fail=1; }
grep -q '^ok - fsu cat usb' <<<"$out" || { echo "t_usb_stick: FAILED: fsu cat usb:46f4:0001 /hello.txt did not give the file"; fail=1; }
[ "$status" -eq 0 ] || { echo "t_usb_stick: FAILED: the guest's checks exited with status $status (expected 0)"; fail=1; }
grep -q '^ugenhc0: bulk transfers: [1-9][0-9]* in DMA memory; of 16 KiB or more in ordinary memory, [1-9][0-9]* through zero-copy buffers, 0 copied' <<<"$out" ||
  { echo "t_usb_stick: FAILED: no run said its bulk transfers went into lent DMA memory and the other large ones through zero-copy buffers (ugenhc0's detach message)"; fail=1; }
grep -q '^ugenhc0: bulk transfers: 0 in DMA memory; of 16 KiB or more in ordinary memory, 0 through zero-copy buffers, [1-9][0-9]* copied' <<<"$out" ||
  { echo "t_usb_stick: FAILED: the run with RUMPUSB_NOZEROCOPY did not say its large bulk transfers were copied by the host kernel"; fail=1; }
for f in docs/random.bin docs/deep/leaf.txt; do
  grep -q "^tree /mnt/$f $(stat -c %s "$tmp/src/$f")\$" <<<"$out" ||
    grep -qi "^tree /mnt/$f $(stat -c %s "$tmp/src/$f")\$" <<<"$out" ||
    { echo "t_usb_stick: FAILED: the guest's listing lacks /mnt/$f with size $(stat -c %s "$tmp/src/$f")"; fail=1; }
done
r=$(fsck.fat -n "$tmp/fat.img" 2>&1) || { echo "t_usb_stick: FAILED: fsck.fat -n after the guest's writes:"; echo "$r"; fail=1; }
mtype -i "$tmp/fat.img" ::/WRITTEN.TXT > "$tmp/got.fat" 2>&1 || true
cmp -s "$tmp/expect" "$tmp/got.fat" || { echo "t_usb_stick: FAILED: mtype ::/WRITTEN.TXT differs from what the guest wrote ($(wc -c < "$tmp/got.fat") bytes, expected $(wc -c < "$tmp/expect"))"; fail=1; }
r=$(e2fsck -fn "$tmp/ext2.img" 2>&1) || { echo "t_usb_stick: FAILED: e2fsck -fn after the guest's writes:"; echo "$r"; fail=1; }
debugfs -R "cat /written.txt" "$tmp/ext2.img" > "$tmp/got.ext2" 2>/dev/null || true
cmp -s "$tmp/expect" "$tmp/got.ext2" || { echo "t_usb_stick: FAILED: debugfs cat /written.txt differs from what the guest wrote"; fail=1; }
[ $fail -eq 0 ] && echo "t_usb_stick: passed (FAT32 and ext2 sticks read and written through the kernel's USB stack)"
exit $fail
