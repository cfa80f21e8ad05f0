#!/bin/bash
# One sequential read through rumpfuse, looked at closely: RUNS fresh mounts of the same image,
# each reading the same file once with dd (1 MiB blocks), the image warm in the host's page cache.
# Per run: wall time, rumpfuse's CPU time split into user and system with its page faults and
# context switches (perf stat), how rumpfuse answered the reads (RUMPFUSE_STATS), and how much
# memory the VM handed back to its host meanwhile (page_reporting's reported_kib, where the guest
# kernel has it), since memory the host took back costs a fault in the host when touched again.
#
#   bench/fuseread.sh [SIZE_MB] [RUNS]        (default 1024 MiB, 5 runs; needs root, perf)
#   FS=fat|iso|ext2 (default ext2)   PAUSE=S  (seconds between runs, default 0)
#   RUMPFUSE_SPLICE=0 / RUMPFUSE_OPTS="-o direct_io"   (rumpfuse's switches, for A/B runs)
#   PEER=1                            (also time the same read through fuse2fs/fusefat/fuseiso)
#   PASSTHROUGH=/path/to/binary       (also read the file as a plain host file through that FUSE
#                                     passthrough server, mounted on the source directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rumpfuse=${RUMPFUSE_BIN:-$repo/build/bin/rumpfuse}
size=${1:-1024}
runs=${2:-5}
fs=${FS:-ext2}
pause=${PAUSE:-0}
work=${BENCH_WORK:-/var/tmp/rumpfuse-read}
for t in "$rumpfuse" perf dd; do command -v "$t" >/dev/null || { echo "fuseread.sh: $t is missing" >&2; exit 1; }; done
[ "$(id -u)" -eq 0 ] || { echo "fuseread.sh: run as root" >&2; exit 1; }
rep=/sys/module/page_reporting/parameters/reported_kib
reported() { cat "$rep" 2>/dev/null || echo 0; }

rm -rf "$work"; mkdir -p "$work/mnt" "$work/src"
mnt=$work/mnt
trap 'fusermount3 -u -z "$mnt" 2>/dev/null || true' EXIT
head -c $((size << 20)) /dev/urandom > "$work/src/big.bin"
case $fs in
  ext2) img=$work/ext2.img; mke2fs -q -F -t ext2 -b 4096 -d "$work/src" "$img" "$((size + 256))M"; peer=(fuse2fs -f "$img" "$mnt" -o ro) ;;
  fat)  img=$work/fat.img; mkfs.fat -C -F 32 "$img" $(( (size + 256) * 1024 )) >/dev/null
        MTOOLS_SKIP_CHECK=1 mcopy -i "$img" "$work/src/big.bin" ::/; peer=(fusefat "$img" "$mnt" -f) ;;
  iso)  img=$work/cd.iso; xorriso -as mkisofs -quiet -R -o "$img" "$work/src"; peer=(fuseiso -n "$img" "$mnt" -f) ;;
  *) echo "fuseread.sh: FS is ext2, fat or iso" >&2; exit 1 ;;
esac
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $fs, $size MiB, RUNS=$runs PAUSE=$pause RUMPFUSE_SPLICE=${RUMPFUSE_SPLICE:-} RUMPFUSE_OPTS=${RUMPFUSE_OPTS:-}"

waitmount() {
  for _ in $(seq 600); do mountpoint -q "$mnt" && return 0; kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  echo "fuseread.sh: no mount" >&2; exit 1
}
# one LABEL CMD...: mounts with CMD under perf stat, reads the file, unmounts; one line of numbers.
one() {
  local label=$1; shift
  cat "$img" > /dev/null
  rm -f "$work/stats" "$work/perf"
  sleep "$pause"
  local r0; r0=$(reported)
  RUMPFUSE_STATS=$work/stats perf stat -x, -e task-clock,user_time,system_time,page-faults,context-switches -o "$work/perf" "$@" >>"$work/driver.log" 2>&1 &
  local pid=$!
  waitmount $pid
  local t0 t1; t0=$(date +%s.%N)
  dd if="$mnt/${file:-big.bin}" of=/dev/null bs=1M status=none
  t1=$(date +%s.%N)
  fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"
  wait $pid || true
  awk -F, -v l="$label" -v w="$(echo "$t1 - $t0" | bc)" -v rk="$(( $(reported) - r0 ))" -v st="$(cat "$work/stats" 2>/dev/null || true)" '
    $3 == "task-clock" {cpu = $1} $3 ~ /user_time/ {u = $1} $3 ~ /system_time/ {s = $1}
    $3 == "page-faults" {pf = $1} $3 == "context-switches" {cs = $1}
    END {printf "%-9s wall %6.3f s  cpu %6.3f s (user %.3f sys %.3f)  faults %7d  csw %7d  host took back %8d KiB  %s\n",
         l, w, cpu / 1000, u / 1e9, s / 1e9, pf, cs, rk, st}' "$work/perf"
}
for r in $(seq "$runs"); do
  # shellcheck disable=SC2086
  one rumpfuse "$rumpfuse" -f ${RUMPFUSE_OPTS:-} "$img" "$mnt"
  if [ -n "${PEER:-}" ]; then one "${peer[0]}" "${peer[@]}"; fi
  if [ -n "${PASSTHROUGH:-}" ]; then one passthru "$PASSTHROUGH" -f -o source="$work/src" "$mnt"; fi
done
t0=$(date +%s.%N); cat "$work/src/big.bin" > /dev/null; t1=$(date +%s.%N)
echo "cat of the file as a host file (warm): $(echo "$t1 - $t0" | bc) s"
