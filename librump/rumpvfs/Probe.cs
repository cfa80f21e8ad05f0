using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// File-system detection: which registered file system claims a device, judged from its first
/// bytes (superblocks: FAT boot sector at 0, ext2 at 1024, ISO 9660 at 32768).
/// </summary>
public sealed partial class Vfs
{
    /// <summary>How much of the device the probes see (enough for the ISO 9660 volume descriptors).</summary>
    public const int ProbeBytes = 40960;

    /// <summary>
    /// The NetBSD name of the file system on the device behind the node at <paramref name="fspec"/>,
    /// or null with <paramref name="why"/> describing what was found instead.
    /// </summary>
    public int DetectFsType(string fspec, out string? fstype, out string? why)
    {
        fstype = null;
        why = null;
        BlockDevice? dev = null;
        foreach (var (key, ent) in EtfsSnapshot())
            foreach (var (path, d) in ent)
                if (path == fspec) dev = d;
        if (dev == null) { why = fspec + " is not a registered block device"; return Abi.ENXIO; }
        int n = (int)Math.Min(ProbeBytes, dev.Size);
        byte[] head = new byte[n];
        int e = dev.ReadSync(Kernel, 0, head);
        if (e != 0) { why = "cannot read " + fspec + ": error " + e; return e; }
        foreach (VfsOps ops in _fsTypes.Values)
            if (ops.Probe(head)) { fstype = ops.Name; return 0; }
        why = Describe(head);
        return Abi.EFTYPE;
    }

    private string Describe(ReadOnlySpan<byte> head)
    {
        foreach (VfsOps ops in _fsTypes.Values)
        {
            string? d = ops.Describe(head);
            if (d != null) return d;
        }
        Span<Mbr.Entry> e = stackalloc Mbr.Entry[4];
        if (Mbr.Parse(head, e)) return "a partition table (MBR or GPT): name a partition, e.g. image@a";
        bool zero = true;
        foreach (byte b in head) if (b != 0) { zero = false; break; }
        if (zero) return "only zeros in the first " + head.Length + " bytes (an empty or unformatted image)";
        return "no known file system (linked in: " + string.Join(", ", _fsTypes.Keys) + ")";
    }

    private System.Collections.Generic.List<(string key, System.Collections.Generic.List<(string, BlockDevice)> nodes)> EtfsSnapshot()
    {
        var l = new System.Collections.Generic.List<(string, System.Collections.Generic.List<(string, BlockDevice)>)>();
        _etfsLock.Enter();
        foreach (var kv in _etfs) l.Add((kv.Key, new System.Collections.Generic.List<(string, BlockDevice)>(kv.Value.Nodes)));
        _etfsLock.Exit();
        return l;
    }
}
