#!/usr/bin/env bash
# t_usb_hub.sh USBHUB LIBDIR BASEDIR RUMPUSB: a usb-hub on a root port with a FAT32 stick at its
# port 2 and a keyboard at its port 1, in one QEMU guest boot. usbhub (uid 1000, RUMP_USB
# selecting the stick) checks the autoconf tree (uhub1 mirrors the host hub, umass0 at uhub1
# port 2), mounts the stick, reads and writes a file, then the stick and then the hub are
# unplugged (device_del) and must detach without a hang. rumpusb list must show both devices
# behind the hub. On the host afterwards fsck.fat -n must be clean and mtype must read the
# written file back.
set -euo pipefail
prog=${1:?usage: t_usb_hub.sh USBHUB LIBDIR BASEDIR RUMPUSB}
libdir=${2:?usage: t_usb_hub.sh USBHUB LIBDIR BASEDIR RUMPUSB}
export RUMP_QEMU_BASE=${3:?usage: t_usb_hub.sh USBHUB LIBDIR BASEDIR RUMPUSB}
rumpusb=${4:?usage: t_usb_hub.sh USBHUB LIBDIR BASEDIR RUMPUSB}
here=$(cd "$(dirname "$0")" && pwd)
for t in socat mkfs.fat mcopy mtype fsck.fat; do
  command -v $t >/dev/null || { echo "t_usb_hub: FAILED: $t is missing (socat, dosfstools, mtools: tools/setup-debian.sh)"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_hub.XXXXXX")
gpid=
trap '[ -n "$gpid" ] && kill $gpid 2>/dev/null; rm -rf "$tmp"' EXIT
printf 'hello from the host, behind a hub\n' > "$tmp/hello.txt"
mkfs.fat -C -F 32 -n HUBSTICK "$tmp/fat.img" 65536 >/dev/null
mcopy -i "$tmp/fat.img" "$tmp/hello.txt" ::/HELLO.TXT
for i in $(seq 0 999); do printf 'line %04d written by rump behind a hub\n' "$i"; done > "$tmp/expect"
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir
RUMP_USB=all ./rumpusb list | sed 's/^/rumpusb: /' || exit \$?
RUMP_USB=46f4:0001 exec ./usbhub HELLO.TXT ./hello.txt WRITTEN.TXT
G
"$here/../qemu/run-guest.sh" --timeout 180 --monitor "$tmp/mon" \
  --device usb-hub,id=hub1,port=1 \
  --drive id=fat,file="$tmp/fat.img",format=raw --device usb-storage,drive=fat,id=stick,port=1.2 \
  --device usb-kbd,id=kbd,port=1.1 \
  --copy "$prog" --copy "$rumpusb" --copy "$libdir:$libdir" \
  --copy "$tmp/hello.txt" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh > "$tmp/out" 2>&1 &
gpid=$!
# Each unplug follows the guest program's request for it.
for what in stick hub1; do
  line="unplug ${what%1}"
  while kill -0 $gpid 2>/dev/null && ! grep -q "^$line\$" "$tmp/out"; do sleep 0.2; done
  grep -q "^$line\$" "$tmp/out" && printf 'device_del %s\n' "$what" | socat - UNIX-CONNECT:"$tmp/mon" >/dev/null
done
wait $gpid && status=0 || status=$?
gpid=
cat "$tmp/out"
fail=0
[ "$status" -eq 0 ] || { echo "t_usb_hub: FAILED: the guest program exited with status $status (expected 0)"; fail=1; }
grep -q '^rumpusb: 46f4:0001 .* at uhub1 port 2: interface 0 (class 8/6/80): umass$' "$tmp/out" ||
  { echo "t_usb_hub: FAILED: rumpusb list should name the stick at uhub1 port 2 with umass"; fail=1; }
grep -q '^rumpusb: 0627:0001 .* at uhub1 port 1: interface 0 (class 3/1/1): uhidev (ukbd)$' "$tmp/out" ||
  { echo "t_usb_hub: FAILED: rumpusb list should name the keyboard at uhub1 port 1 with uhidev (ukbd)"; fail=1; }
r=$(fsck.fat -n "$tmp/fat.img" 2>&1) || { echo "t_usb_hub: FAILED: fsck.fat -n after the guest's writes:"; echo "$r"; fail=1; }
mtype -i "$tmp/fat.img" ::/WRITTEN.TXT > "$tmp/got" 2>&1 || true
cmp -s "$tmp/expect" "$tmp/got" || { echo "t_usb_hub: FAILED: mtype ::/WRITTEN.TXT differs from what the guest wrote ($(wc -c < "$tmp/got") bytes, expected $(wc -c < "$tmp/expect"))"; fail=1; }
[ $fail -eq 0 ] && echo "t_usb_hub: passed (a stick behind a hub mounted, read, written and unplugged; the hub unplugged)"
exit $fail
