#!/usr/bin/env bash
# build-base.sh OUTDIR [CC]
#
# Builds the QEMU test guest once per build directory (see README.md):
#   OUTDIR/vmlinux     Debian's kernel as an uncompressed ELF, booted directly (PVH): this saves
#                      seconds of decompression under TCG
#   OUTDIR/base.cpio   busybox-static, the USB and vfat kernel modules with their dependencies, the host's
#                      systemd-udevd (libusb's hot-plug events come from it), /init, rumpsu
#   OUTDIR/kver        the kernel's version
# Each run of run-guest.sh appends a second archive (the command and its files) to base.cpio.
set -euo pipefail
out=${1:?usage: build-base.sh OUTDIR [CC]}
cc=${2:-cc}
here=$(cd "$(dirname "$0")" && pwd)

missing() { echo "build-base.sh: $1 is missing: install the Debian package $2 (tools/setup-debian.sh)" >&2; exit 1; }

# The newest installed kernel whose modules are installed too.
kver=
for f in $(ls -1v /boot/vmlinuz-* 2>/dev/null | sort -rV); do
  v=${f#/boot/vmlinuz-}
  if [ -d "/lib/modules/$v/kernel/drivers/usb" ]; then kver=$v; break; fi
done
[ -n "$kver" ] || missing "a guest kernel (/boot/vmlinuz-* with /lib/modules/VERSION)" linux-image-amd64
# grep reads the whole list: with -q it may exit first, and busybox, writing a name at a time, dies of SIGPIPE (pipefail).
[ -x /bin/busybox ] && /bin/busybox --list | grep -x mdev >/dev/null || missing "busybox (static, with mdev)" busybox-static
[ -x /lib/systemd/systemd-udevd ] || missing /lib/systemd/systemd-udevd udev
command -v cpio >/dev/null || missing cpio cpio
command -v depmod >/dev/null && command -v modprobe >/dev/null || missing "depmod/modprobe" kmod
command -v xz >/dev/null || missing xz xz-utils

mkdir -p "$out"
tmp=$(mktemp -d "$out/base.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- the kernel: find the compressed payload in the bzImage and decompress it -------------------
# (the kernel's scripts/extract-vmlinux does the same: try each compression magic, keep an ELF)
vmlinuz=/boot/vmlinuz-$kver
[ -r "$vmlinuz" ] || { echo "build-base.sh: cannot read $vmlinuz (the guest kernel)" >&2; exit 1; }
try_decomp() { # magic-regex tool...
  local magic=$1; shift
  local off
  for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$vmlinuz" | "$@" > "$tmp/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then return 0; fi
  done
  return 1
}
try_decomp '\xFD\x37\x7A\x58\x5A\x00' xz -dcq ||
  try_decomp '\x28\xB5\x2F\xFD' zstd -dcq ||
  try_decomp '\x1F\x8B\x08' gzip -dcq ||
  { echo "build-base.sh: no ELF kernel found inside $vmlinuz" >&2; exit 1; }

# --- the root file system -------------------------------------------------------------------
root=$tmp/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,work,cmd,lib,lib64,usr/bin,usr/sbin,etc/udev/rules.d}
cp /bin/busybox "$root/bin/busybox"
for app in $(/bin/busybox --list); do
  [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done

# A file and its shared-library closure at the same paths as on the host.
copy_with_libs() {
  local f
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}
copy_with_libs /lib/systemd/systemd-udevd /bin/udevadm
# udevd reads its rules from here; run-guest writes the plugdev rule into /etc/udev/rules.d.
mkdir -p "$root/lib/udev/rules.d"

# Kernel modules: xHCI, usb-storage + SCSI disk, HID (the hub driver is in usbcore); vfat with
# the code pages its defaults name (cp437, and utf8 for long names; ascii as iocharset=ascii),
# so that the throughput bench reads the same file through Linux's FAT as through ours.
mods="xhci_pci usb_storage sd_mod usbhid hid_generic vfat nls_cp437 nls_utf8 nls_ascii"
for m in $mods; do
  modprobe -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | sort -u | while read -r ko; do
  mkdir -p "$root$(dirname "$ko")"
  cp "$ko" "$root$ko"
done
cp /lib/modules/"$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$root" "$kver"

"$cc" -Os -static -o "$root/sbin/rumpsu" "$here/rumpsu.c"

cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
rump:x:1000:1000:rump test user:/work:/bin/sh
P
cat > "$root/etc/group" <<'G'
root:x:0:
plugdev:x:46:rump
rump:x:1000:
G
# Stand-in for udev's permission handling where udevd is not wanted (run-guest --perm mdev,
# and --no-udevd).
echo '$DEVNAME=bus/usb/[0-9]+/[0-9]+ 0:46 0660' > "$root/etc/mdev.conf.usb"
echo "$kver" > "$root/etc/kver"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$tmp/base.cpio"
mv "$tmp/vmlinux" "$out/vmlinux"
mv "$tmp/base.cpio" "$out/base.cpio"
echo "$kver" > "$out/kver"
echo "build-base.sh: guest kernel $kver, $(du -h "$out/base.cpio" | cut -f1) base archive in $out"
