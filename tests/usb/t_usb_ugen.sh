#!/usr/bin/env bash
# t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB: ugen's control endpoint in one QEMU guest boot. A
# usb-ccid smart-card reader (08e6:4433; no driver of the kernel wants it, and the guest's Linux
# has none either) goes to ugen0; usbugen (uid 1000) checks the ioctls on /dev/ugen0.00 and prints
# the device and configuration descriptors it read with USB_DO_REQUEST, which must be byte for
# byte what libusb (lsusb_libusb desc) reads from the same device.
set -euo pipefail
prog=${1:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
libdir=${2:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
export RUMP_QEMU_BASE=${3:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
lsusb=${4:?usage: t_usb_ugen.sh USBUGEN LIBDIR BASEDIR LSUSB}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_ugen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
libgcc=$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/{print $NF; exit}')
[ -n "$libgcc" ] || { echo "t_usb_ugen: FAILED: libgcc_s.so.1 not found on the host"; exit 1; }
cat > "$tmp/guest.sh" <<G
./lsusb_libusb desc 08e6:4433 || exit \$?
LD_LIBRARY_PATH=$libdir RUMP_USB=08e6:4433 exec ./usbugen 08e6:4433
G
out=$("$here/../qemu/run-guest.sh" --timeout 150 --device usb-ccid \
  --copy "$prog" --copy "$lsusb" --copy "$libdir:$libdir" --copy "$libgcc:$libgcc" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh) && status=0 || status=$?
printf '%s\n' "$out"
fail=0
[ "$status" -eq 0 ] || { echo "t_usb_ugen: FAILED: the guest's checks exited with status $status (expected 0)"; fail=1; }
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
