#!/usr/bin/env bash
# bench_usb.sh USBBENCH LIBDIR BASEDIR [ROUNDS]: in one QEMU guest boot, on the same emulated
# stick, the same 64 MiB file read sequentially in 1 MiB reads
#   - through this kernel (ugenhc + umass + sd + msdosfs; usbbench as uid 1000, a fresh kernel
#     each round, so nothing is cached on our side),
#   - through Linux's usb-storage + sd + vfat (the stick mounted read-only, the page cache
#     dropped before each read),
#   - and Linux's raw /dev/sda with O_DIRECT (no file system, no cache),
# ROUNDS times each (default 5), and prints the medians and their ratios. QEMU does not model
# USB bus speed: only same-boot ratios mean anything. SMP=N sets the guest's CPUs (default 1:
# with two on a loaded host Linux's own path swings by 10x, see tests/qemu/README.md).
# RUMP_BENCH_ALTLIB=DIR (another LIBDIR, e.g. a saved build before a change) and/or
# RUMP_BENCH_ALTENV="VAR=VALUE ..." add a run of usbbench with DIR's kernel and/or that
# environment each round ("rump-msdosfs-alt"), before the usual one in odd rounds and after it in
# even ones: an A/B comparison in one boot.
# RUMP_BENCH_MKFS changes mkfs.fat's options (default -F 32). RUMP_BENCH_DIAG=1 adds, per round,
# the bare transport (tests/qemu's usbguest: librumpuser_usb Bulk-Only READ(10)s of 1 MiB into a
# zero-copy buffer and into an ordinary one, no kernel) and this kernel reading the same msdosfs
# image from the guest's memory through etfs (no USB), to see where the time goes.
# RUMP_BENCH_WRITE=1 adds, per round, 64 MiB written in 1 MiB writes and fsync'd (then removed)
# through this kernel and through Linux's vfat (the image grows to 192 MiB for the room).
set -euo pipefail
prog=${1:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR [ROUNDS]}
libdir=$(cd "${2:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR [ROUNDS]}" && pwd)
export RUMP_QEMU_BASE=${3:?usage: bench_usb.sh USBBENCH LIBDIR BASEDIR [ROUNDS]}
rounds=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
for t in mkfs.fat mcopy; do
  command -v $t >/dev/null || { echo "bench_usb: $t is missing (dosfstools, mtools: tools/setup-debian.sh)"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_usb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkfs.fat -C ${RUMP_BENCH_MKFS:--F 32} "$tmp/fat.img" $((${RUMP_BENCH_WRITE:+65536 + }131072)) >/dev/null
head -c $((64 << 20)) /dev/urandom > "$tmp/BIG.BIN"
mcopy -i "$tmp/fat.img" "$tmp/BIG.BIN" ::/BIG.BIN
cat > "$tmp/guest.sh" <<G
export LD_LIBRARY_PATH=$libdir RUMP_USB=46f4:0001 RUMP_VERBOSE=\${RUMP_VERBOSE-1}
# Linux's driver takes the stick back once we release it: wait for its disk.
waitsda() { i=0; while [ ! -b /dev/sda ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done; udevadm settle 2>/dev/null || true; }
mkdir -p /mnt
alt() {
  [ -n "${RUMP_BENCH_ALTLIB:-}${RUMP_BENCH_ALTENV:-}" ] || return 0
  env ${RUMP_BENCH_ALTLIB:+LD_LIBRARY_PATH=/work/altlib} ${RUMP_BENCH_ALTENV:-} /sbin/rumpsu 1000 1000 46 -- ./usbbench BIG.BIN |
    sed 's/^BENCH rump-msdosfs /BENCH rump-msdosfs-alt /'
}
modprobe -a vfat nls_cp437 nls_utf8 nls_ascii || exit 1
for r in \$(seq $rounds); do
  [ \$((r % 2)) = 1 ] && alt
  /sbin/rumpsu 1000 1000 46 -- ./usbbench BIG.BIN || exit 1
  [ \$((r % 2)) = 0 ] && alt
  waitsda
  mount -t vfat -o ro /dev/sda /mnt || exit 1
  sync; echo 3 > /proc/sys/vm/drop_caches
  ./usbbench -host /mnt/BIG.BIN || exit 1
  umount /mnt
  echo 3 > /proc/sys/vm/drop_caches
  ./usbbench -host /dev/sda direct || exit 1
  if [ -n "${RUMP_BENCH_WRITE:-}" ]; then
    /sbin/rumpsu 1000 1000 46 -- ./usbbench -write W.BIN || exit 1
    waitsda
    mount -t vfat /dev/sda /mnt || exit 1
    ./usbbench -host-write /mnt/W.BIN || exit 1
    rm /mnt/W.BIN
    umount /mnt
  fi
  if [ -n "${RUMP_BENCH_DIAG:-}" ]; then
    /sbin/rumpsu 1000 1000 46 -- ./usbguest bench 64 || exit 1
    /sbin/rumpsu 1000 1000 46 -- ./usbguest bench 64 malloc || exit 1
    waitsda
    ./usbbench -etfs fat.img BIG.BIN || exit 1
  fi
done
G
"$here/../qemu/run-guest.sh" --timeout 600 --root --smp "${SMP:-1}" \
  --drive id=fat,file="$tmp/fat.img",format=raw --device usb-storage,drive=fat \
  --copy "$prog" --copy "$libdir:$libdir" --copy "$tmp/guest.sh" \
  ${RUMP_BENCH_DIAG:+--copy "$tmp/fat.img" --copy "$(dirname "$prog")/usbguest"} \
  ${RUMP_BENCH_ALTLIB:+--copy "$RUMP_BENCH_ALTLIB:/work/altlib"} -- sh ./guest.sh | tee "$tmp/out"
# Every read of BIG.BIN must have given its bytes (usbbench's digest: 8 bytes of each sector).
want=$(python3 -c '
import sys
h = 0xcbf29ce484222325
d = open(sys.argv[1], "rb").read()
for off in range(0, len(d) - 7, 512):
    h = ((h ^ int.from_bytes(d[off:off + 8], "little")) * 0x100000001b3) & (2**64 - 1)
print("%016x" % h)' "$tmp/BIG.BIN")
bad=$(grep '^DIGEST ' "$tmp/out" | grep -v '^DIGEST linux-raw ' | grep -vc " $want\$" || true)
[ "$(grep -c '^DIGEST rump-msdosfs ' "$tmp/out")" -ge 1 ] && [ "$bad" -eq 0 ] ||
  { echo "bench_usb: FAILED: $bad reads of BIG.BIN did not give its bytes (digest $want expected)"; exit 1; }
median() { grep "^BENCH $1 " "$tmp/out" | awk '{print $(NF-1)}' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
r=$(median rump-msdosfs) v=$(median linux-vfat) w=$(median linux-raw)
[ -z "${RUMP_BENCH_ALTLIB:-}${RUMP_BENCH_ALTENV:-}" ] ||
  echo "median MB/s: this kernel with ${RUMP_BENCH_ALTLIB:+the library from $RUMP_BENCH_ALTLIB} ${RUMP_BENCH_ALTENV:-} $(median rump-msdosfs-alt)"
if [ -n "${RUMP_BENCH_DIAG:-}" ]; then
  m() { grep "^BENCH $1 " "$tmp/out" | awk '{print $NF}' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
  echo "median MB/s: bare librumpuser_usb reads, zero-copy $(m rumpusb) ordinary buffer $(m rumpusb-malloc);" \
    "this kernel's msdosfs on etfs in guest memory $(median rump-etfs-msdosfs)"
fi
if [ -n "${RUMP_BENCH_WRITE:-}" ]; then
  rw=$(median rump-msdosfs-write) lw=$(median linux-vfat-write)
  echo "median MB/s writing 64 MiB (with fsync): this kernel $rw; Linux vfat $lw;" \
    "ratio $(awk -v a="$rw" -v b="$lw" 'BEGIN{printf "%.2f", a/b}')x"
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
# The host's load drifts during a boot: each round's own ratio (ours / Linux vfat, read back to
# back) is steadier than the ratio of the medians.
rounds_ratio=$(awk '/^BENCH rump-msdosfs /{r=$(NF-1)} /^BENCH linux-vfat /{if (r) printf "%.2f\n", r/$(NF-1); r=0}' "$tmp/out" |
  sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)] " (rounds from " v[1] " to " v[NR] ")"}')
first=$(grep '^START' "$tmp/out" | sed 's/.*first byte \([0-9.]*\) ms.*/\1/' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
echo "median MB/s over $rounds rounds: this kernel (msdosfs) $r; Linux vfat $v; Linux raw /dev/sda O_DIRECT $w;" \
  "ratio to vfat $(ratio "$r" "$v")x, to raw $(ratio "$r" "$w")x; median of the rounds' own ratios to vfat $rounds_ratio;" \
  "first byte after exec (median) $first ms"
