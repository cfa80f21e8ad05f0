#!/bin/bash
# The tar rows of bench/rumpfuse.sh alone, small and quick, for finding where rumpfuse's time goes:
# tar xf of the 1,000-file source tree (50 directories of 20 files of 1-8 KiB, as rumpfuse.sh makes
# it) onto a fresh ext2 image, then tar cf of it, through rumpfuse and through fuse2fs, each on a
# fresh mount of its own copy of the same image, ROUNDS rounds (default 3), warm host page cache.
#
#   bench/fusetar.sh                 wall s, driver CPU s (GNU time) per round, and the load average
#   STRACE=1 bench/fusetar.sh        one round, and each driver's system calls (strace -c -f)
#   DEBUG=1 bench/fusetar.sh         one round, and each driver's FUSE requests counted by opcode (-d)
#   PERFSTAT=1 bench/fusetar.sh      perf stat (task clock, context switches) of each driver
#   IMAGE=ext2.img COLD=1 bench/fusetar.sh   on copies of that image (default: a fresh 512 MiB one),
#                                    the host's cache of it dropped before each mount (default: warm)
#
# tar-x includes the unmount (until the driver has written everything back and exited).
# Needs root, fuse2fs, GNU time, and a built rumpfuse (RUMPFUSE_BIN, default build/bin/rumpfuse).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rumpfuse=${RUMPFUSE_BIN:-$repo/build/bin/rumpfuse}
rounds=${ROUNDS:-3}
work=${BENCH_WORK:-/var/tmp/fusetar-bench}
drivers=${DRIVERS:-rumpfuse fuse2fs}
[ "${STRACE:-0}" = 1 ] || [ "${DEBUG:-0}" = 1 ] && rounds=1
for t in "$rumpfuse" /usr/bin/time fuse2fs mke2fs fusermount fusermount3; do
  command -v "$t" >/dev/null || { echo "fusetar.sh: $t is missing (tools/setup-debian.sh)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "fusetar.sh: run as root" >&2; exit 1; }
rm -rf "$work"; mkdir -p "$work/mnt" "$work/srctree/src" "$work/empty"
mnt=$work/mnt
trap 'fusermount3 -u -z "$mnt" 2>/dev/null || true' EXIT
now() { date +%s.%N; }

for d in $(seq -w 0 49); do
  mkdir "$work/srctree/src/m$d"
  for f in $(seq -w 0 19); do head -c $(( (10#$f % 8 + 1) * 1024 - 17 )) /dev/urandom | base64 > "$work/srctree/src/m$d/s$f.c"; done
done
tar cf "$work/src.tar" -C "$work/srctree" src
if [ -n "${IMAGE:-}" ]; then cp --sparse=always "$IMAGE" "$work/ext2.img"
else mke2fs -q -F -t ext2 -b 4096 -d "$work/empty" "$work/ext2.img" 512M; fi

mount_with() {
  local wrap=(/usr/bin/time -f '%U %S %c %w' -o "$work/cpu")
  [ "${STRACE:-0}" = 1 ] && wrap=(strace -c -f -o "$work/strace-$1.txt")
  [ "${PERFSTAT:-0}" = 1 ] && wrap=(perf stat -e task-clock,context-switches,cpu-migrations -o "$work/perf-$1-$2.txt")
  local dbg=()
  case $1 in
    rumpfuse) [ "${DEBUG:-0}" = 1 ] && dbg=(-d); "${wrap[@]}" "$rumpfuse" -f "${dbg[@]}" "$work/img-$1" "$mnt" >"$work/driver-$1-$2.log" 2>&1 & ;;
    fuse2fs)  [ "${DEBUG:-0}" = 1 ] && dbg=(-o debug); "${wrap[@]}" fuse2fs -f "$work/img-$1" "$mnt" -o rw "${dbg[@]}" >"$work/driver-$1-$2.log" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 600); do mountpoint -q "$mnt" && return 0; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  echo "fusetar.sh: $1 did not mount" >&2; tail "$work/driver-$1-$2.log" >&2; exit 1
}
umount_with() {
  if [ "$1" = rumpfuse ]; then fusermount3 -u "$mnt"; else fusermount -u "$mnt"; fi
  wait $pid || true
}
cpu() { [ -f "$work/cpu" ] && awk '{printf "cpu %.2f s (vol cs %s, invol cs %s)", $1 + $2, $4, $3}' "$work/cpu"; true; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for drv in $drivers; do cp --sparse=always "$work/ext2.img" "$work/img-$drv"; done
  for w in tar-x tar-c; do
    for drv in $drivers; do
      if [ "${COLD:-0}" = 1 ]; then dd if="$work/img-$drv" iflag=nocache count=0 status=none; else cat "$work/img-$drv" > /dev/null; fi
      rm -f "$work/cpu"
      mount_with "$drv" "$w"
      t0=$(now); tu=
      case $w in
        tar-x) mkdir "$mnt/x"; tar xf "$work/src.tar" -C "$mnt/x" --no-same-owner; tu=$(now); umount_with "$drv" ;;
        tar-c) tar cf - -C "$mnt/x" src | cat > /dev/null ;;
      esac
      t1=$(now)
      [ $w = tar-c ] && umount_with "$drv"
      split=; [ -n "$tu" ] && split=$(printf '(tar %.3f, unmount %.3f)' "$(echo "$tu - $t0" | bc)" "$(echo "$t1 - $tu" | bc)")
      printf '%-9s %-5s round %d  %6.3f s %s  %s  load %s\n' "$drv" "$w" "$r" "$(echo "$t1 - $t0" | bc)" "$split" "$(cpu)" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
e2fsck -fn "$work/img-rumpfuse" >/dev/null 2>&1 && echo "e2fsck -fn of rumpfuse's image: clean" || echo "e2fsck -fn of rumpfuse's image: NOT CLEAN"
if [ "${DEBUG:-0}" = 1 ]; then
  for drv in $drivers; do for w in tar-x tar-c; do
    echo "== $drv $w: FUSE requests by opcode"
    grep -o 'opcode: [A-Z_]*' "$work/driver-$drv-$w.log" | sort | uniq -c | sort -rn
  done; done
fi
if [ "${STRACE:-0}" = 1 ]; then for drv in $drivers; do echo "== $drv"; head -25 "$work/strace-$drv.txt"; done; fi
if [ "${PERFSTAT:-0}" = 1 ]; then for f in "$work"/perf-*.txt; do echo "== $f"; grep -E 'task-clock|context|migr|elapsed' "$f"; done; fi
