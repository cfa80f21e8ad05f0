#!/usr/bin/env bash
# Disk-image benchmark (issue: file system images as a library): extract a tree of 1,000 files /
# 200 MiB out of a FAT32 image and out of an ext2 image with fsu, side by side with mcopy -s and
# debugfs rdump; and read one 1 GiB file out of an ext2 image with fsu cat against cat on the
# host file. Images are made by the real tools; every run reads from the page cache on both sides.
#
#   bench/images/run.sh FSU [RESULTS_DIR]       (cmake --build build --target bench_images)
set -euo pipefail
FSU=${1:?usage: run.sh path/to/fsu [results-dir]}
OUT=${2:-$(cd "$(dirname "$0")/.." && pwd)/results}
RUNS=${RUNS:-3}
W=$(mktemp -d /tmp/rump-imgbench.XXXXXX)
trap 'rm -rf "$W"' EXIT

echo "making the tree (1,000 files, 200 MiB) and the images in $W" >&2
mkdir -p "$W/src/tree"
for d in $(seq 0 9); do
  mkdir -p "$W/src/tree/dir$d"
  for f in $(seq 0 99); do
    # 100..300 KiB, 200 KiB on average: 200 MiB in all
    head -c $(( (100 + (d * 100 + f) * 37 % 201) * 1024 )) /dev/urandom > "$W/src/tree/dir$d/file$f.bin"
  done
done
mkfs.fat -F 32 -C "$W/fat.img" $((320 * 1024)) >/dev/null
mcopy -s -i "$W/fat.img" "$W/src/tree" ::/
mke2fs -q -t ext2 -b 4096 -d "$W/src" "$W/ext2.img" 320M
mkdir -p "$W/big"
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$W/big/big.bin"
mke2fs -q -t ext2 -b 4096 -d "$W/big" "$W/big.img" 1100M

# median of RUNS wall-clock times of a command, in seconds
timeit() {
  local ts=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$W/out" && mkdir -p "$W/out"
    local a b
    a=$(date +%s%N); "$@" >/dev/null 2>"$W/err" || { echo "failed: $* ($(cat "$W/err"))" >&2; exit 1; }; b=$(date +%s%N)
    ts+=("$(( b - a ))")
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | awk '{ printf "%.3f", $1 / 1e9 }'
}

t_mcopy=$(timeit mcopy -s -i "$W/fat.img" ::/tree "$W/out/")
t_fsu_fat=$(timeit "$FSU" cp -r "$W/fat.img" /tree "$W/out/")
t_debugfs=$(timeit debugfs -R "rdump /tree $W/out" "$W/ext2.img")
t_fsu_ext2=$(timeit "$FSU" cp -r "$W/ext2.img" /tree "$W/out/")
t_cat=$(timeit sh -c "cat '$W/big/big.bin' > /dev/null")
t_fsu_cat=$(timeit sh -c "'$FSU' cat '$W/big.img' /big.bin > /dev/null")

# the extracted trees are checked once, so a fast wrong answer cannot win
check() { "$@" || { echo "check failed: $*" >&2; exit 1; }; }
for img in fat.img ext2.img; do
  rm -rf "$W/out" && mkdir -p "$W/out"
  check "$FSU" cp -r "$W/$img" /tree "$W/out/"
  check diff -r "$W/src/tree" "$W/out/tree"
done
rm -rf "$W/out" && mkdir -p "$W/out"
check mcopy -s -i "$W/fat.img" ::/tree "$W/out/" && check diff -qr "$W/src/tree" "$W/out/tree"
rm -rf "$W/out" && mkdir -p "$W/out"
check debugfs -R "rdump /tree $W/out" "$W/ext2.img" && check diff -qr "$W/src/tree" "$W/out/tree"
"$FSU" cat "$W/big.img" /big.bin | check cmp - "$W/big/big.bin"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mkdir -p "$OUT"
{
  echo "### Disk images: fsu against the usual tools"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Median of $RUNS runs, wall clock, images and host file in the page cache. Ratio = fsu / tool (below 1: fsu is faster)."
  echo
  echo "| task | tool | tool time | fsu time | ratio | target |"
  echo "|---|---|---:|---:|---:|---|"
  echo "| extract 1,000 files / 200 MiB from FAT32 | mcopy -s | ${t_mcopy} s | ${t_fsu_fat} s | $(ratio "$t_fsu_fat" "$t_mcopy") | < 1 |"
  echo "| extract 1,000 files / 200 MiB from ext2 | debugfs rdump | ${t_debugfs} s | ${t_fsu_ext2} s | $(ratio "$t_fsu_ext2" "$t_debugfs") | < 1 |"
  echo "| read one 1 GiB file from ext2 | cat (host file) | ${t_cat} s | ${t_fsu_cat} s | $(ratio "$t_fsu_cat" "$t_cat") | ≤ 1.5 |"
  echo
  echo "Each fsu run is a whole process: boot the kernel, register the image, probe, mount, copy, unmount."
} > "$OUT/images.md"
cat "$OUT/images.md"
