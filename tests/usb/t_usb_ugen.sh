#!/usr/bin/env bash
# t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB: ugen's control endpoint in one QEMU guest boot. A
# usb-ccid smart-card reader (08e6:4433; no driver of the kernel wants it, and the guest's Linux
# has none either) goes to ugen0; usbugen (uid 1000) checks the ioctls on /dev/ugen0.00 and prints
# the device and configuration descriptors it read with USB_DO_REQUEST, which must be byte for
# byte what libusb (lsusb_libusb desc) reads from the same device. First, without permission on
# the device's node, rumpusb list must fail cleanly with a message naming the node and the remedy
# (the udev rule for 08e6:4433).
set -euo pipefail
prog=${1:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB RUMPUSB}
libdir=${2:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
export RUMP_QEMU_BASE=${3:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
lsusb=${4:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB RUMPUSB}
rumpusb=${5:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB RUMPUSB}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_ugen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/guest.sh" <<G
# As root: the nodes root-only for the first run (as on a host without the udev rule), then the rule's mode.
export LD_LIBRARY_PATH=$libdir
chmod 0600 /dev/bus/usb/*/*
/sbin/rumpsu 1000 1000 46 -- ./rumpusb list 08e6:4433 > noperm.out 2>&1
echo "noperm status \$?"
sed 's/^/noperm: /' noperm.out
chmod 0660 /dev/bus/usb/*/*
/sbin/rumpsu 1000 1000 46 -- ./lsusb_libusb desc 08e6:4433 || exit \$?
RUMP_USB=08e6:4433 exec /sbin/rumpsu 1000 1000 46 -- ./usbugen 08e6:4433
G
out=$("$here/../qemu/run-guest.sh" --timeout 150 --root --device usb-ccid \
  --copy "$prog" --copy "$lsusb" --copy "$rumpusb" --copy "$libdir:$libdir" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh) && status=0 || status=$?
printf '%s\n' "$out"
fail=0
[ "$status" -eq 0 ] || { echo "t_usb_ugen: FAILED: the guest's checks exited with status $status (expected 0)"; fail=1; }
# Without permission: a message with the node and the udev rule, the probe line says why, no crash.
grep -q '^noperm: .*cannot open /dev/bus/usb/[0-9]*/[0-9]* (USB device 08e6:4433): permission denied' <<<"$out" ||
  { echo "t_usb_ugen: FAILED: without permission, no message naming the node /dev/bus/usb/BBB/DDD of 08e6:4433"; fail=1; }
grep -qF 'noperm:   SUBSYSTEM=="usb", ATTR{idVendor}=="08e6", ATTR{idProduct}=="4433", MODE="0660", GROUP="plugdev"' <<<"$out" ||
  { echo "t_usb_ugen: FAILED: without permission, the message does not give the udev rule for 08e6:4433"; fail=1; }
grep -q '^noperm: 08e6:4433 .*: cannot open (error 13: no permission on the node)$' <<<"$out" ||
  { echo "t_usb_ugen: FAILED: without permission, rumpusb list does not say the device cannot be opened (error 13)"; fail=1; }
grep -q '^noperm status [01]$' <<<"$out" ||
  { echo "t_usb_ugen: FAILED: rumpusb list without permission should exit 0 or 1, not crash: $(printf '%s\n' "$out" | grep '^noperm status')"; fail=1; }
for d in device config; do
  want=$(printf '%s\n' "$out" | sed -n "s/^libusb $d //p")
  got=$(printf '%s\n' "$out" | sed -n "s/^ugen $d //p")
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    echo "t_usb_ugen: FAILED: the $d descriptor through ugen differs from libusb's:"
    echo "  libusb: $want"; echo "  ugen:   $got"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "t_usb_ugen: passed (ugen's control endpoint: descriptors as libusb reads them, ioctls)"
exit $fail
