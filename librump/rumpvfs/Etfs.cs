using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// etfs, the extra-terrestrial file system (NetBSD rump_etfs_register): a host file or host block
/// device appears inside the kernel as a block-device node at a key path (e.g. "/dev/img0").
/// When the device holds an MBR or GPT partition table, each partition becomes a device of its own
/// at key + 'a', key + 'b', ... in table order (MBR: primaries, then logical partitions).
/// Missing parent directories of the key are made (mode 0755). Host-file types other than block
/// and character devices (RUMP_ETFS_REG, _DIR) are not supported yet: EOPNOTSUPP.
/// <see cref="_etfsLock"/> protects the registry; it is taken before any VFS or file-system lock.
/// </summary>
public sealed partial class Vfs
{
    private sealed class EtfsEntry
    {
        public BlockDevice Dev = null!;
        public readonly List<(string path, BlockDevice dev)> Nodes = new();
    }

    private readonly Dictionary<string, EtfsEntry> _etfs = new();
    private readonly KMutex _etfsLock;

    /// <summary>Most partitions exposed per device (letters a..z).</summary>
    public const int MaxPartitions = 26;

    /// <summary>Registers <paramref name="hostPath"/> at <paramref name="key"/>; <paramref name="size"/> &lt; 0 means to the end of the host file.</summary>
    public int EtfsRegister(Lwp l, string key, string hostPath, int type, long begin, long size)
    {
        if (type != Abi.ETFS_BLK && type != Abi.ETFS_CHR) return Abi.EOPNOTSUPP;
        if (key.Length == 0 || key[0] != '/' || key.EndsWith('/')) return Abi.EINVAL;
        _etfsLock.Enter();
        try
        {
            if (_etfs.ContainsKey(key)) return Abi.EEXIST;
            int e = HostBlockDevice.Open(Kernel, key, hostPath, begin, size, readOnly: false, out HostBlockDevice? dev);
            if (e != 0) return e;
            var ent = new EtfsEntry { Dev = dev! };
            Devices.Attach(dev!);
            e = MakeDeviceNode(l, key, dev!, type == Abi.ETFS_BLK ? VType.VBLK : VType.VCHR);
            if (e != 0) { Devices.Detach(dev!); dev!.Close(); return e; }
            ent.Nodes.Add((key, dev!));
            PartitionEntry[] parts = ScanPartitions(dev!);
            for (int i = 0; i < parts.Length && i < MaxPartitions; i++)
            {
                var pd = new PartitionDevice(key + (char)('a' + i), dev!, parts[i].Start, parts[i].Size - parts[i].Size % BlockDevice.DevBSize);
                Devices.Attach(pd);
                if (MakeDeviceNode(l, pd.Name, pd, VType.VBLK) == 0) ent.Nodes.Add((pd.Name, pd));
                else Devices.Detach(pd);
            }
            _etfs[key] = ent;
            return 0;
        }
        finally { _etfsLock.Exit(); }
    }

    /// <summary>Removes a registration: EBUSY while any of its devices is mounted, ENOENT if unknown.</summary>
    public int EtfsRemove(Lwp l, string key)
    {
        _etfsLock.Enter();
        try
        {
            if (!_etfs.TryGetValue(key, out EtfsEntry? ent)) return Abi.ENOENT;
            foreach (var (_, d) in ent.Nodes)
                if (d.MountedBy != null) return Abi.EBUSY;
            foreach (var (path, d) in ent.Nodes)
            {
                RemoveNode(l, path);
                Devices.Detach(d);
                BufCache.Invalidate(d);
            }
            (ent.Dev as HostBlockDevice)?.Close();
            _etfs.Remove(key);
            return 0;
        }
        finally { _etfsLock.Exit(); }
    }

    /// <summary>
    /// A disk driver's device (sd): a block-device node at <paramref name="key"/> ("/dev/sd0") and
    /// one per partition as for etfs (key + 'a', ...). EEXIST if the key is taken. Thread context.
    /// </summary>
    public int DiskAttach(Lwp l, string key, BlockDevice dev)
    {
        if (key.Length == 0 || key[0] != '/' || key.EndsWith('/')) return Abi.EINVAL;
        _etfsLock.Enter();
        try
        {
            if (_etfs.ContainsKey(key)) return Abi.EEXIST;
            var ent = new EtfsEntry { Dev = dev };
            Devices.Attach(dev);
            int e = MakeDeviceNode(l, key, dev, VType.VBLK);
            if (e != 0) { Devices.Detach(dev); return e; }
            ent.Nodes.Add((key, dev));
            PartitionEntry[] parts = ScanPartitions(dev);
            for (int i = 0; i < parts.Length && i < MaxPartitions; i++)
            {
                var pd = new PartitionDevice(key + (char)('a' + i), dev, parts[i].Start, parts[i].Size - parts[i].Size % BlockDevice.DevBSize);
                Devices.Attach(pd);
                if (MakeDeviceNode(l, pd.Name, pd, VType.VBLK) == 0) ent.Nodes.Add((pd.Name, pd));
                else Devices.Detach(pd);
            }
            _etfs[key] = ent;
            return 0;
        }
        finally { _etfsLock.Exit(); }
    }

    /// <summary>
    /// Removes a disk's nodes. EBUSY while one of its devices is mounted, unless
    /// <paramref name="force"/> (the disk is gone: the mount stays and its I/O fails).
    /// </summary>
    public int DiskDetach(Lwp l, string key, bool force)
    {
        _etfsLock.Enter();
        try
        {
            if (!_etfs.TryGetValue(key, out EtfsEntry? ent)) return Abi.ENOENT;
            foreach (var (_, d) in ent.Nodes)
                if (d.MountedBy != null && !force) return Abi.EBUSY;
            foreach (var (path, d) in ent.Nodes)
            {
                RemoveNode(l, path);
                Devices.Detach(d);
                if (d.MountedBy == null) BufCache.Invalidate(d);
            }
            _etfs.Remove(key);
            return 0;
        }
        finally { _etfsLock.Exit(); }
    }

    /// <summary>The partitions of a device from its MBR or GPT (none if it has neither or they are invalid).</summary>
    private PartitionEntry[] ScanPartitions(BlockDevice dev)
    {
        if (dev.Size < 2 * Mbr.SectorSize) return Array.Empty<PartitionEntry>();
        Span<byte> s0 = stackalloc byte[Mbr.SectorSize];
        if (dev.ReadSync(Kernel, 0, s0) != 0) return Array.Empty<PartitionEntry>();
        if (Mbr.HasSignature(s0))
        {
            Span<Mbr.Entry> prim = stackalloc Mbr.Entry[4];
            if (Mbr.Parse(s0, prim))
            {
                foreach (Mbr.Entry e in prim)
                    if (e.Type == Mbr.TypeGptProtective) return ReadGpt(dev);
                return Mbr.Partitions(s0, dev.Size, (off, sec) => dev.ReadSync(Kernel, off, sec) == 0) ?? Array.Empty<PartitionEntry>();
            }
        }
        return Array.Empty<PartitionEntry>();
    }

    private PartitionEntry[] ReadGpt(BlockDevice dev)
    {
        Span<byte> hs = stackalloc byte[Gpt.SectorSize];
        if (dev.ReadSync(Kernel, Gpt.SectorSize, hs) != 0 || !Gpt.ParseHeader(hs, out Gpt.Header h)) return Array.Empty<PartitionEntry>();
        long bytes = (long)h.NumEntries * h.EntrySize;
        bytes = (bytes + Gpt.SectorSize - 1) / Gpt.SectorSize * Gpt.SectorSize;
        long off = (long)h.EntriesLba * Gpt.SectorSize;
        if (off <= 0 || off + bytes > dev.Size) return Array.Empty<PartitionEntry>();
        byte[] arr = new byte[bytes];
        if (dev.ReadSync(Kernel, off, arr) != 0) return Array.Empty<PartitionEntry>();
        return Gpt.ParseEntries(h, arr, dev.Size) ?? Array.Empty<PartitionEntry>();
    }

    // ---- device nodes -----------------------------------------------------------------------

    /// <summary>A driver's character-device node at <paramref name="path"/> (mode 0600), parents made as needed. Thread context.</summary>
    public int MakeCharNode(Lwp l, string path, ulong rdev) => MakeNode(l, path, rdev, VType.VCHR);

    /// <summary>Removes a node made by <see cref="MakeCharNode"/> (a driver detaching).</summary>
    public void RemoveCharNode(Lwp l, string path) => RemoveNode(l, path);

    private int MakeDeviceNode(Lwp l, string path, BlockDevice dev, VType type) => MakeNode(l, path, dev.Dev, type);

    private int MakeNode(Lwp l, string path, ulong rdev, VType type)
    {
        int slash = path.LastIndexOf('/');
        if (slash > 0)
        {
            int e = MkdirP(l, path.Substring(0, slash));
            if (e != 0) return e;
        }
        // Kernel paths go to namei in a path buffer, never as caller pointers.
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int err = pb.Set(path);
        if (err != 0) return err;
        err = Namei.LookupParent(l, l.Cred, Abi.AT_FDCWD, pb, followLast: false, out NameiParent nd);
        if (err != 0) return err;
        try
        {
            if (nd.Vp != null || nd.Name == null) return Abi.EEXIST;
            err = VnodeLayer.Create(l, l.Cred, nd.Dvp, nd.Name, type, 0x180 /* 0600 */, rdev, out Vnode? vp);
            vp?.Rele();
            return err;
        }
        finally { nd.Release(); }
    }

    private int MkdirP(Lwp l, string dir)
    {
        Span<char> s = stackalloc char[Namei.PathMax];
        int pos = 1;
        while (pos <= dir.Length)
        {
            int next = dir.IndexOf('/', pos);
            if (next < 0) next = dir.Length;
            var pb = new PathBuf(s);
            int e = pb.Set(dir.Substring(0, next));
            if (e != 0) return e;
            e = Namei.LookupParent(l, l.Cred, Abi.AT_FDCWD, pb, followLast: true, out NameiParent nd);
            if (e != 0) return e;
            try
            {
                if (nd.Vp == null && nd.Name != null)
                {
                    e = VnodeLayer.Mkdir(l, l.Cred, nd.Dvp, nd.Name, 0x1ed, out Vnode? vp);
                    if (e != 0) return e;
                    vp!.Rele();
                }
                else if (nd.Vp != null && nd.Vp.Type != VType.VDIR) return Abi.ENOTDIR;
            }
            finally { nd.Release(); }
            pos = next + 1;
        }
        return 0;
    }

    private void RemoveNode(Lwp l, string path)
    {
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        if (pb.Set(path) != 0) return;
        if (Namei.LookupParent(l, l.Cred, Abi.AT_FDCWD, pb, followLast: false, out NameiParent nd) != 0) return;
        if (nd.Vp != null && nd.Name != null) VnodeLayer.Remove(l, l.Cred, nd.Dvp, nd.Name, nd.Vp, dir: false);
        nd.Release();
    }
}
