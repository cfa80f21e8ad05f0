using System;
using System.Runtime.InteropServices;
using Rump.Hypercall;
using Rump.Kern;

namespace Rump;

/// <summary>
/// rump_init_server(url): the process's kernel serves remote clients over NetBSD's sysproxy
/// protocol (the server is the hypervisor's, rumpuser_sp_init). The banner names the system the
/// kernel answers as (kern.ostype, kern.osrelease) and the host's machine. Errors are the host's
/// errno values, for the server program's messages.
/// </summary>
internal static unsafe class ServerExports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_init_server")]
    private static int rump_init_server(byte* url)
    {
        Kernel? k = CAbi.Default;
        try
        {
            if (k == null || k.IsDead) return HostErrno.FromNetbsd(Abi.ENXIO);
            if (url == null) return HostErrno.FromNetbsd(Abi.EINVAL);
            ReadOnlySpan<byte> machine = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "amd64\0"u8,
                Architecture.Arm64 => "aarch64\0"u8,
                _ => "unknown\0"u8,
            };
            fixed (byte* ostype = "NetBSD\0"u8)
            fixed (byte* osrelease = "10.1\0"u8)
            fixed (byte* m = machine)
                return HostErrno.FromNetbsd(RumpUser.rumpuser_sp_init(url, ostype, osrelease, m));
        }
        catch (Exception e) { return HostErrno.FromNetbsd(CAbi.Failed(k, e, "init_server")); }
    }
}
