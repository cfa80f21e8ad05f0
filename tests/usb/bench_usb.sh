#!/usr/bin/env bash
# bench_usb.sh USBBENCH LIBDIR BASEDIR: in one QEMU guest boot, on the same emulated stick, a
# 64 MiB file read through this kernel (umass + sd + msdosfs, usbbench as uid 1000) against
# Linux's usb-storage reading the stick's raw device (dd iflag=direct, 1 MiB blocks; the guest
# has no vfat module). Prints both; only same-boot ratios mean anything under emulation.
set -euo pipefail
prog=${1:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR}
libdir=${2:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR}
export RUMP_QEMU_BASE=${3:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_usb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
libgcc=$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/{print $NF; exit}')
mkfs.fat -C ${RUMP_BENCH_MKFS:--F 32} "$tmp/fat.img" 131072 >/dev/null
head -c $((64 << 20)) /dev/urandom > "$tmp/BIG.BIN"
mcopy -i "$tmp/fat.img" "$tmp/BIG.BIN" ::/BIG.BIN
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir RUMP_USB=46f4:0001 RUMP_VERBOSE=1
for i in 1 2 3; do
  /sbin/rumpsu 1000 1000 46 -- ./usbbench BIG.BIN
  # Linux's driver is back on the stick once we release it; wait for its disk.
  for w in \$(seq 100); do [ -b /dev/sda ] && break; sleep 0.1; done
  echo 3 > /proc/sys/vm/drop_caches
  s=\$(cut -d' ' -f1 /proc/uptime)
  dd if=/dev/sda of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null
  e=\$(cut -d' ' -f1 /proc/uptime)
  echo "linux raw: 67108864 bytes from \$s to \$e s (uptime)" 
done
G
"$here/../qemu/run-guest.sh" --timeout 300 --root \
  --drive id=fat,file="$tmp/fat.img",format=raw --device usb-storage,drive=fat \
  --copy "$prog" --copy "$libdir:$libdir" --copy "$libgcc:$libgcc" --copy "$tmp/guest.sh" \
  -- sh ./guest.sh
