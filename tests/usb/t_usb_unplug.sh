#!/usr/bin/env bash
# t_usb_unplug.sh USBUNPLUG LIBDIR BASEDIR: a stick pulled (QEMU monitor device_del) while the
# rump kernel reads and writes a file system on it: the I/O fails with EIO instead of
# hanging, sd0 and umass0 detach, the dead file system unmounts, the kernel halts, no crash;
# read-ahead held in the stick's DMA memory at the unplug stays readable until it is given back.
set -euo pipefail
prog=${1:?usage: t_usb_unplug.sh USBUNPLUG LIBDIR BASEDIR}
libdir=${2:?usage: t_usb_unplug.sh USBUNPLUG LIBDIR BASEDIR}
export RUMP_QEMU_BASE=${3:?usage: t_usb_unplug.sh USBUNPLUG LIBDIR BASEDIR}
here=$(cd "$(dirname "$0")" && pwd)
for t in socat mkfs.fat mcopy; do
  command -v $t >/dev/null || { echo "t_usb_unplug: FAILED: $t is missing (tools/setup-debian.sh)"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_unplug.XXXXXX")
gpid=
trap '[ -n "$gpid" ] && kill $gpid 2>/dev/null; rm -rf "$tmp"' EXIT
mkfs.fat -C -F 32 "$tmp/fat.img" 65536 >/dev/null
head -c $((8 << 20)) /dev/urandom > "$tmp/BIG.BIN"
head -c $((4 << 20)) /dev/urandom > "$tmp/HOLD.BIN"
mcopy -i "$tmp/fat.img" "$tmp/BIG.BIN" "$tmp/HOLD.BIN" ::/
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir RUMP_USB=46f4:0001
exec ./usbunplug
G
"$here/../qemu/run-guest.sh" --timeout 150 --monitor "$tmp/mon" \
  --drive id=fat,file="$tmp/fat.img",format=raw --device usb-storage,drive=fat,id=stick \
  --copy "$prog" --copy "$libdir:$libdir" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh > "$tmp/out" 2>&1 &
gpid=$!
while kill -0 $gpid 2>/dev/null && ! grep -q '^ready' "$tmp/out"; do sleep 0.2; done
grep -q '^ready' "$tmp/out" && printf 'device_del stick\n' | socat - UNIX-CONNECT:"$tmp/mon" >/dev/null
wait $gpid && status=0 || status=$?
gpid=
cat "$tmp/out"
if [ "$status" -ne 0 ]; then echo "t_usb_unplug: FAILED: the guest program exited with status $status (expected 0)"; exit 1; fi
echo "t_usb_unplug: passed"
