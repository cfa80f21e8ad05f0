#!/bin/sh
# Runs every benchmark and writes bench/results/ (results.md, ratios.svg, the raw outputs) and
# the table in bench/README.md. `cmake --build build --target bench` calls this; it also runs
# on its own after a build.
#
#   bench/run.sh [--quick] [BenchmarkDotNet arguments, e.g. --filter '*Getpid*']
#
# Environment: RUMP_LIBDIR (default build/lib: librump.so and librumpuser.so), DOTNET,
# BOOT_MEM and BOOT_MEM_DLOPEN (the built C programs; compiled here with cc if unset),
# RUMP_LIBDIR_VFS_TMPFS (a base + vfs + tmpfs build, for the bootstrap target; optional),
# RUMP_COMPONENTS (what the default build links, for the table); BENCH_REMOTE, BENCH_REMOTE_READ and
# RUMP_SERVER_BIN (the built remote benchmarks and server; the remote part runs only with them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
libdir=$(cd "${RUMP_LIBDIR:-$repo/build/lib}" && pwd)
dotnet=${DOTNET:-dotnet}
results=$here/results
export RUMP_LIB="$libdir/librump.so"
[ -f "$RUMP_LIB" ] || { echo "run.sh: no $RUMP_LIB (build the library first)" >&2; exit 1; }

quick=
samples=21
instances=100
if [ "${1:-}" = "--quick" ]; then quick=--quick; samples=5; instances=20; shift; fi

mkdir -p "$results"
rm -rf "$results/bdn"
start=$(date +%s)

# The machine, for the table's heading. The load average says how much else was running.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
printf 'Machine: %s, %s CPUs, %s RAM, Linux %s; load average before the run: %s.\n' \
    "$cpu" "$(nproc)" "$mem" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)" > "$results/machine.txt"

echo "== bootstrap and memory (boot_mem, $samples processes each)"
boot_mem=${BOOT_MEM:-}
boot_mem_dlopen=${BOOT_MEM_DLOPEN:-}
if [ -z "$boot_mem" ] || [ -z "$boot_mem_dlopen" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cc -O2 -std=c11 -I"$repo/aot/include" "$here/c/boot_mem.c" "$RUMP_LIB" -Wl,-rpath,"$libdir" -o "$tmp/boot_mem"
    cc -O2 -std=c11 -DBOOT_MEM_DLOPEN "$here/c/boot_mem.c" -ldl -o "$tmp/boot_mem_dlopen"
    boot_mem=$tmp/boot_mem
    boot_mem_dlopen=$tmp/boot_mem_dlopen
fi
{
    echo "components=${RUMP_COMPONENTS:-default}"
    "$boot_mem" "$samples"
    "$boot_mem_dlopen" "$samples"
    if [ -n "${RUMP_LIBDIR_VFS_TMPFS:-}" ]; then
        # The linked program finds librump.so through RUNPATH, which LD_LIBRARY_PATH overrides.
        LD_LIBRARY_PATH="$RUMP_LIBDIR_VFS_TMPFS" "$boot_mem" "$samples" vt
        RUMP_LIB="$RUMP_LIBDIR_VFS_TMPFS/librump.so" "$boot_mem_dlopen" "$samples" vt
    fi
} > "$results/boot_mem.txt"
cat "$results/boot_mem.txt"

echo "== memory of each additional kernel instance (managed API, $instances instances)"
"$dotnet" build "$here/Rump.Bench.Instances/Rump.Bench.Instances.csproj" -c Release --nologo -v:q -clp:ErrorsOnly
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$dotnet" "$here/Rump.Bench.Instances/bin/Release/net10.0/Rump.Bench.Instances.dll" "$instances" > "$results/instances.txt"
cat "$results/instances.txt"

echo "== system calls: rump against the host (BenchmarkDotNet, in process)"
"$dotnet" build "$here/Rump.Bench/Rump.Bench.csproj" -c Release --nologo -v:q -clp:ErrorsOnly
bench_dll=$here/Rump.Bench/bin/Release/net10.0/Rump.Bench.dll
(cd "$results" && "$dotnet" "$bench_dll" $quick --artifacts "$results/bdn" "$@")

printf 'Load average after the run: %s; the whole run took %s s.\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(( $(date +%s) - start ))" >> "$results/machine.txt"

"$dotnet" "$bench_dll" report --bdn "$results/bdn" --boot "$results/boot_mem.txt" \
    --instances "$results/instances.txt" --machine "$results/machine.txt" \
    --out "$results" --readme "$here/README.md" > /dev/null
echo "== wrote $results/results.md, $results/ratios.svg and the table in $here/README.md"

# The remote configuration: a call through rump_server against a unix ping-pong, and read(2) of
# 1 GiB through librumpclient against host cat through a pipe. BENCH_RT=1 (root) runs both
# sides under SCHED_FIFO, which keeps the ratios steady on a shared machine (README.md).
if [ -n "${BENCH_REMOTE:-}" ] && [ -n "${BENCH_REMOTE_READ:-}" ] && [ -n "${RUMP_SERVER_BIN:-}" ]; then
    echo "== remote clients: latency and read throughput through rump_server"
    rt=
    if [ "${BENCH_RT:-}" = 1 ]; then rt="chrt -f 10"; fi
    $rt "$BENCH_REMOTE" "$RUMP_SERVER_BIN" > "$results/remote_latency.txt"
    $rt "$BENCH_REMOTE_READ" "$RUMP_SERVER_BIN" ${quick:+256} > "$results/remote_read.txt"
    "$dotnet" "$bench_dll" remote --latency "$results/remote_latency.txt" --read "$results/remote_read.txt" \
        --machine "$results/machine.txt" --out "$results" > /dev/null
    echo "== wrote $results/remote.md and $results/remote.svg"
fi
