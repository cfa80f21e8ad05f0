#!/usr/bin/env bash
# run-guest.sh [OPTIONS] -- COMMAND [ARGS...]
#
# Boots the QEMU test guest with emulated USB devices on a qemu-xhci bus, runs COMMAND in /work
# as uid 1000 (groups 1000 and plugdev) or as root, streams its stdout+stderr here line by line,
# and exits with COMMAND's status; 125 (with a message on stderr) if the guest failed to boot,
# crashed or timed out. The contract is documented in README.md beside this script.
#
#   --device SPEC          a QEMU -device (bus=xhci.0 is added unless SPEC names a bus)
#   --drive id=ID,file=IMG,format=raw
#                          an image for a usb-storage device (drive=ID); changed in place
#   --copy HOST[:GUEST]    a file or directory copied in (default /work/NAME), with the shared
#                          libraries its ELF files need (ldd, plus glibc's libgcc_s), at their
#                          host paths
#   --libdir DIR           a shared library that ldd finds for a copied file comes from DIR instead
#                          when DIR has one of the same name (at the path ldd gave): e.g.
#                          build/guest, whose librump.so is built for the guest's CPU
#   --monitor SOCKET       QEMU's HMP monitor on a unix socket (sendkey, device_add, device_del)
#   --qmp SOCKET           QEMU's QMP on a unix socket (the C# wrapper uses it)
#   --timeout SECONDS      whole run, boot included (default 300: a loaded host slows TCG a lot)
#   --root                 run COMMAND as root
#   --perm udev|mdev|none  who makes /dev/bus/usb nodes group-plugdev: a udev rule (default),
#                          busybox mdev, or nobody (then opening a device is EACCES for uid 1000)
#   --no-udevd             no systemd-udevd in the guest (then --perm udev means mdev): Debian's
#                          libusb gets no hot-plug events, as in a container
#   --smp N, --mem MIB     guest CPUs (default 2) and memory (default 1024)
#   --cpu MODEL            QEMU's -cpu (default qemu64 with x86-64-v2's additions, see below)
#   --console FILE         the guest's console log goes there as it is written (kept afterwards)
#   --base DIR             the guest built by build-base.sh (default: $RUMP_QEMU_BASE, else
#                          build/qemu beside this source tree; built there if absent)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=${RUMP_QEMU_BASE:-$here/../../build/qemu}
libdir_override= devices=() drives=() copies=() monitor= qmp= timeout=300 asroot=0 perm=udev udevd=1 smp=2 mem=1024 console=
# qemu64 plus what x86-64-v2 adds, which NativeAOT code requires ("The required instruction sets
# are not supported by the current CPU" otherwise). Not -cpu max: with it the guest kernel copies
# memory with an instruction TCG emulates slowly.
cpu=qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16,+lahf-lm

fail() { echo "run-guest.sh: $*" >&2; exit 125; }
while [ $# -gt 0 ]; do
  case $1 in
    --device) devices+=("$2"); shift 2 ;;
    --drive) drives+=("$2"); shift 2 ;;
    --copy) copies+=("$2"); shift 2 ;;
    --libdir) libdir_override=$2; shift 2 ;;
    --monitor) monitor=$2; shift 2 ;;
    --qmp) qmp=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --root) asroot=1; shift ;;
    --perm) perm=$2; shift 2 ;;
    --no-udevd) udevd=0; shift ;;
    --smp) smp=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --console) console=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --) shift; break ;;
    *) fail "unknown option $1 (usage: see the top of $0)" ;;
  esac
done
[ $# -gt 0 ] || fail "no command after --"
case $perm in udev|mdev|none) ;; *) fail "--perm must be udev, mdev or none" ;; esac

command -v qemu-system-x86_64 >/dev/null ||
  fail "qemu-system-x86_64 is missing: install the Debian package qemu-system-x86 (tools/setup-debian.sh)"
command -v cpio >/dev/null || fail "cpio is missing: install the Debian package cpio (tools/setup-debian.sh)"
# The cached guest is rebuilt when its sources or the host's kernels change.
stamp=$(cat "$here/build-base.sh" "$here/init.sh" "$here/rumpsu.c" | sha256sum | cut -c1-16)-$(ls /boot 2>/dev/null | grep '^vmlinuz-' | tr '\n' ' ')
if [ ! -f "$base/base.cpio" ] || [ ! -f "$base/vmlinux" ] || [ "$(cat "$base/stamp" 2>/dev/null)" != "$stamp" ]; then
  "$here/build-base.sh" "$base" >&2 || fail "could not build the guest in $base (see above)"
  echo "$stamp" > "$base/stamp"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rump-guest.XXXXXX")
qpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 125' INT TERM HUP

# --- the run's archive: settings, the command, the files and their libraries -------------------
run=$tmp/run
mkdir -p "$run/cmd" "$run/work"
libdirs=()
add_lib() { # host path of a shared library: same path in the guest
  local lib=$1
  local src=$lib
  [ -e "$run$lib" ] && return
  [ -n "$libdir_override" ] && [ -e "$libdir_override/$(basename "$lib")" ] && src=$libdir_override/$(basename "$lib")
  mkdir -p "$run$(dirname "$lib")"
  cp -L "$src" "$run$lib" || fail "cannot copy $src"
  case $(dirname "$lib") in
    /lib|/lib64|/usr/lib|/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu) ;;
    *) libdirs+=("$(dirname "$lib")") ;;
  esac
}
add_closure() { # an ELF file: the libraries ldd finds for it
  local f=$1 lib
  head -c 4 "$f" 2>/dev/null | grep -q ELF || return 0
  while read -r lib; do add_lib "$lib"; done < <(ldd "$f" 2>/dev/null |
    awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}')
}
for c in "${copies[@]}"; do
  src=${c%%:*}
  if [ "$src" != "$c" ]; then dst=${c#*:}; else dst=/work/$(basename "$src"); fi
  [ -e "$src" ] || fail "--copy: $src does not exist"
  mkdir -p "$run$(dirname "$dst")"
  cp -rL "$src" "$run$dst" || fail "cannot copy $src"
  while IFS= read -r -d '' f; do add_closure "$f"; done < <(find "$src" -type f -print0)
done
# glibc loads libgcc_s.so.1 with dlopen when a thread exits or is cancelled (the kernel's threads do
# at halt), so ldd never lists it. awk reads to the end: stopping early would kill ldconfig with
# SIGPIPE, which pipefail turns into a failure.
if [ -e "$run/lib/x86_64-linux-gnu/libc.so.6" ] || [ -e "$run/usr/lib/x86_64-linux-gnu/libc.so.6" ]; then
  libgcc=$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ && !f {print $NF; f = 1}')
  [ -n "$libgcc" ] || fail "libgcc_s.so.1 is not on the host (Debian package libgcc-s1)"
  add_lib "$libgcc"
fi

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
  printf 'exec'
  for a in "$@"; do printf ' %s' "$(q "$a")"; done
  printf '\n'
} > "$run/cmd/run"
libpath=$(IFS=:; echo "${libdirs[*]:-}")
cat > "$run/cmd/env" <<E
RUMP_NDEV=${#devices[@]}
RUMP_ROOT=$asroot
RUMP_PERM=$perm
RUMP_UDEVD=$udevd
RUMP_LIBPATH='$libpath'
E
(cd "$run" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$tmp/run.cpio" ||
  fail "cpio failed"
cat "$base/base.cpio" "$tmp/run.cpio" > "$tmp/initrd"

# --- QEMU -------------------------------------------------------------------------------------
conslog=${console:-$tmp/console}
: > "$conslog" || fail "cannot write the console log $conslog"
args=(-M pc -cpu "$cpu" -accel tcg -smp "$smp" -m "$mem" -nodefaults -display none -no-reboot
      -kernel "$base/vmlinux" -initrd "$tmp/initrd"
      -append "console=ttyS0 quiet panic=-1 rdinit=/init mitigations=off tsc=reliable no_timer_check"
      -serial "file:$conslog" -serial stdio
      -device qemu-xhci,id=xhci,p2=8,p3=8)
for d in "${drives[@]}"; do args+=(-drive "if=none,$d"); done
for d in "${devices[@]}"; do
  case ,$d, in *,bus=*) args+=(-device "$d") ;; *) args+=(-device "$d,bus=xhci.0") ;; esac
done
[ -n "$monitor" ] && args+=(-monitor "unix:$monitor,server=on,wait=off")
[ -n "$qmp" ] && args+=(-qmp "unix:$qmp,server=on,wait=off")

status=
exec 3< <(exec qemu-system-x86_64 "${args[@]}" < /dev/null 2> "$tmp/qemu.err")
qpid=$!
# The watchdog holds none of our output open (a caller reading it to the end would wait for the
# watchdog), and takes its sleep with it when killed.
(
  trap 'kill "$spid" 2>/dev/null; exit 0' TERM
  sleep "$timeout" & spid=$!
  wait "$spid" && { kill "$qpid" 2>/dev/null; touch "$tmp/timedout"; }
) > /dev/null 2>&1 < /dev/null &
wpid=$!
while IFS= read -r line <&3 || [ -n "$line" ]; do
  line=${line%$'\r'}
  case $line in
    *$'\001'RUMP-EXIT*)
      pre=${line%%$'\001'RUMP-EXIT*}
      [ -n "$pre" ] && printf '%s\n' "$pre"
      status=${line#*$'\001'RUMP-EXIT }
      status=${status%%$'\001'*}
      ;;
    *) printf '%s\n' "$line" ;;
  esac
  line=
done
exec 3<&-
wait "$qpid" 2>/dev/null
qpid=
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; wpid=
if [ -z "$status" ]; then
  if [ -e "$tmp/timedout" ]; then
    echo "run-guest.sh: the guest timed out after ${timeout}s; the end of its console:" >&2
  else
    echo "run-guest.sh: the guest stopped without the command's exit status; QEMU said:" >&2
    cat "$tmp/qemu.err" >&2
    echo "run-guest.sh: the end of its console:" >&2
  fi
  tail -n 30 "$conslog" >&2
  exit 125
fi
exit "$status"
