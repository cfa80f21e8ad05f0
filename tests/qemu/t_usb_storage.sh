#!/usr/bin/env bash
# t_usb_storage.sh USBGUEST BASEDIR: usbguest's storage and noperm checks on QEMU's usb-storage,
# in one guest boot. The image is random bytes; the blocks the guest reads are cut from it here
# with dd, so the guest compares against the host's own view of the image.
set -euo pipefail
usbguest=${1:?usage: t_usb_storage.sh USBGUEST BASEDIR}
export RUMP_QEMU_BASE=${2:?usage: t_usb_storage.sh USBGUEST BASEDIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_storage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

nblocks=32768                                   # 16 MiB of 512-byte blocks
head -c $((nblocks * 512)) /dev/urandom > "$tmp/stick.img"
dd if="$tmp/stick.img" of="$tmp/first" bs=512 count=8 status=none
dd if="$tmp/stick.img" of="$tmp/middle" bs=512 skip=12345 count=64 status=none
dd if="$tmp/stick.img" of="$tmp/last" bs=512 skip=$((nblocks - 3)) count=3 status=none

cat > "$tmp/guest.sh" <<G
# as root in the guest: first without permission on the nodes, then with it (the udev rule's)
# ... and in both discovery modes: libusb's own (udevd runs here), and RUMPUSB_POLL's (sysfs)
for mode in hotplug poll; do
  [ \$mode = poll ] && export RUMPUSB_POLL=1
  echo "# mode \$mode"
  chmod 0600 /dev/bus/usb/*/*
  /sbin/rumpsu 1000 1000 46 -- ./usbguest noperm || exit \$?
  chmod 0660 /dev/bus/usb/*/*
  /sbin/rumpsu 1000 1000 46 -- ./usbguest storage $nblocks 0 first 12345 middle $((nblocks - 3)) last || exit \$?
done
G
out=$("$here/run-guest.sh" --timeout 400 --root \
  --drive id=stick,file="$tmp/stick.img",format=raw --device usb-storage,drive=stick \
  --copy "$usbguest" --copy "$tmp/first" --copy "$tmp/middle" --copy "$tmp/last" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh) && status=0 || status=$?
printf '%s\n' "$out"
nok=$(printf '%s\n' "$out" | grep -c '^ok - ' || true)
if [ "$status" -ne 0 ]; then
  echo "t_usb_storage: FAILED: the guest's checks exited with status $status (expected 0)"; exit 1
fi
if [ "$nok" -lt 38 ]; then
  echo "t_usb_storage: FAILED: expected at least 38 passed checks, got $nok"; exit 1
fi
echo "t_usb_storage: $nok checks passed"
