#!/bin/busybox sh
# /init of the QEMU test guest (built by build-base.sh, driven by run-guest.sh).
# The per-run archive adds /cmd/env (settings), /cmd/run (the command, shell-quoted) and the
# copied files. ttyS0 is the console; ttyS1 carries only the command's output, then the marker
# "\001RUMP-EXIT <status>\001" that run-guest.sh turns into its own exit status.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
# /tmp stays the initramfs's own directory (already in memory): copied files and their libraries
# keep their host paths, and a build tree under the host's /tmp would be hidden by a mount there.
chmod 1777 /tmp
out=/dev/ttyS1
stty -F $out raw -echo
RUMP_NDEV=0 RUMP_ROOT=0 RUMP_PERM=udev RUMP_UDEVD=1
. /cmd/env
[ "$RUMP_UDEVD" = 1 ] || [ "$RUMP_PERM" != udev ] || RUMP_PERM=mdev   # the rule needs udevd
log() { echo "guest: $*" > /dev/ttyS0; }
finish() { printf '\001RUMP-EXIT %d\001\n' "$1" > $out; poweroff -f; }

# Device permissions: group plugdev may open /dev/bus/usb/BBB/DDD, as a udev rule gives on a
# desktop. udevd also re-broadcasts the kernel's uevents, which is how Debian's libusb (built
# with udev) learns of hot-plugged devices.
case $RUMP_PERM in
  udev) echo 'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", MODE="0660", GROUP="46"' \
          > /etc/udev/rules.d/50-rump-usb.rules ;;
  mdev) cp /etc/mdev.conf.usb /etc/mdev.conf; mdev -d ;;
esac
if [ "$RUMP_UDEVD" = 1 ]; then
  /lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/console || log "systemd-udevd failed"
fi

modprobe usb_storage delay_use=0
modprobe -a xhci_pci sd_mod usbhid hid_generic

# Wait until every device QEMU was given is configured (hubs' children included), then until
# udevd has applied the rules to them.
i=0
while :; do
  n=0
  for d in /sys/bus/usb/devices/[0-9]*-*; do
    case $d in *:*) continue ;; esac
    [ -n "$(cat $d/bConfigurationValue 2>/dev/null)" ] && n=$((n + 1))
  done
  [ $n -ge $RUMP_NDEV ] && break
  i=$((i + 1))
  [ $i -ge 2400 ] && { log "only $n of $RUMP_NDEV USB devices appeared in 2 minutes"; break; }
  sleep 0.05
done
[ "$RUMP_UDEVD" = 1 ] && udevadm settle -t 120 2>/dev/null
log "ready at $(cut -d' ' -f1 /proc/uptime)s"

mkdir -p /work && chown 1000:1000 /work
for f in /work/*; do [ -e "$f" ] && chown -R 1000:1000 "$f"; done
cd /work
export HOME=/work PATH=/work:/bin:/sbin:/usr/bin:/usr/sbin
[ -n "$RUMP_LIBPATH" ] && export LD_LIBRARY_PATH=$RUMP_LIBPATH
if [ "$RUMP_ROOT" = 1 ]; then
  sh /cmd/run > $out 2>&1 < /dev/null
else
  /sbin/rumpsu 1000 1000 46 -- sh /cmd/run > $out 2>&1 < /dev/null
fi
status=$?
log "done at $(cut -d' ' -f1 /proc/uptime)s, status $status"
finish $status
