#!/usr/bin/env bash
# t_usb_kbd.sh USBKBD LIBDIR BASEDIR: keys typed on QEMU's usb-kbd through the monitor's sendkey
# arrive as key events on the rump kernel's /dev/ukbd0 (ugenhc, uhub, uhidev, ukbd at uhidev0), in a guest program
# run as uid 1000. The keys are sent once the guest program says it is ready.
set -euo pipefail
usbkbd=${1:?usage: t_usb_kbd.sh USBKBD LIBDIR BASEDIR}
libdir=${2:?usage: t_usb_kbd.sh USBKBD LIBDIR BASEDIR}
export RUMP_QEMU_BASE=${3:?usage: t_usb_kbd.sh USBKBD LIBDIR BASEDIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v socat >/dev/null || { echo "t_usb_kbd: FAILED: socat is missing (Debian socat: tools/setup-debian.sh)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_usb_kbd.XXXXXX")
gpid=
trap '[ -n "$gpid" ] && kill $gpid 2>/dev/null; rm -rf "$tmp"' EXIT
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir RUMP_USB=0627:0001 RUMP_VERBOSE=1
exec ./usbkbd 3
G
"$here/../qemu/run-guest.sh" --timeout 150 --device usb-kbd --monitor "$tmp/mon" \
  --copy "$usbkbd" --copy "$libdir:$libdir" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh > "$tmp/out" 2>&1 &
gpid=$!
# Wait for the guest program's "ready" (or the guest's end), then type.
while kill -0 $gpid 2>/dev/null && ! grep -q '^ready' "$tmp/out"; do sleep 0.2; done
if grep -q '^ready' "$tmp/out"; then
  for k in a b shift-c; do printf 'sendkey %s\n' "$k" | socat - UNIX-CONNECT:"$tmp/mon" >/dev/null; done
fi
wait $gpid && status=0 || status=$?
gpid=
cat "$tmp/out"
fail=0
[ "$status" -eq 0 ] || { echo "t_usb_kbd: FAILED: the guest program exited with status $status (expected 0)"; fail=1; }
for e in "down 04" "up 04" "down 05" "up 05" "down e1" "down 06" "up 06"; do
  grep -qx "$e" "$tmp/out" || { echo "t_usb_kbd: FAILED: no \"$e\" event from the guest"; fail=1; }
done
grep -q '^ukbd0 at uhidev0$' "$tmp/out" || { echo "t_usb_kbd: FAILED: no \"ukbd0 at uhidev0\" boot message (the keyboard attaches under uhidev)"; fail=1; }
[ $fail -eq 0 ] && echo "t_usb_kbd: passed (a, b, shift-c arrived as key events on /dev/ukbd0, ukbd0 at uhidev0)"
exit $fail
