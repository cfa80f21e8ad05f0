using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Vfs.Rumpfs;

/// <summary>
/// rumpfs: the small in-memory file system of the VFS faction (NetBSD's rumpfs), the root file
/// system when tmpfs is not linked in. It holds directories (for mount points and /dev) and
/// symbolic links; regular files belong on tmpfs or a disk file system, so creating one here is
/// EOPNOTSUPP. One mutex per mount (<see cref="RumpfsMount.Lock"/>) protects every node of it and
/// the node table. Nodes live while they have a name (or are the root); vnodes come and go through
/// the vnode cache, keyed by node number, and a node holds no pointer to its vnode.
/// </summary>
public sealed class RumpfsVfsOps : VfsOps
{
    public override string Name => "rumpfs";

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        var rm = new RumpfsMount(mp);
        mp.Data = rm;
        rm.Lock.Enter();
        var root = rm.NewNodeLocked(VType.VDIR, 0x1ed /* 0755 */, 0, 0, null);
        rm.Lock.Exit();
        int e = mp.Vfs.Vcache.Get(mp, root.Id, root, out Vnode? vp);
        if (e != 0) return e;
        mp.SetRoot(vp!);
        return 0;
    }

    public override int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint)
    {
        var rm = (RumpfsMount)mp.Data!;
        rm.Lock.Enter();
        RumpfsNode? n = rm.Find(key);
        rm.Lock.Exit();
        if (n == null) return Abi.ENOENT;
        vp.Init(n.Type, rm.Ops, n);
        return 0;
    }

    public override int Statvfs(Mount mp, ref RumpStatvfs sv)
    {
        var rm = (RumpfsMount)mp.Data!;
        sv.f_bsize = sv.f_frsize = sv.f_iosize = 512;
        sv.f_files = (ulong)rm.NodeCount;
        return 0;
    }
}

internal sealed class RumpfsMount
{
    public readonly Mount Mount;
    public readonly KMutex Lock;
    public readonly RumpfsVnodeOps Ops = new();
    private ulong _nextId = 2;
    public int NodeCount;

    /// <summary>Live nodes by number (for loading vnodes by key). Under <see cref="Lock"/>.</summary>
    private readonly Dictionary<ulong, RumpfsNode> _nodes = new();

    public RumpfsMount(Mount mp) { Mount = mp; Lock = new KMutex(mp.Vfs.Kernel); }

    /// <summary>Precondition: <see cref="Lock"/> held.</summary>
    public RumpfsNode NewNodeLocked(VType type, uint mode, uint uid, uint gid, RumpfsNode? parent)
    {
        var n = new RumpfsNode(type, _nextId++, mode, uid, gid);
        n.Parent = parent ?? n;
        _nodes.Add(n.Id, n);
        NodeCount++;
        return n;
    }

    /// <summary>Precondition: <see cref="Lock"/> held.</summary>
    public RumpfsNode? Find(ulong id) => _nodes.TryGetValue(id, out RumpfsNode? n) ? n : null;

    /// <summary>A node lost its name: it goes once no vnode uses it. Precondition: <see cref="Lock"/> held.</summary>
    public void Forget(RumpfsNode n)
    {
        _nodes.Remove(n.Id);
        NodeCount--;
    }
}

internal sealed class RumpfsNode
{
    public readonly VType Type;
    public readonly ulong Id;
    public uint Mode, Uid, Gid, Nlink;
    public RumpTimespec Atime, Mtime, Ctime, Birth;
    public RumpfsNode Parent = null!;
    public readonly Dictionary<string, RumpfsNode>? Entries;
    public readonly List<string>? Order;
    public byte[]? Target;

    public RumpfsNode(VType type, ulong id, uint mode, uint uid, uint gid)
    {
        Type = type; Id = id; Mode = mode; Uid = uid; Gid = gid;
        Nlink = type == VType.VDIR ? 2u : 1u;
        Atime = Mtime = Ctime = Birth = Clock.Now();
        if (type == VType.VDIR) { Entries = new Dictionary<string, RumpfsNode>(); Order = new List<string>(); }
    }
}

internal sealed class RumpfsVnodeOps : VnodeOps
{
    private static RumpfsNode N(Vnode vp) => (RumpfsNode)vp.Data;
    private static RumpfsMount M(Vnode vp) => (RumpfsMount)vp.Mount.Data!;

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        RumpfsNode d = N(dvp);
        if (d.Entries == null) return Abi.ENOTDIR;
        RumpfsMount m = M(dvp);
        if (name.SequenceEqual(".")) { vp = dvp.Ref(); return 0; }
        RumpfsNode? n;
        m.Lock.Enter();
        if (name.SequenceEqual("..")) n = d.Parent;
        else if (!d.Entries.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out n)) n = null;
        m.Lock.Exit();
        if (n == null) return Abi.ENOENT;
        // A concurrent removal makes the load fail: the name is gone.
        return dvp.Mount.Vfs.Vcache.Get(dvp.Mount, n.Id, n, out vp);
    }

    /// <summary>A node without a name has nothing left to keep it: reclaim its vnode.</summary>
    public override bool Inactive(Vnode vp) => N(vp).Nlink == 0;

    public override int Getattr(Vnode vp, out Vattr va)
    {
        RumpfsNode n = N(vp);
        RumpfsMount m = M(vp);
        m.Lock.Enter();
        va = new Vattr
        {
            Type = n.Type, Mode = n.Mode, Nlink = n.Nlink, Uid = n.Uid, Gid = n.Gid,
            Fsid = vp.Mount.Fsid, Fileid = n.Id, Blocksize = 512,
            Size = n.Type == VType.VDIR ? 512 : n.Target?.Length ?? 0,
            Atime = n.Atime, Mtime = n.Mtime, Ctime = n.Ctime, Birthtime = n.Birth,
        };
        m.Lock.Exit();
        return 0;
    }

    public override int Setattr(Vnode vp, in Vattr va, Lwp l)
    {
        RumpfsNode n = N(vp);
        RumpfsMount m = M(vp);
        if ((va.Mask & VaMask.Size) != 0) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        m.Lock.Enter();
        if ((va.Mask & VaMask.Mode) != 0) n.Mode = va.Mode & 0xfff;
        if ((va.Mask & VaMask.Uid) != 0) n.Uid = va.Uid;
        if ((va.Mask & VaMask.Gid) != 0) n.Gid = va.Gid;
        if ((va.Mask & VaMask.Atime) != 0) n.Atime = va.Atime;
        if ((va.Mask & VaMask.Mtime) != 0) n.Mtime = va.Mtime;
        n.Ctime = Clock.Now();
        m.Lock.Exit();
        return 0;
    }

    private static int Add(Vnode dvp, string name, VType type, in Vattr va, Lwp l, byte[]? target, out Vnode? vp)
    {
        vp = null;
        RumpfsNode d = N(dvp);
        RumpfsMount m = M(dvp);
        RumpfsNode n;
        m.Lock.Enter();
        try
        {
            if (d.Entries!.ContainsKey(name)) return Abi.EEXIST;
            n = m.NewNodeLocked(type, va.Mode, va.Uid, d.Gid, d);
            n.Target = target;
            d.Entries[name] = n;
            d.Order!.Add(name);
            if (type == VType.VDIR) d.Nlink++;
            d.Mtime = d.Ctime = Clock.Now();
        }
        finally { m.Lock.Exit(); }
        // Removed again before we got its vnode: the VFS looks the name up again.
        int e = dvp.Mount.Vfs.Vcache.Get(dvp.Mount, n.Id, n, out vp);
        return e == Abi.ENOENT ? Abi.ERESTART : e;
    }

    public override int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp) => Add(dvp, name, VType.VDIR, va, l, null, out vp);

    public override int Symlink(Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, Lwp l, out Vnode? vp)
        => Add(dvp, name, VType.VLNK, va, l, target.ToArray(), out vp);

    private static int Drop(Vnode dvp, string name, Vnode vp, bool dir)
    {
        RumpfsNode d = N(dvp), n = N(vp);
        RumpfsMount m = M(dvp);
        m.Lock.Enter();
        try
        {
            if (!d.Entries!.TryGetValue(name, out RumpfsNode? cur) || cur != n) return Abi.ENOENT;
            if (dir && n.Entries!.Count != 0) return Abi.ENOTEMPTY;
            d.Entries.Remove(name);
            d.Order!.Remove(name);
            if (dir) d.Nlink--;
            n.Nlink = 0;
            d.Mtime = d.Ctime = n.Ctime = Clock.Now();
            m.Forget(n);
            return 0;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => Drop(dvp, name, vp, dir: false);
    public override int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => Drop(dvp, name, vp, dir: true);

    public override int Readlink(Vnode vp, ref Uio uio, Lwp l)
    {
        RumpfsNode n = N(vp);
        return n.Target == null ? Abi.EINVAL : uio.Move((ReadOnlySpan<byte>)n.Target);
    }

    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l)
    {
        RumpfsNode d = N(vp);
        if (d.Entries == null) return Abi.ENOTDIR;
        RumpfsMount m = M(vp);
        m.Lock.Enter();
        try
        {
            // Cookies: 0 ".", 1 "..", 2+i the i-th entry in creation order.
            bool any = false;
            while (true)
            {
                RumpfsNode? n;
                string name;
                if (cookie == 0) { n = d; name = "."; }
                else if (cookie == 1) { n = d.Parent; name = ".."; }
                else if (cookie - 2 < d.Order!.Count) { name = d.Order[(int)(cookie - 2)]; n = d.Entries[name]; }
                else return 0;
                int e = ReaddirSink.Add(ref uio, n.Id, n.Type, name, out bool full);
                if (e != 0) return e;
                if (full) return any ? 0 : Abi.EINVAL;
                any = true;
                cookie++;
            }
        }
        finally { m.Lock.Exit(); }
    }
}
