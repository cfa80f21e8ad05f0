#!/bin/bash
# Where the time of a large ext2 write goes: `fsu put` of a SIZE_MB file onto a fresh mke2fs image
# (no FUSE), then the same bytes through rumpfuse with dd bs=1M (conv=fsync, timed until rumpfuse
# has unmounted and exited), and through fuse2fs as the reference. Each under `perf stat` for
# CPU time, context switches, pwrite(2) calls (each block transfer rumpuser_bio makes is one) and
# futex(2) calls (thread hand-offs). Afterwards e2fsck -fn must be clean.
#
#   bench/ext2write.sh [SIZE_MB] [RUNS]      (default 1024 MiB, 3 runs of each)
#
# Needs root (FUSE mounts), perf, mke2fs, e2fsck, fuse2fs and a built fsu and rumpfuse
# (FSU_BIN, RUMPFUSE_BIN; default build/bin/...). Prints one line per run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
fsu=${FSU_BIN:-$repo/build/bin/fsu}
rumpfuse=${RUMPFUSE_BIN:-$repo/build/bin/rumpfuse}
size=${1:-1024}
runs=${2:-3}
work=${BENCH_WORK:-/var/tmp/ext2write-bench}
for t in "$fsu" "$rumpfuse" perf mke2fs e2fsck fuse2fs fusermount3; do
  command -v "$t" >/dev/null || { echo "ext2write.sh: $t is missing" >&2; exit 1; }
done
mkdir -p "$work/mnt"
mnt=$work/mnt
trap 'fusermount3 -u -z "$mnt" 2>/dev/null || true' EXIT
src=$work/big.bin
[ -f "$src" ] && [ "$(stat -c %s "$src")" -eq $((size << 20)) ] || head -c $((size << 20)) /dev/urandom > "$src"
img=$work/ext2.img

fresh() { rm -f "$img"; mke2fs -q -F -t ext2 -b 4096 "$img" $((size * 2 + 256))M >/dev/null; }
check() { e2fsck -fn "$img" >/dev/null 2>&1 || { echo "ext2write.sh: e2fsck -fn is not clean after $1" >&2; exit 1; }; }
# stat LABEL CMD...: runs CMD (and its threads) under perf stat; prints its CPU time, context
# switches, pwrite and futex calls.
stat() {
  local label=$1; shift
  perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_pwrite64,syscalls:sys_enter_futex -o "$work/perf.txt" -- "$@"
  local cpu cs pw fx
  cpu=$(awk -F, '$3=="task-clock"{printf "%.2f", $1/1000}' "$work/perf.txt")
  cs=$(awk -F, '$3=="context-switches"{print $1}' "$work/perf.txt")
  pw=$(awk -F, '$3=="syscalls:sys_enter_pwrite64"{print $1}' "$work/perf.txt")
  fx=$(awk -F, '$3=="syscalls:sys_enter_futex"{print $1}' "$work/perf.txt")
  printf '%-14s cpu %7s s  cswitch %8s  pwrite %7s  futex %8s  load %s\n' "$label" "$cpu" "$cs" "$pw" "$fx" "$(cut -d' ' -f1 /proc/loadavg)"
}

# rumpfuse and fuse2fs run in the foreground under perf; dd writes, then the unmount ends them.
fusewrite() {
  local drv=$1
  ( for _ in $(seq 600); do mountpoint -q "$mnt" && break; sleep 0.05; done
    t0=$(date +%s.%N)
    dd if="$src" of="$mnt/big.bin" bs=1M conv=fsync status=none
    fusermount3 -u "$mnt"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc > "$work/wall.txt" ) &
  local helper=$!
  if [ "$drv" = rumpfuse ]; then stat "rumpfuse dd" "$rumpfuse" -f "$img" "$mnt"
  else stat "fuse2fs dd" fuse2fs -f "$img" "$mnt" -o rw; fi
  wait $helper
  printf '%-14s wall %6.2f s (dd and unmount)\n' "" "$(cat "$work/wall.txt")"
}

echo "== $size MiB onto ext2 (4 KiB blocks), $runs runs each; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$runs"); do
  fresh
  t0=$(date +%s.%N)
  stat "fsu put" "$fsu" put "$img" "$src" /big.bin
  t1=$(date +%s.%N)
  printf '%-14s wall %6.2f s\n' "" "$(echo "$t1 - $t0" | bc)"
  check "fsu put"
  fresh; fusewrite rumpfuse; check rumpfuse
  fresh; fusewrite fuse2fs; check fuse2fs
done
