#!/bin/bash
# rumpfuse side by side with the FUSE drivers Linux users use today, on the same image files:
# fuse2fs (ext2), fusefat (FAT32) and fuseiso (ISO 9660), and `cat` of the raw image as the
# reference for sequential reads. Writes bench/results/rumpfuse.md (or $OUT).
#
#   bench/rumpfuse.sh [SIZE_MB]        (default 1024: the issue's 1 GiB file)
#   FSLIST="fat iso" bench/rumpfuse.sh 256      (some of ext2, fat, iso; smaller: see the results' note)
#   ROUNDS=5 bench/rumpfuse.sh                  (rounds per cell, default 3; the table shows medians)
#   WORKLOADS="read" bench/rumpfuse.sh          (some of the workloads below; the others' cells stay empty)
#   RUMPFUSE_SPLICE=0 bench/rumpfuse.sh         (rumpfuse's A/B switch: reads copied, not spliced)
#
# Like with like on a shared machine: in each round every workload runs on rumpfuse and then on the
# peer right after it, each on its own fresh copy of the same image, so load that comes and goes
# hits both sides alike; each cell is the median of ROUNDS rounds. Beside the wall time, the
# driver process's CPU time (user + system, GNU time) is recorded: it hardly depends on the load.
#
# Workloads (each on a fresh mount, so neither the driver's caches nor the host's page cache of
# the mounted files carry over; "warm": the image file is in the host's page cache, "cold": it
# was dropped with posix_fadvise(DONTNEED) (dd iflag=nocache) right before the mount):
#   read     dd of the SIZE_MB file to /dev/null, 1 MiB blocks
#   write    dd of SIZE_MB MiB of zeros to a new file, 1 MiB blocks, conv=fsync
#   find     find | wc -l over a tree of 10,000 entries (100 directories of 99 files)
#   ls-lR    ls -lR of that tree
#   tar-x    tar xf of a 1,000-file source tree (50 directories, 20 files of 1-8 KiB)
#   tar-c    tar cf of that tree, piped to cat (GNU tar skips reading files when it writes to /dev/null)
# ISO 9660 is read-only: write and tar-x do not apply; its tar-c reads the tree xorriso wrote.
#
# Needs root (fresh mounts, dropping caches), fuse2fs, fusefat, fuseiso, GNU time (tools/setup-debian.sh)
# and a built rumpfuse (RUMPFUSE_BIN, default build/bin/rumpfuse).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rumpfuse=${RUMPFUSE_BIN:-$repo/build/bin/rumpfuse}
size=${1:-1024}
rounds=${ROUNDS:-3}
work=${BENCH_WORK:-/var/tmp/rumpfuse-bench}
out=${OUT:-$here/results/rumpfuse.md}
fslist=${FSLIST:-ext2 fat iso}
workloads=${WORKLOADS:-read write find ls-lR tar-x tar-c}
for t in "$rumpfuse" /usr/bin/time fuse2fs fusefat fuseiso mke2fs mkfs.fat mcopy xorriso fusermount fusermount3; do
  command -v "$t" >/dev/null || { echo "rumpfuse.sh: $t is missing (tools/setup-debian.sh)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "rumpfuse.sh: run as root" >&2; exit 1; }

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$work"; mkdir -p "$work/mnt"
mnt=$work/mnt
trap 'fusermount3 -u -z "$mnt" 2>/dev/null || true' EXIT

now() { date +%s.%N; }
drop() { dd if="$1" iflag=nocache count=0 status=none; }          # posix_fadvise(DONTNEED) on the whole file
warm() { cat "$1" > /dev/null; }

# ---- The content: a SIZE_MB file, a 10,000-entry tree, a 1,000-file source tree and its tarball.
echo "== making the content ($size MiB file, 10,000-entry tree, 1,000-file tree)"
src=$work/src; mkdir -p "$src/tree" "$work/srctree/src"
head -c $((size << 20)) /dev/urandom > "$src/big.bin"
for d in $(seq -w 0 99); do
  mkdir "$src/tree/d$d"
  for f in $(seq -w 1 99); do echo "entry $d/$f" > "$src/tree/d$d/f$f"; done
done
for d in $(seq -w 0 49); do
  mkdir "$work/srctree/src/m$d"
  for f in $(seq -w 0 19); do head -c $(( (10#$f % 8 + 1) * 1024 - 17 )) /dev/urandom | base64 > "$work/srctree/src/m$d/s$f.c"; done
done
tar cf "$work/src.tar" -C "$work/srctree" src
cp -r "$work/srctree/src" "$src/src"                                 # for tar-c on the read-only ISO

imgmb=$(( size * 3 + 512 ))          # the file, and one written file per cache mode
echo "== making the images (ext2 and FAT32 of $imgmb MiB, ISO 9660)"
mke2fs -q -F -t ext2 -b 4096 -d "$src" "$work/ext2.img" "${imgmb}M"
mkfs.fat -C -F 32 "$work/fat.img" $(( imgmb * 1024 )) > /dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$work/fat.img" "$src/big.bin" "$src/tree" "$src/src" ::/
xorriso -as mkisofs -quiet -R -o "$work/cd.iso" "$src"

# mount DRIVER IMAGE: serves IMAGE at $mnt in the foreground (in the background of this script).
# GNU time writes the driver's CPU seconds to $work/cpu when it exits.
mount_with() {
  local tm=(/usr/bin/time -f '%U %S' -o "$work/cpu")
  case $1 in
    rumpfuse) RUMPFUSE_STATS=$work/stats "${tm[@]}" "$rumpfuse" -f "$2" "$mnt" >>"$work/driver.log" 2>&1 & ;;
    fuse2fs)  "${tm[@]}" fuse2fs -f "$2" "$mnt" -o rw >>"$work/driver.log" 2>&1 & ;;
    fusefat)  "${tm[@]}" fusefat "$2" "$mnt" -f -o rw+ >>"$work/driver.log" 2>&1 & ;;
    fuseiso)  "${tm[@]}" fuseiso -n "$2" "$mnt" -f >>"$work/driver.log" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 600); do mountpoint -q "$mnt" && return 0; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  echo "rumpfuse.sh: $1 did not mount $2" >&2; tail "$work/driver.log" >&2; exit 1
}
# Unmounts and waits for the driver to exit (its write-back is part of a write workload's time).
umount_with() {
  if [ "$1" = rumpfuse ]; then fusermount3 -u "$mnt"; else fusermount -u "$mnt"; fi
  wait $pid || true
}

declare -A T C
# workload FS DRIVER MODE WORKLOAD: the work itself; fails when the driver did not do it.
workload() {
  local fs=$1 drv=$2 mode=$3 w=$4
  case $w in
    read)  dd if="$mnt/big.bin" of=/dev/null bs=1M status=none ;;
    write) dd if=/dev/zero of="$mnt/w-$mode.bin" bs=1M count="$size" conv=fsync status=none ;;
    find)  find "$mnt/tree" | wc -l > /dev/null ;;
    ls-lR) ls -lR "$mnt/tree" > /dev/null ;;
    # fusefat has no chmod: tar reports each directory's mode it cannot set (the files are
    # written). Any other complaint is a failure.
    tar-x) mkdir "$mnt/x-$mode" &&
           { tar xf "$work/src.tar" -C "$mnt/x-$mode" --no-same-owner 2>"$work/tar.err" ||
             { [ "$drv" = fusefat ] && ! grep -v 'Cannot change mode\|Exiting with failure status' "$work/tar.err" >/dev/null; }; } ;;
    tar-c) if [ "$fs" = iso ]; then tar cf - -C "$mnt" src | cat > /dev/null; else tar cf - -C "$mnt/x-$mode" src | cat > /dev/null; fi ;;
  esac
}

# run FS DRIVER IMAGE MODE WORKLOAD ROUND: one timed workload on a fresh mount. A workload the
# driver fails is recorded as "fail" (its log: $work/driver.log, tar's complaints: $work/tar.err).
run() {
  local fs=$1 drv=$2 img=$3 mode=$4 w=$5 r=$6 t0 t1 ok=1
  if [ "$mode" = cold ]; then drop "$img"; else warm "$img"; fi
  rm -f "$work/cpu" "$work/stats"
  mount_with "$drv" "$img"
  t0=$(now)
  workload "$fs" "$drv" "$mode" "$w" 2>>"$work/workload.err" || ok=0
  # write and tar-x include the unmount: the data is on the image only once the driver has exited.
  case $w in write|tar-x) umount_with "$drv" ;; esac
  t1=$(now)
  case $w in write|tar-x) ;; *) umount_with "$drv" ;; esac
  T[$fs,$drv,$mode,$w,$r]=$(echo "$t1 - $t0" | bc)
  # The driver's whole life (mount and unmount included), the same for both sides.
  C[$fs,$drv,$mode,$w,$r]=$(awk '{printf "%.2f", $1 + $2}' "$work/cpu" 2>/dev/null || echo "?")
  [ $ok -eq 1 ] || { T[$fs,$drv,$mode,$w,$r]=fail; C[$fs,$drv,$mode,$w,$r]=fail; }
  # rumpfuse's reads: "spliced READS BYTES copied READS BYTES" (RUMPFUSE_STATS).
  printf '%-5s %-9s %-4s %-6s round %d %8s s  cpu %s s  %s\n' "$fs" "$drv" "$mode" "$w" "$r" "${T[$fs,$drv,$mode,$w,$r]}" "${C[$fs,$drv,$mode,$w,$r]}" "$(cat "$work/stats" 2>/dev/null || true)"
}
# median ARRAY KEY: the median over the rounds of ARRAY[KEY,round] (empty if none ran, "fail"
# if the driver failed the workload in any round).
median() {
  local -n a=$1
  local i vals=()
  for i in $(seq "$rounds"); do [ -n "${a[$2,$i]:-}" ] && vals+=("${a[$2,$i]}"); done
  [ ${#vals[@]} -gt 0 ] || return 0
  case " ${vals[*]} " in *" fail "*) echo fail; return 0 ;; esac
  printf '%s\n' "${vals[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

rawcat() {
  local mode=$1 img=$2 t0 t1
  if [ "$mode" = cold ]; then drop "$img"; else warm "$img"; fi
  t0=$(now); cat "$img" > /dev/null; t1=$(now)
  echo "$t1 - $t0" | bc
}

for fs in $fslist; do
  case $fs in ext2) img0=$work/ext2.img; peer=fuse2fs;; fat) img0=$work/fat.img; peer=fusefat;; iso) img0=$work/cd.iso; peer=fuseiso;; esac
  for r in $(seq "$rounds"); do
    for drv in rumpfuse $peer; do cp --sparse=always "$img0" "$work/$fs-$drv.img"; done
    for mode in warm cold; do
      for w in $workloads; do
        if [ "$fs" = iso ] && { [ "$w" = write ] || [ "$w" = tar-x ]; }; then continue; fi
        for drv in rumpfuse $peer; do run "$fs" "$drv" "$work/$fs-$drv.img" "$mode" "$w" "$r"; done
      done
    done
    for drv in rumpfuse $peer; do rm -f "$work/$fs-$drv.img"; done
  done
done
# The images are sparse (holes read as zeros without I/O), so the raw reference is cat of the
# same bytes as a host file on the same disk.
declare -A R
for r in $(seq "$rounds"); do R[warm,$r]=$(rawcat warm "$src/big.bin"); R[cold,$r]=$(rawcat cold "$src/big.bin"); done
rawwarm=$(median R warm); rawcold=$(median R cold)

# ---- The table: seconds, and for read the rate and its ratio to cat of the raw image.
{
  echo "# rumpfuse against fuse2fs, fusefat and fuseiso"
  echo
  echo "Generated by \`bench/rumpfuse.sh $size\` on $(date -u +%Y-%m-%d). $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs,"
  echo "Linux $(uname -r); load average before the run: $LOADAVG."
  echo "Seconds (lower is better), the median of $rounds rounds; in each round rumpfuse and the peer run"
  echo "each workload one after the other, each on a fresh mount of its own copy of the image. read/write:"
  echo "a $size MiB file. write and tar-x include the unmount (until the driver has written everything"
  echo "back and exited). The second table is the driver process's CPU time (user + system) for the same"
  echo "runs, mount to exit: it depends little on the machine's load. \"failed\": the driver did not do the"
  echo "workload in at least one round (for example fusefat cannot make directories beyond 2 GiB into an image)."
  echo
  for table in T C; do
    if [ $table = T ]; then echo "### Wall time, seconds"; else echo "### Driver CPU time, seconds"; fi
    echo
    echo "| file system | driver | cache | read | write | find \\| wc -l | ls -lR | tar x | tar c |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for fs in $fslist; do
      case $fs in ext2) peer=fuse2fs;; fat) peer=fusefat;; iso) peer=fuseiso;; esac
      for mode in warm cold; do
        for drv in rumpfuse $peer; do
          row="| $fs | $drv | $mode |"
          for w in read write find ls-lR tar-x tar-c; do
            v=$(median $table "$fs,$drv,$mode,$w")
            if [ -z "$v" ]; then row="$row – |"
            elif [ "$v" = fail ]; then row="$row failed |"
            elif [ $table = T ] && [ "$w" = read ]; then row="$row $(printf '%.2f (%.0f MiB/s)' "$v" "$(echo "$size / $v" | bc -l)") |"
            else row="$row $(printf '%.2f' "$v") |"; fi
          done
          echo "$row"
        done
      done
    done
    echo
  done
  echo
  printf 'Reference: `cat` of the same %s MiB as a host file on the same disk (the images are sparse, so cat of a whole image reads holes): warm %.2f s (%.0f MiB/s), cold %.2f s (%.0f MiB/s).\n' \
    "$size" "$rawwarm" "$(echo "$size / $rawwarm" | bc -l)" "$rawcold" "$(echo "$size / $rawcold" | bc -l)"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "== wrote $out"
