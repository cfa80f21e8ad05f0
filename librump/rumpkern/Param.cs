using System;
using System.Text;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>Boot parameters read through rumpuser_getparam (environment variables on POSIX hosts).</summary>
internal static unsafe class Param
{
    public static string? Get(string name)
    {
        byte* buf = stackalloc byte[256];
        byte[] n = Encoding.UTF8.GetBytes(name + "\0");
        int rv;
        fixed (byte* np = n)
            rv = RumpUser.rumpuser_getparam(np, buf, 256);
        if (rv != 0) return null;
        return new string((sbyte*)buf);
    }

    public static string String(string name, string dflt) => Get(name) ?? dflt;

    public static int Int(string name, int dflt)
        => int.TryParse(Get(name), out int v) && v > 0 ? v : dflt;

    public static long Long(string name, long dflt)
        => long.TryParse(Get(name), out long v) && v > 0 ? v : dflt;
}
