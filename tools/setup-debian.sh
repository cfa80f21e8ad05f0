#!/usr/bin/env bash
# Installs what building and testing rump needs on Debian (12 or later). The .NET SDK (net10.0)
# is expected on the machine already; Debian does not package it, so this script checks for it.
set -euo pipefail

packages=(
  cmake make gcc libc6-dev pkg-config   # the C hypercall library, the C tests, the example
  zlib1g-dev                            # NativeAOT's native link step
  linux-perf valgrind                   # profiling the benchmarks (bench/)
  dosfstools mtools                     # FAT images made and checked by the real tools (tests)
  e2fsprogs                             # ext2/ext4 images: mke2fs, e2fsck, debugfs (tests)
  xorriso                               # ISO 9660 images with Rock Ridge and Joliet (tests)
  fdisk                                 # sfdisk: MBR and GPT partition tables (tests)
  libusb-1.0-0-dev                      # librumpuser_usb.so, the USB hypercalls (hypercall/usb)
  qemu-system-x86                       # the USB tests' guest with emulated xHCI devices (tests/qemu)
  linux-image-amd64 kmod                # that guest's kernel and its USB modules, depmod/modprobe
  busybox-static cpio xz-utils zstd     # that guest's initramfs (busybox, mdev, cpio) and its kernel's payload (xz or zstd)
  udev                                  # systemd-udevd in the guest: libusb's hot-plug events and the plugdev rule
  socat                                 # shell tests talking to the guest's QEMU monitor (sendkey, device_del); UDP/TCP peers of the network tests
  iproute2 iputils-ping ethtool         # network tests: ip netns, veth, ss; ping and ping -6 as the host stack's traffic;
                                        # ethtool turns veth's checksum offload off (tests/Rump.Tests/Net)
  python3 curl                          # sockin's tests: python3 -m http.server and curl as the host's peers (tests/c/t_sockin.c)
  wget netcat-openbsd                   # unmodified network programs under librumphijack, with curl and socat (tests/hijack/net.sh);
                                        # nc -l / nc against the kernel's TCP (TcpLinuxSocketTests)
  tcpdump                               # the capture of TCP's options negotiated with Linux (TcpLinuxSocketTests)
  iperf3                                # bench/tcp.sh: the host's loopback TCP throughput beside the kernels'; hijack.net.iperf
  radvd                                 # Linux as the IPv6 router whose advertisements the kernel's SLAAC takes (SlaacTests)
  libfuse3-dev fuse3                    # rumpfuse (tools/rumpfuse: libfuse3.so.3, fusermount3) and its layout test's headers
  git rsync                             # rumpfuse's tool tests: git init/add/commit and rsync -a on a mount (RumpfuseTests)
  fuse2fs fusefat fuseiso time          # the FUSE drivers rumpfuse is benchmarked against, and GNU time for their CPU (bench/rumpfuse.sh)
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup-debian.sh: the .NET SDK (dotnet, net10.0) is required and was not found on PATH" >&2
  exit 1
fi
dotnet --version | grep -q '^10\.' || { echo "setup-debian.sh: need .NET SDK 10.x, found $(dotnet --version)" >&2; exit 1; }
echo "setup-debian.sh: all build and test dependencies are present"
