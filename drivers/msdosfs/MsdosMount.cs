using System;
using System.Collections.Generic;
using Rump.Fs.Msdosfs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// One mounted FAT file system (NetBSD struct msdosfsmount): geometry, the FAT, the nodes, and
/// the directory and data-cluster helpers the vnode operations are built from.
///
/// Locking: one mutex per mount, <see cref="Lock"/>, protects everything here — the FAT and its
/// counters, every node's fields, every directory's parsed entries, the id tables — and is held for
/// the whole of each vnode or VFS operation, so each is atomic. It is taken before the buffer
/// cache's and the name cache's locks (the order the VFS documents). The vnode cache is called
/// with it let go (its loads and reclaims take it), and vnode references are dropped after it is
/// let go: a last release re-enters through Inactive and Reclaim.
///
/// References and lifetime: vnodes are the vnode cache's, keyed by file id. A directory's parsed
/// entries (each with its id, in <see cref="_byId"/>) last as long as the directory's node; a
/// node holds a reference on its parent directory's vnode, so the entries its attributes live in
/// stay. Lookup finds the entry under the lock, lets go, and asks the cache; the load makes the
/// node from the entry if it is still there. The VFS holds the vnode references (lookup and create
/// return one each; the mount holds the root's). A removed file's node is marked unlinked; its
/// clusters and id are freed when its vnode is reclaimed (at once after the last release, or at
/// unmount). A reclaimed directory gives back its entries' ids.
/// </summary>
internal sealed class MsdosMount
{
    /// <summary>The root's file id (there is no entry for it to derive one from).</summary>
    public const ulong RootId = 1;
    public const int MaxDirBytes = MsdosDir.MaxSlots * DirEntry.Size;
    public const long MaxFileSize = 0xFFFFFFFF;

    public readonly Mount Mp;
    public readonly Kernel Kernel;
    public readonly BufCache Bc;
    public readonly BlockDevice Dev;
    public readonly Bpb Bpb;
    public readonly Fat Fat;
    public readonly MsdosVnodeOps Ops;
    public readonly KMutex Lock;

    public readonly uint Uid, Gid, FileMask, DirMask;
    public readonly int GmtOff;
    /// <summary>Create 8.3 names only (MSDOSFSMNT_SHORTNAME or NOWIN95).</summary>
    public readonly bool ShortNamesOnly;
    /// <summary>Ignore long names when reading (MSDOSFSMNT_NOWIN95).</summary>
    public readonly bool IgnoreLongNames;

    public readonly int ClusterBytes;
    private readonly long _blksPerCluster;
    private readonly long _blksPerSector;
    public readonly bool FixedRoot;

    /// <summary>Directories with a node, by first cluster: a second directory entry naming the same clusters is a cross-link or a cycle (an ancestor always has a node).</summary>
    private readonly Dictionary<uint, MsdosNode> _dirByCluster = new();
    /// <summary>Ids in use: by an entry of a parsed directory, or by the node of a removed file.</summary>
    private readonly HashSet<ulong> _ids = new();
    /// <summary>The entries of parsed directories by id: what the vnode cache loads a node from.</summary>
    private readonly Dictionary<ulong, MsdosDirent> _byId = new();
    private ulong _nextSynthetic = 1UL << 40;
    /// <summary>Unmounted: sync has nothing to write any more.</summary>
    public bool Unmounted;

    public MsdosMount(Mount mp, BlockDevice dev, in Bpb bpb, uint maxCluster, MsdosVnodeOps ops, in RumpMsdosfsArgs a)
    {
        Mp = mp; Kernel = mp.Vfs.Kernel; Bc = mp.Vfs.BufCache; Dev = dev; Bpb = bpb; Ops = ops;
        Lock = new KMutex(Kernel);
        Fat = new Fat(Bc, dev, bpb, maxCluster, mp.ReadOnly);
        Uid = a.uid; Gid = a.gid;
        // Zeroed arguments mount with 0755 for both; a mask without a dirmask covers directories too (NetBSD before version 3).
        FileMask = a.mask != 0 ? a.mask & 0x1ff : 0x1ed;
        DirMask = a.dirmask != 0 ? a.dirmask & 0x1ff : a.mask != 0 ? a.mask & 0x1ff : 0x1ed;
        GmtOff = a.gmtoff;
        ShortNamesOnly = (a.flags & (MsdosfsFlags.ShortName | MsdosfsFlags.NoWin95)) != 0;
        IgnoreLongNames = (a.flags & MsdosfsFlags.NoWin95) != 0;
        ClusterBytes = bpb.ClusterBytes;
        _blksPerCluster = ClusterBytes / BlockDevice.DevBSize;
        _blksPerSector = bpb.BytesPerSector / BlockDevice.DevBSize;
        FixedRoot = bpb.Type != FatType.Fat32;
        _ids.Add(RootId);
    }

    public bool Fat32 => Bpb.Type == FatType.Fat32;

    public long ClusterBlk(uint c) => ((long)Bpb.FirstDataSector * _blksPerSector) + (long)(c - 2) * _blksPerCluster;

    /// <summary>The root's node, with a made-up entry (loading the root's vnode). Precondition: lock held.</summary>
    private MsdosNode MakeRootLocked(Vnode vp)
    {
        var ent = new MsdosDirent { Name = "", Key = "", Slot = -1, FirstSlot = -1, Id = RootId };
        ent.De.Attr = FatAttr.Directory;
        ent.De.FirstCluster = FixedRoot ? 0 : Bpb.RootCluster;
        // FAT has no root times; the epoch of DOS time stands in.
        ent.De.WDate = ent.De.CDate = ent.De.ADate = (1 << 5) | 1;
        var root = new MsdosNode(this, vp, VType.VDIR, RootId, ent, null, null, isRoot: true);
        if (!FixedRoot) _dirByCluster[Bpb.RootCluster] = root;
        return root;
    }

    // ---- Ids ------------------------------------------------------------------------------------

    /// <summary>An unused file id: the preferred one (from the entry's disk position) unless a moved file still carries it.</summary>
    private ulong AssignId(ulong preferred)
    {
        if (_ids.Add(preferred)) return preferred;
        while (!_ids.Add(_nextSynthetic)) _nextSynthetic++;
        return _nextSynthetic++;
    }

    /// <summary>An entry joins a parsed directory of <paramref name="dn"/>. Precondition: lock held.</summary>
    private void Index(MsdosNode dn, MsdosDirent ent)
    {
        ent.Owner = dn;
        _byId[ent.Id] = ent;
    }

    // ---- Nodes ----------------------------------------------------------------------------------

    /// <summary>
    /// VFS_LOADVNODE: the node of file <paramref name="id"/>, from its entry in a parsed directory.
    /// ENOENT if no parsed directory has it (removed meanwhile, or the directory is not in memory:
    /// ESTALE for such numbers would be NetBSD's answer to an NFS handle, but lookups only come
    /// here from a held directory). EIO for a directory entry whose clusters are impossible or
    /// already another directory's (a cycle). <paramref name="parentVp"/>: a reference taken on the
    /// parent's vnode, for the caller to drop (after the lock) on failure.
    /// Precondition: lock held.
    /// </summary>
    public int LoadNodeLocked(Vnode vp, ulong id, out Vnode? parentVp)
    {
        parentVp = null;
        MsdosNode n;
        if (id == RootId) n = MakeRootLocked(vp);
        else
        {
            if (!_byId.TryGetValue(id, out MsdosDirent? ent) || ent.Removed) return Abi.ENOENT;
            MsdosNode dn = ent.Owner;
            VType t = ent.De.IsDirectory ? VType.VDIR : VType.VREG;
            if (t == VType.VDIR)
            {
                uint c = ent.De.FirstCluster;
                if (!Fat.IsValidCluster(c) || _dirByCluster.ContainsKey(c)) return Abi.EIO;
            }
            // The parent is held by whoever looked the name up; a bare number (VFS_VGET) may find it going.
            if (!dn.Vnode.TryRef()) return Abi.ENOENT;
            parentVp = dn.Vnode;
            n = new MsdosNode(this, vp, t, ent.Id, ent, dn, parentVp, isRoot: false);
            if (t == VType.VDIR) _dirByCluster[ent.De.FirstCluster] = n;
        }
        vp.Init(n.Type, Ops, n);
        parentVp = null;
        return 0;
    }

    /// <summary>The entry of a node was removed: the node stays, unlinked, until its vnode goes. Precondition: lock held.</summary>
    public void Unlink(MsdosNode n)
    {
        n.Unlinked = true;
        if (n.Type == VType.VDIR && _dirByCluster.TryGetValue(n.FirstCluster, out MsdosNode? d) && d == n) _dirByCluster.Remove(n.FirstCluster);
    }

    /// <summary>
    /// VOP_RECLAIM: a removed file's clusters and id are freed; a directory's parsed entries go,
    /// and with them their ids. Returns the parent reference to drop after the lock.
    /// Precondition: lock held.
    /// </summary>
    public Vnode? ReclaimLocked(MsdosNode n)
    {
        n.Ahead?.Drop();
        if (n.Type == VType.VDIR && _dirByCluster.TryGetValue(n.FirstCluster, out MsdosNode? d) && d == n) _dirByCluster.Remove(n.FirstCluster);
        if (n.Dir != null)
        {
            // No child node is left (each held this directory), so no node carries these ids.
            for (int i = 0; i < n.Dir.Count; i++)
            {
                MsdosDirent ent = n.Dir[i];
                if (_byId.TryGetValue(ent.Id, out MsdosDirent? cur) && cur == ent) _byId.Remove(ent.Id);
                _ids.Remove(ent.Id);
            }
        }
        if (n.Unlinked)
        {
            _ids.Remove(n.Id);
            if (!Mp.ReadOnly && Fat.IsValidCluster(n.FirstCluster)) Fat.FreeChain(n.FirstCluster);
        }
        n.Dir = null;
        n.Map = null;
        Vnode? parent = n.ParentVp;
        n.ParentVp = null;
        return parent;
    }

    /// <summary>
    /// Moves a node to a new entry in <paramref name="newParent"/> (rename), whose vnode
    /// <paramref name="newParentVp"/> the caller holds. Returns the old parent reference to drop
    /// after the lock. Precondition: lock held.
    /// </summary>
    public Vnode? Relocate(MsdosNode n, MsdosNode newParent, Vnode newParentVp, MsdosDirent newEnt)
    {
        n.Ent = newEnt;
        Vnode? old = n.ParentVp;
        if (n.Parent != newParent)
        {
            n.Parent = newParent;
            n.ParentVp = newParentVp.Ref();
        }
        else old = null;
        return old;
    }

    /// <summary>Reads the node's cluster chain if not yet read. EIO for a corrupt chain, or one too short for the file's size.</summary>
    public int EnsureMap(MsdosNode n)
    {
        if (n.Map != null) return 0;
        uint bound = n.Type == VType.VDIR ? (uint)(MaxDirBytes / ClusterBytes) : Fat.ClusterCount;
        int e = ClusterMap.Build(Fat, n.FirstCluster, bound, out ClusterMap map);
        if (e != 0) return e;
        if (n.Type == VType.VREG && (long)map.Count * ClusterBytes < n.Ent.De.FileSize) return Abi.EIO;
        if (n.Type == VType.VDIR && map.Count == 0 && !(n.IsRoot && FixedRoot)) return Abi.EIO;
        n.Map = map;
        return 0;
    }

    // ---- Directory slots ------------------------------------------------------------------------

    /// <summary>Where slot <paramref name="slot"/> of a directory lives: buffer address, size and offset in it.</summary>
    private int SlotBlock(MsdosNode dn, int slot, out long blk, out int size, out int within)
    {
        long off = (long)slot * DirEntry.Size;
        if (dn.IsRoot && FixedRoot)
        {
            int bps = Bpb.BytesPerSector;
            blk = ((long)Bpb.FirstRootDirSector + off / bps) * _blksPerSector;
            size = bps;
            within = (int)(off % bps);
            return 0;
        }
        long ci = off / ClusterBytes;
        ClusterMap map = dn.Map!;
        if (ci >= map.Count) { blk = 0; size = 0; within = 0; return Abi.EIO; }
        blk = ClusterBlk(map.Get((uint)ci));
        size = ClusterBytes;
        within = (int)(off % ClusterBytes);
        return 0;
    }

    /// <summary>Writes consecutive slots starting at <paramref name="slot"/> (delayed writes).</summary>
    public int WriteSlots(MsdosNode dn, int slot, ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int e = SlotBlock(dn, slot, out long blk, out int size, out int within);
            if (e != 0) return e;
            e = Bc.Bread(Dev, blk, size, out Buf bp);
            if (e != 0) return e;
            int n = Math.Min(size - within, data.Length);
            data.Slice(0, n).CopyTo(bp.Data.AsSpan(within));
            Bc.Bdwrite(bp);
            data = data.Slice(n);
            slot += n / DirEntry.Size;
        }
        return 0;
    }

    public int ReadSlots(MsdosNode dn, int slot, Span<byte> data)
    {
        while (data.Length > 0)
        {
            int e = SlotBlock(dn, slot, out long blk, out int size, out int within);
            if (e != 0) return e;
            e = Bc.Bread(Dev, blk, size, out Buf bp);
            if (e != 0) return e;
            int n = Math.Min(size - within, data.Length);
            bp.Data.AsSpan(within, n).CopyTo(data);
            Bc.Brelse(bp);
            data = data.Slice(n);
            slot += n / DirEntry.Size;
        }
        return 0;
    }

    /// <summary>Sets the first byte of slots [first, last] (deletion marks, end markers).</summary>
    private int MarkSlots(MsdosNode dn, int first, int last, byte mark)
    {
        for (int s = first; s <= last;)
        {
            int e = SlotBlock(dn, s, out long blk, out int size, out int within);
            if (e != 0) return e;
            e = Bc.Bread(Dev, blk, size, out Buf bp);
            if (e != 0) return e;
            for (; s <= last && within < size; s++, within += DirEntry.Size) bp.Data[within] = mark;
            Bc.Bdwrite(bp);
        }
        return 0;
    }

    /// <summary>Rewrites a node's directory entry from its in-memory copy.</summary>
    public int WriteEntry(MsdosNode n)
    {
        if (n.IsRoot || n.Ent.Removed || Mp.ReadOnly) return 0;
        Span<byte> b = stackalloc byte[DirEntry.Size];
        n.Ent.De.Emit(b);
        return WriteSlots(n.Parent!, n.Ent.Slot, b);
    }

    // ---- Loading a directory --------------------------------------------------------------------

    /// <summary>Parses a directory the first time it is used (see <see cref="MsdosDir"/>).</summary>
    public int LoadDir(MsdosNode dn)
    {
        if (dn.Dir != null) return 0;
        if (dn.Unlinked) return Abi.ENOENT;
        int capacity;
        if (dn.IsRoot && FixedRoot) capacity = Bpb.RootEntries;
        else
        {
            int e = EnsureMap(dn);
            if (e != 0) return e;
            capacity = (int)Math.Min((long)dn.Map!.Count * ClusterBytes / DirEntry.Size, MsdosDir.MaxSlots);
        }
        var dir = new MsdosDir(capacity);
        var st = new LfnState();
        Span<char> lfn = stackalloc char[LfnSlot.MaxSlots * LfnSlot.CharsPerSlot];
        int end = capacity;
        int slot = 0;
        while (slot < capacity)
        {
            int e = SlotBlock(dn, slot, out long blk, out int size, out int within);
            if (e != 0) return e;
            e = Bc.Bread(Dev, blk, size, out Buf bp);
            if (e != 0) return e;
            bool stop = false;
            for (; within < size && slot < capacity; within += DirEntry.Size, slot++)
            {
                ReadOnlySpan<byte> sl = bp.Data.AsSpan(within, DirEntry.Size);
                if (sl[0] == 0) { end = slot; stop = true; break; }
                ParseSlot(dn, dir, ref st, lfn, sl, slot, blk * BlockDevice.DevBSize + within);
            }
            Bc.Brelse(bp);
            if (stop) break;
        }
        dir.SetLoadedEnd(end);
        dn.Dir = dir;
        return 0;
    }

    /// <summary>Long-name slots seen so far for the short entry that should follow them.</summary>
    private struct LfnState
    {
        public int Total;     // slots in the name (0: none pending)
        public int Next;      // next ord expected (0: all seen)
        public byte Sum;
        public int Start;
    }

    private void ParseSlot(MsdosNode dn, MsdosDir dir, ref LfnState st, Span<char> lfn, ReadOnlySpan<byte> sl, int slot, long diskOff)
    {
        if (sl[0] == DirEntry.Deleted) { st.Total = 0; return; }
        if (DirEntry.IsLongName(sl))
        {
            dir.MarkLoaded(slot);
            if (IgnoreLongNames) return;
            int ord = sl[0];
            if ((ord & LfnSlot.LastFlag) != 0)
            {
                int n = ord & 0x3f;
                if (n < 1 || n > LfnSlot.MaxSlots) { st.Total = 0; return; }
                st.Total = n; st.Next = n - 1; st.Sum = LfnSlot.Checksum(sl); st.Start = slot;
                LfnSlot.ReadChars(sl, lfn.Slice((n - 1) * LfnSlot.CharsPerSlot, LfnSlot.CharsPerSlot));
            }
            else if (st.Total > 0 && st.Next > 0 && ord == st.Next && LfnSlot.Checksum(sl) == st.Sum)
            {
                LfnSlot.ReadChars(sl, lfn.Slice((ord - 1) * LfnSlot.CharsPerSlot, LfnSlot.CharsPerSlot));
                st.Next--;
            }
            else st.Total = 0;
            return;
        }

        DirEntry de = DirEntry.Parse(sl, Fat32);
        ReadOnlySpan<byte> n11 = de.Name;
        bool haveLfn = st.Total > 0 && st.Next == 0 && ShortName.Checksum(n11) == st.Sum;
        int firstSlot = haveLfn ? st.Start : slot;
        int lfnChars = st.Total * LfnSlot.CharsPerSlot;
        st.Total = 0;
        if (de.IsVolumeLabel) { dir.MarkLoaded(slot); return; }
        if (n11[0] == '.')
        {
            // "." and ".." are synthesised; the on-disk ".." is remembered for renames.
            if (n11.Slice(1).SequenceEqual("          "u8)) { dir.MarkLoaded(slot); return; }
            if (n11[1] == '.' && n11.Slice(2).SequenceEqual("         "u8)) { dir.MarkLoaded(slot); dir.DotDotSlot = slot; return; }
        }
        Span<char> shortName = stackalloc char[12];
        int sl2 = ShortName.Display(n11, de.NtRes, shortName);
        shortName = shortName.Slice(0, sl2);
        int len = 0;
        if (haveLfn)
        {
            while (len < lfnChars && lfn[len] != 0) len++;
            // A name a path cannot hold is not offered: the 8.3 name stands in.
            foreach (char c in lfn.Slice(0, len)) if (c == '/') { haveLfn = false; break; }
            if (len == 0) haveLfn = false;
        }
        if (!haveLfn && (sl2 == 0 || shortName.IndexOfAny('/', '\0') >= 0 || shortName.SequenceEqual(".") || shortName.SequenceEqual("..")))
        {
            for (int s = firstSlot; s <= slot; s++) dir.MarkLoaded(s);
            return;
        }
        ReadOnlySpan<char> shown = haveLfn ? lfn.Slice(0, len) : shortName;
        var ent = new MsdosDirent
        {
            Name = Names.ToVfs(shown),
            Key = Names.FoldedKey(shown),
            AliasKey = haveLfn ? Names.FoldedKey(shortName) : null,
            Short11 = de.Name.ToKey(),
            Slot = slot,
            FirstSlot = firstSlot,
            De = de,
            Id = AssignId((ulong)diskOff / DirEntry.Size),
        };
        dir.Add(ent);
        Index(dn, ent);
    }

    // ---- Creating and removing entries ----------------------------------------------------------

    /// <summary>A name ready to be written: its 8.3 form and, if needed, the long name.</summary>
    public ref struct NewName
    {
        public ShortName11 Short;
        public byte NtRes;
        public Span<char> Long;   // empty: no long-name slots
        public string Key;
        public string? AliasKey;
        public string Shown;
    }

    /// <summary>
    /// Turns a VFS name into what a new entry in <paramref name="dn"/> stores: EINVAL for bytes
    /// that are not UTF-8 or characters FAT forbids, ENAMETOOLONG past 255 UTF-16 units, EEXIST if the
    /// directory already has the name in any case (other than <paramref name="replacing"/>, the
    /// entry a rename will remove). <paramref name="buf"/> (256 chars) holds the long name.
    /// </summary>
    public int PrepareName(MsdosNode dn, ReadOnlySpan<char> vfsName, MsdosDirent? replacing, Span<char> buf, out NewName nn)
    {
        nn = default;
        MsdosDir dir = dn.Dir!;
        if (!Names.FromVfs(vfsName, buf, out int len, out bool tooLong)) return tooLong ? Abi.ENAMETOOLONG : Abi.EINVAL;
        if (len == 0) return Abi.EINVAL;
        if (len > LfnSlot.MaxNameChars) return Abi.ENAMETOOLONG;
        Span<char> name = buf.Slice(0, len);
        foreach (char c in name) if (ShortName.IsInvalidLongChar(c)) return Abi.EINVAL;
        // Windows drops trailing dots and spaces; a name that ends in them could not be found again there.
        if (name[len - 1] is '.' or ' ') return Abi.EINVAL;
        string key = Names.FoldedKey(name);
        MsdosDirent? existing = dir.Lookup(key);
        if (existing != null && existing != replacing) return Abi.EEXIST;

        Span<byte> s11 = nn.Short;
        string? replacingShort = replacing?.Short11;
        bool exact = ShortName.TryExact(name, s11, out nn.NtRes) && !Taken(dir, s11, replacingShort);
        if (!exact)
        {
            if (ShortNamesOnly) return Abi.EINVAL;
            nn.NtRes = 0;
            int e = MakeAlias(dir, name, s11, replacingShort);
            if (e != 0) return e;
            nn.Long = name;
        }
        nn.Key = key;
        Span<char> disp = stackalloc char[12];
        int dl = ShortName.Display(s11, nn.NtRes, disp);
        nn.AliasKey = exact ? null : Names.FoldedKey(disp.Slice(0, dl));
        nn.Shown = exact ? Names.ToVfs(disp.Slice(0, dl)) : Names.ToVfs(name);
        return 0;
    }

    private static bool Taken(MsdosDir dir, ReadOnlySpan<byte> s11, string? except)
    {
        if (!dir.ShortNameTaken(s11)) return false;
        if (except == null) return true;
        for (int i = 0; i < 11; i++) if (except[i] != s11[i]) return true;
        return false;
    }

    /// <summary>An unused 8.3 alias for a long name (spec 7.4): the basis itself if it lost nothing, then ~1..~4, then a hashed basis, then a scan.</summary>
    private static int MakeAlias(MsdosDir dir, ReadOnlySpan<char> name, Span<byte> s11, string? except)
    {
        Span<byte> basis = stackalloc byte[11];
        bool lossy = ShortName.Basis(name, basis, out int baseLen);
        if (!lossy && !Taken(dir, basis, except)) { basis.CopyTo(s11); return 0; }
        for (int n = 1; n <= 4; n++)
        {
            ShortName.ApplyTail(basis, baseLen, n, s11);
            if (!Taken(dir, s11, except)) return 0;
        }
        Span<byte> hb = stackalloc byte[11];
        ShortName.HashBasis(basis, baseLen, name, hb, out int hbl);
        for (int n = 1; n <= 9; n++)
        {
            ShortName.ApplyTail(hb, hbl, n, s11);
            if (!Taken(dir, s11, except)) return 0;
        }
        // Crowded: count on from where the last crowded alias was found.
        for (int i = 0; i < 999999; i++)
        {
            int n = 5 + (dir.AliasSeq + i) % 999990;
            ShortName.ApplyTail(basis, baseLen, n, s11);
            if (!Taken(dir, s11, except)) { dir.AliasSeq += i + 1; return 0; }
        }
        return Abi.ENOSPC;
    }

    /// <summary>
    /// Writes a new entry (long-name slots, then <paramref name="de"/> with the name filled in)
    /// into <paramref name="dn"/>, growing the directory if it is full. <paramref name="keepId"/>:
    /// the file id of a file being renamed.
    /// </summary>
    public int CreateEntry(MsdosNode dn, ref NewName nn, DirEntry de, ulong keepId, out MsdosDirent ent)
    {
        ent = null!;
        MsdosDir dir = dn.Dir!;
        int lfnSlots = nn.Long.Length == 0 ? 0 : LfnSlot.SlotsFor(nn.Long.Length);
        int n = lfnSlots + 1;
        int start = dir.FindFree(n, out int tail);
        if (start < 0)
        {
            int e = GrowDir(dn, tail + n);
            if (e != 0) return e;
            start = tail;
        }
        ((ReadOnlySpan<byte>)nn.Short).CopyTo(de.Name);
        de.NtRes = nn.NtRes;
        Span<byte> buf = stackalloc byte[n * DirEntry.Size];
        byte sum = ShortName.Checksum(nn.Short);
        for (int k = 0; k < lfnSlots; k++)
            LfnSlot.Emit(buf.Slice(k * DirEntry.Size), nn.Long, lfnSlots - k, k == 0, sum);
        de.Emit(buf.Slice(lfnSlots * DirEntry.Size));
        int oldEnd = dir.End;
        int err = WriteSlots(dn, start, buf);
        if (err != 0) return err;
        // Slots past the old end may hold leftovers: the one after the new entry must read as the end.
        int after = start + n;
        if (after > oldEnd && after < dir.Capacity)
        {
            err = ReadSlotByte(dn, after, out byte b0);
            if (err == 0 && b0 != 0) err = MarkSlots(dn, after, after, 0);
            if (err != 0) return err;
        }
        err = SlotBlock(dn, start + n - 1, out long blk, out _, out int within);
        if (err != 0) return err;
        ent = new MsdosDirent
        {
            Name = nn.Shown,
            Key = nn.Key,
            AliasKey = nn.AliasKey,
            Short11 = de.Name.ToKey(),
            Slot = start + n - 1,
            FirstSlot = start,
            De = de,
            Id = keepId != 0 ? keepId : AssignId((ulong)(blk * BlockDevice.DevBSize + within) / DirEntry.Size),
        };
        dir.Add(ent);
        Index(dn, ent);
        return 0;
    }

    private int ReadSlotByte(MsdosNode dn, int slot, out byte b)
    {
        b = 0;
        int e = SlotBlock(dn, slot, out long blk, out int size, out int within);
        if (e != 0) return e;
        e = Bc.Bread(Dev, blk, size, out Buf bp);
        if (e != 0) return e;
        b = bp.Data[within];
        Bc.Brelse(bp);
        return 0;
    }

    /// <summary>Adds zeroed clusters to a directory until it has <paramref name="slots"/> slots. ENOSPC for the fixed root or past 65536 entries.</summary>
    private int GrowDir(MsdosNode dn, int slots)
    {
        if ((dn.IsRoot && FixedRoot) || slots > MsdosDir.MaxSlots) return Abi.ENOSPC;
        MsdosDir dir = dn.Dir!;
        while (dir.Capacity < slots)
        {
            int e = ExtendChain(dn, out uint c);
            if (e != 0) return e;
            e = ZeroCluster(c);
            if (e != 0) return e;
            dir.Grow((int)Math.Min((long)dn.Map!.Count * ClusterBytes / DirEntry.Size, MsdosDir.MaxSlots));
        }
        return 0;
    }

    public int ZeroCluster(uint c)
    {
        int e = Bc.Getblk(Dev, ClusterBlk(c), ClusterBytes, out Buf bp);
        if (e != 0) return e;
        Array.Clear(bp.Data);
        Bc.Bdwrite(bp);
        return 0;
    }

    /// <summary>Marks an entry's slots deleted and drops it from the directory.</summary>
    public int RemoveEntry(MsdosNode dn, MsdosDirent ent)
    {
        int e = MarkSlots(dn, ent.FirstSlot, ent.Slot, DirEntry.Deleted);
        dn.Dir!.Remove(ent);
        if (_byId.TryGetValue(ent.Id, out MsdosDirent? cur) && cur == ent) _byId.Remove(ent.Id);
        return e;
    }

    /// <summary>Puts back an entry removed by <see cref="RemoveEntry"/> (a rename that failed), with its slots as they were.</summary>
    public int RestoreEntry(MsdosNode dn, MsdosDirent ent, ReadOnlySpan<byte> raw)
    {
        int e = WriteSlots(dn, ent.FirstSlot, raw);
        ent.Removed = false;
        dn.Dir!.Add(ent);
        Index(dn, ent);
        return e;
    }

    // ---- Data clusters --------------------------------------------------------------------------

    /// <summary>Appends a newly allocated cluster (end of chain) to the node's chain; the first one becomes the entry's first cluster.</summary>
    public int ExtendChain(MsdosNode n, out uint c)
    {
        ClusterMap map = n.Map!;
        uint hint = map.Count > 0 ? map.Last + 1 : 0;
        int e = Fat.Alloc(hint, out c);
        if (e != 0) return e;
        if (map.Count == 0)
        {
            n.Ent.De.FirstCluster = c;
        }
        else
        {
            e = Fat.Set(map.Last, c);
            if (e != 0) { Fat.FreeChain(c); return e; }
        }
        map.Append(c);
        return 0;
    }

    /// <summary>
    /// The buffer of file cluster <paramref name="ci"/>, allocating clusters up to it. Bytes past
    /// the file's end in it are zeroed, so a write or a size increase leaves no stale data behind;
    /// with <paramref name="whole"/> the caller overwrites the whole cluster and nothing is read.
    /// </summary>
    public int GetDataBuf(MsdosNode n, uint ci, bool whole, out Buf bp)
    {
        bp = null!;
        ClusterMap map = n.Map!;
        while (ci >= map.Count)
        {
            int e = ExtendChain(n, out _);
            if (e != 0) return e;
        }
        long blk = ClusterBlk(map.Get(ci));
        long valid = Math.Clamp((long)n.Ent.De.FileSize - (long)ci * ClusterBytes, 0, ClusterBytes);
        int err;
        if (whole || valid == 0)
        {
            err = Bc.Getblk(Dev, blk, ClusterBytes, out bp);
            if (err != 0) return err;
            if (!whole) Array.Clear(bp.Data);
            return 0;
        }
        err = Bc.Bread(Dev, blk, ClusterBytes, out bp);
        if (err != 0) return err;
        if (valid < ClusterBytes) Array.Clear(bp.Data, (int)valid, ClusterBytes - (int)valid);
        return 0;
    }

    /// <summary>Sets a file's size: frees clusters past it, or allocates zeroed ones up to it.</summary>
    public int Truncate(MsdosNode n, long size)
    {
        // Read-ahead windows may cover clusters that are freed here (and reused by another file).
        n.Ahead?.Drop();
        int e = EnsureMap(n);
        if (e != 0) return e;
        ClusterMap map = n.Map!;
        long old = n.Ent.De.FileSize;
        if (size < old || (long)map.Count * ClusterBytes > size + ClusterBytes - 1)
        {
            uint keep = (uint)((size + ClusterBytes - 1) / ClusterBytes);
            if (keep < map.Count)
            {
                if (keep == 0)
                {
                    uint first = n.Ent.De.FirstCluster;
                    n.Ent.De.FirstCluster = 0;
                    map.Truncate(0);
                    e = Fat.FreeChain(first);
                }
                else
                {
                    uint last = map.Get(keep - 1);
                    e = Fat.Get(last, out uint rest);
                    if (e == 0) e = Fat.Set(last, Fat.Eoc);
                    map.Truncate(keep);
                    if (e == 0 && Fat.IsValidCluster(rest)) e = Fat.FreeChain(rest);
                }
                if (e != 0) return e;
            }
        }
        if (size > old)
        {
            // Every cluster from the old end on is written once, zeroed past the old size.
            for (uint ci = (uint)(old / ClusterBytes); (long)ci * ClusterBytes < size; ci++)
            {
                e = GetDataBuf(n, ci, whole: false, out Buf bp);
                if (e != 0) return e;
                Bc.Bdwrite(bp);
            }
        }
        n.Ent.De.FileSize = (uint)size;
        return 0;
    }

    // ---- Times ------------------------------------------------------------------------------------

    public void Stamp(ref DirEntry de, in RumpTimespec now, bool create, bool modify, bool access)
    {
        DosTime.FromUnix(now.tv_sec, now.tv_nsec, GmtOff, out ushort date, out ushort time, out byte tenths);
        if (create) { de.CDate = date; de.CTime = time; de.CTimeTenth = tenths; }
        if (modify) { de.WDate = date; de.WTime = time; de.Attr |= FatAttr.Archive; }
        if (access) de.ADate = date;
    }

    // ---- FSInfo -----------------------------------------------------------------------------------

    /// <summary>Writes the free count and next-free hint into the FAT32 FSInfo sector if they changed.</summary>
    public int WriteFsInfo()
    {
        if (!Fat32 || Mp.ReadOnly || !Fat.InfoDirty) return 0;
        if (Bpb.FsInfoSector == 0 || Bpb.FsInfoSector >= Bpb.ReservedSectors) { Fat.InfoDirty = false; return 0; }
        int e = Fat.FreeCount(out long free);
        if (e != 0) return e;
        e = Bc.Bread(Dev, Bpb.FsInfoSector * _blksPerSector, Bpb.BytesPerSector, out Buf bp);
        if (e != 0) return e;
        if (!FsInfo.TryParse(bp.Data, out _)) { Bc.Brelse(bp); Fat.InfoDirty = false; return 0; }
        new FsInfo { FreeCount = (uint)free, NextFree = Fat.NextFreeHint }.Emit(bp.Data);
        Bc.Bdwrite(bp);
        Fat.InfoDirty = false;
        return 0;
    }

    public int ReadFsInfo()
    {
        if (!Fat32 || Bpb.FsInfoSector == 0 || Bpb.FsInfoSector >= Bpb.ReservedSectors) return 0;
        int e = Bc.Bread(Dev, Bpb.FsInfoSector * _blksPerSector, Bpb.BytesPerSector, out Buf bp);
        if (e != 0) return e;
        // The count is only a hint: read-only mounts use it for statvfs; writable ones count the FAT.
        if (FsInfo.TryParse(bp.Data, out FsInfo fi)) Fat.SeedFromInfo(fi, trustCount: Mp.ReadOnly);
        Bc.Brelse(bp);
        return 0;
    }
}

/// <summary>NetBSD's MSDOSFSMNT_* mount flags.</summary>
internal static class MsdosfsFlags
{
    public const int ShortName = 1;
    public const int LongName = 2;
    public const int NoWin95 = 4;
    public const int GemdosFs = 8;
    public const int Versioned = 16;
    public const int Utf8 = 32;
}
