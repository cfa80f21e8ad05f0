using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The block-device switch (NetBSD bdevsw): device numbers to block devices. Device nodes in the
/// file system carry the number in their rdev; mounting resolves the node to the device here.
/// <see cref="_lock"/> protects the table.
/// </summary>
public sealed class Devsw
{
    /// <summary>The major number of host-backed disks (NetBSD's rumpblk uses 197).</summary>
    public const uint RumpblkMajor = 197;

    private readonly KMutex _lock;
    private readonly Dictionary<ulong, BlockDevice> _devs = new();
    private uint _nextMinor;

    internal Devsw(Kernel k) { _lock = new KMutex(k); }

    /// <summary>NetBSD's makedev for amd64 (major in bits 8..19, minor in 0..7 and 20..31).</summary>
    public static ulong MakeDev(uint major, uint minor)
        => ((ulong)(major & 0xfff) << 8) | (minor & 0xff) | ((ulong)(minor & 0xfffff00) << 12);

    public ulong Attach(BlockDevice dev)
    {
        _lock.Enter();
        ulong d = MakeDev(RumpblkMajor, _nextMinor++);
        dev.Dev = d;
        _devs[d] = dev;
        _lock.Exit();
        return d;
    }

    public void Detach(BlockDevice dev)
    {
        _lock.Enter();
        _devs.Remove(dev.Dev);
        _lock.Exit();
    }

    public BlockDevice? Lookup(ulong dev)
    {
        _lock.Enter();
        _devs.TryGetValue(dev, out BlockDevice? d);
        _lock.Exit();
        return d;
    }
}
