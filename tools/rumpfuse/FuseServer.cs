using System;
using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Collections.Generic;
using System.Threading;
using Rump.Fuse.Interop;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fuse;

/// <summary>
/// The FUSE requests served on the kernel's vnode layer (<see cref="VnodeLayer"/>): every
/// operation runs with the requesting process's uid, gid and groups (fuse_req_ctx,
/// fuse_req_getgroups), so the permission checks are the kernel's own.
///
/// Threads: libfuse's session loop runs requests on several host threads at once. Each thread
/// gets one lwp of the server's kernel process the first time it serves a request (as a
/// thread calling rump_pub_lwproc_newlwp) and keeps it; a request takes a virtual CPU for the
/// kernel work and gives it up before replying, as a system call does. Nothing here blocks
/// with a CPU held except inside the kernel. The one reply sent from inside the kernel is a
/// spliced read (<see cref="SpliceReply"/>): under the file system's locks, without the CPU.
///
/// Locks: <see cref="NodeTable"/>'s and <see cref="Handles"/>'s host locks, each a leaf, never
/// held across a kernel call; an open directory's lock(OpenFile) is held while its entries are
/// loaded (a kernel call) and read, and nothing else is taken under it but the kernel's own.
///
/// Errors: every request gets exactly one reply. An errno from the kernel (NetBSD's number) is
/// translated to the host's. An exception reaching here is a kernel bug: the kernel panics
/// (contained), the request and every later one fail with EIO, and the session ends so that
/// the process unmounts and exits.
/// </summary>
internal sealed unsafe class FuseServer
{
    public readonly Kernel K;
    private readonly NodeTable _nodes;
    private readonly Handles _handles = new();
    private readonly int _pid;
    /// <summary>Each host thread's lwp (null until its first request).</summary>
    private readonly ThreadLocal<Lwp?> _lwp = new();
    private readonly double _attrTimeout, _entryTimeout;

    /// <summary>The libfuse session (set once it exists; the panic path ends it).</summary>
    public nint Session;
    /// <summary>A panic happened: set once, read by every request.</summary>
    private volatile bool _failed;
    public bool Failed => _failed;

    public const int MaxIo = 1 << 20;

    /// <summary>Reads of at least this many bytes try the spliced reply (<see cref="SpliceReply"/>); below it a copy costs less than the pipe.</summary>
    public const int SpliceMin = 32 << 10;
    /// <summary>Largest read answered by splicing (0: none). Set at init from what the connection and the pipe size allow.</summary>
    public int SpliceMax;
    /// <summary>Whether spliced replies ask the host to move pages (FUSE_CAP_SPLICE_MOVE; RUMPFUSE_SPLICE=move).</summary>
    public bool SpliceMove;
    /// <summary>Each host thread's spliced-reply sink (null until its first large read).</summary>
    private readonly ThreadLocal<SpliceReply?> _splice = new();
    /// <summary>Reads answered by splicing, and those answered from a copy (counts for RUMPFUSE_STATS).</summary>
    public long SplicedReads, SplicedBytes, CopiedReads, CopiedBytes;

    // Linux errno values FUSE replies use directly.
    private const int LinuxEIO = 5, LinuxEINVAL = 22, LinuxENOSYS = 38, LinuxEPERM = 1;

    public FuseServer(Kernel k, int pid, Vnode root, double attrTimeout, double entryTimeout)
    {
        K = k;
        _pid = pid;
        _nodes = new NodeTable(root);
        _attrTimeout = attrTimeout;
        _entryTimeout = entryTimeout;
    }

    public int NodeCount => _nodes.Count;

    // ---- Entering the kernel ----------------------------------------------------------------

    /// <summary>The calling thread's lwp, on a CPU; null when the kernel is dead (reply EIO).</summary>
    private Lwp? Begin()
    {
        try { return Enter(); }
        catch (Exception ex) { Contain(ex); return null; }
    }

    private Lwp? Enter()
    {
        if (_failed || K.IsDead) return null;
        Lwp? l = _lwp.Value;
        if (l == null)
        {
            if (K.LwprocNewlwp(_pid) != 0) return null;
            l = K.Curlwp();
            _lwp.Value = l;
        }
        K.Sched.Schedule(l);
        return l;
    }

    private void End(Lwp l)
    {
        if (l.Cpu != null) K.Sched.Unschedule(l);
    }

    /// <summary>A request's kernel work, on the calling thread's lwp with a CPU held.</summary>
    private delegate int KernelWork<T>(FuseServer s, Lwp l, ref T a);

    /// <summary>
    /// Runs <paramref name="work"/> in the kernel: EIO when the kernel is dead, and an exception
    /// escaping it is contained as a panic (EIO). Arguments and results travel in
    /// <paramref name="a"/>, so the work is a static lambda and a request allocates no closure.
    /// </summary>
    private int InKernel<T>(ref T a, KernelWork<T> work)
    {
        Lwp? l = Begin();
        if (l == null) return Abi.EIO;
        try { return work(this, l, ref a); }
        catch (Exception ex) { return Contain(ex); }
        finally { End(l); }
    }

    /// <summary>An exception escaped the kernel: the kernel panics (unless this is a panic's unwinding), the session ends; EIO.</summary>
    private int Contain(Exception ex)
    {
        if (ex is not KernelPanicException)
        {
            try { K.PanicHere("rumpfuse: " + ex); }
            catch (KernelPanicException) { }
        }
        _failed = true;
        if (Session != 0) LibFuse.SessionExit(Session);
        return Abi.EIO;
    }

    private static void ReplyErr(nint req, int netbsdErrno) => LibFuse.ReplyErr(req, HostErrno.FromNetbsd(netbsdErrno));

    /// <summary>
    /// The requester's credential: fsuid, fsgid and supplementary groups (read before entering the
    /// kernel: it reads /proc). The superuser's groups are never consulted (every kauth check that
    /// looks at groups passes root first), so a root requester costs no read of
    /// /proc/PID/task/TID/status (an open, read and close, and the host kernel formatting the whole
    /// status file: a tenth of rumpfuse's CPU in a tar x as root).
    /// </summary>
    private static Cred ReqCred(nint req)
    {
        FuseCtx* c = LibFuse.ReqCtx(req);
        if (c->Uid == 0) return Cred.Make(0, c->Gid);
        const int Max = 64;
        uint* g = stackalloc uint[Max];
        int n = LibFuse.ReqGetgroups(req, Max, g);
        uint[] groups = n > 0 ? new ReadOnlySpan<uint>(g, Math.Min(n, Max)).ToArray() : Array.Empty<uint>();
        return Cred.Make(c->Uid, c->Gid, groups);
    }

    private static string Name(byte* s) => Marshal.PtrToStringUTF8((nint)s) ?? "";

    /// <summary>
    /// At init: large reads are answered by splicing from the image (<see cref="SpliceReply"/>) when
    /// the host takes spliced replies (FUSE_CAP_SPLICE_WRITE) and RUMPFUSE_SPLICE is not 0 (an A/B
    /// switch for benchmarks; "move" also asks the host to move pages, FUSE_CAP_SPLICE_MOVE).
    /// libfuse splices a reply through a pipe of the reply's size plus a page per buffer and two;
    /// only a privileged process may grow a pipe beyond /proc/sys/fs/pipe-max-size (1 MiB), and
    /// libfuse falls back to a copy (a malloc, pread and write per read) for a reply its pipe cannot
    /// hold. So an unprivileged rumpfuse splices only the reads that fit, and copies the rest itself.
    /// </summary>
    /// <summary>Whether directory listings carry attributes (-o readdirplus); set before the session starts.</summary>
    public bool UseReaddirplus;

    /// <summary>
    /// Plain READDIR unless asked: with READDIRPLUS the host sends it at the start of every
    /// directory it lists, even for find, and each entry then costs a kernel lookup and a host
    /// inode nobody asked for (10,000 entries: find 0.11 s against 0.03 s; ls -lR 0.13 against 0.38).
    /// </summary>
    public void InitReaddir(FuseConnInfo* conn)
    {
        if (!UseReaddirplus) conn->Want &= ~(FuseConnInfo.CapReaddirplus | FuseConnInfo.CapReaddirplusAuto);
    }

    public void InitSplice(FuseConnInfo* conn)
    {
        string? mode = Environment.GetEnvironmentVariable("RUMPFUSE_SPLICE");
        SpliceMax = 0;
        if (mode == "0" || (conn->Capable & FuseConnInfo.CapSpliceWrite) == 0) return;
        conn->Want |= FuseConnInfo.CapSpliceWrite;
        if (mode == "move" && (conn->Capable & FuseConnInfo.CapSpliceMove) != 0)
        {
            conn->Want |= FuseConnInfo.CapSpliceMove;
            SpliceMove = true;
        }
        if (Libc.Geteuid() == 0) { SpliceMax = MaxIo; return; }
        const int Page = 4096;
        long pipeMax = 0;
        try { pipeMax = long.Parse(System.IO.File.ReadAllText("/proc/sys/fs/pipe-max-size").Trim(), System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is System.IO.IOException or FormatException or UnauthorizedAccessException or OverflowException) { }
        SpliceMax = (int)Math.Clamp(pipeMax - (SpliceReply.MaxRuns + 3) * Page, 0, MaxIo);
    }

    /// <summary>"spliced READS BYTES copied READS BYTES": how reads were answered (written to $RUMPFUSE_STATS at exit, for tests and benchmarks).</summary>
    public string ReadStats()
        => "spliced " + Interlocked.Read(ref SplicedReads) + " " + Interlocked.Read(ref SplicedBytes)
           + " copied " + Interlocked.Read(ref CopiedReads) + " " + Interlocked.Read(ref CopiedBytes) + "\n";

    // ---- Attributes ---------------------------------------------------------------------------

    private static void ToStat(in Vattr va, out LinuxStat st)
    {
        st = default;
        st.Dev = va.Fsid;
        st.Ino = va.Fileid;
        st.Nlink = va.Nlink;
        st.Mode = Vattr.TypeToMode(va.Type) | (va.Mode & 0xfff);
        st.Uid = va.Uid;
        st.Gid = va.Gid;
        st.Size = va.Size;
        st.Blksize = va.Blocksize;
        st.Blocks = (va.Bytes + 511) / 512;
        st.AtimeSec = va.Atime.tv_sec; st.AtimeNsec = va.Atime.tv_nsec;
        st.MtimeSec = va.Mtime.tv_sec; st.MtimeNsec = va.Mtime.tv_nsec;
        st.CtimeSec = va.Ctime.tv_sec; st.CtimeNsec = va.Ctime.tv_nsec;
    }

    /// <summary>Fills an entry reply for <paramref name="vp"/>, whose reference passes to the node table (one lookup).</summary>
    private int Entry(Lwp l, Vnode vp, out FuseEntryParam ep)
    {
        ep = default;
        int e = VnodeLayer.Getattr(l, vp, out Vattr va);
        if (e != 0) { vp.Rele(); return e; }
        ulong id = _nodes.Add(vp, out bool extra);
        if (extra) vp.Rele();
        ep.Ino = id;
        ToStat(va, out ep.Attr);
        ep.AttrTimeout = _attrTimeout;
        ep.EntryTimeout = _entryTimeout;
        return 0;
    }

    // ---- Open flags ---------------------------------------------------------------------------

    // Linux x86-64 open(2) flags as FUSE passes them.
    private const int LO_CREAT = 0x40, LO_EXCL = 0x80, LO_TRUNC = 0x200, LO_APPEND = 0x400, LO_NONBLOCK = 0x800,
        LO_DSYNC = 0x1000, LO_DIRECT = 0x4000, LO_DIRECTORY = 0x10000, LO_NOFOLLOW = 0x20000, LO_SYNC = 0x100000;

    /// <summary>Linux open flags as NetBSD f_flag (FFLAGS applied).</summary>
    public static int FFlagFromLinux(int lf)
    {
        int f = lf & 3;
        if ((lf & LO_CREAT) != 0) f |= Abi.O_CREAT;
        if ((lf & LO_EXCL) != 0) f |= Abi.O_EXCL;
        if ((lf & LO_TRUNC) != 0) f |= Abi.O_TRUNC;
        if ((lf & LO_APPEND) != 0) f |= Abi.O_APPEND;
        if ((lf & LO_NONBLOCK) != 0) f |= Abi.O_NONBLOCK;
        if ((lf & LO_SYNC) != 0) f |= Abi.O_SYNC;
        else if ((lf & LO_DSYNC) != 0) f |= Abi.O_DSYNC;
        if ((lf & LO_DIRECT) != 0) f |= Abi.O_DIRECT;
        if ((lf & LO_DIRECTORY) != 0) f |= Abi.O_DIRECTORY;
        if ((lf & LO_NOFOLLOW) != 0) f |= Abi.O_NOFOLLOW;
        return VnodeLayer.FFlags(f);
    }

    private static int IoFlags(int fflag)
        => ((fflag & Abi.O_APPEND) != 0 ? IoFlag.Append : 0) | ((fflag & (Abi.O_SYNC | Abi.O_DSYNC)) != 0 ? IoFlag.Sync : 0);

    // ---- Requests -----------------------------------------------------------------------------
    // Each request: its credential and names are read first (host work), then the kernel work runs
    // in InKernel (a CPU held), then the reply is sent with no CPU held.

    public void Lookup(nint req, ulong parent, byte* name)
    {
        var a = (cred: ReqCred(req), parent, name: Name(name), ep: default(FuseEntryParam));
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? dvp = s._nodes.Get(a.parent);
            if (dvp == null) return Abi.ESTALE;
            int r = VnodeLayer.Lookup(l, a.cred, dvp, a.name, out Vnode? vp);
            return r != 0 ? r : s.Entry(l, vp!, out a.ep);
        });
        if (e == 0) LibFuse.ReplyEntry(req, &a.ep); else ReplyErr(req, e);
    }

    public void Forget(nint req, ulong ino, ulong nlookup)
    {
        Vnode? vp = _nodes.Forget(ino, nlookup);
        if (vp != null) ReleaseVnodes(vp, null, 0);
        LibFuse.ReplyNone(req);
    }

    public void ForgetMulti(nint req, nuint count, FuseForgetData* f)
    {
        Vnode[]? dead = null;
        int nd = 0;
        for (nuint i = 0; i < count; i++)
        {
            Vnode? vp = _nodes.Forget(f[i].Ino, f[i].Nlookup);
            if (vp == null) continue;
            dead ??= new Vnode[(int)count];
            dead[nd++] = vp;
        }
        if (dead != null) ReleaseVnodes(null, dead, nd);
        LibFuse.ReplyNone(req);
    }

    /// <summary>Drops vnode references the node table gave up (kernel work: the last one may reclaim).</summary>
    private void ReleaseVnodes(Vnode? one, Vnode[]? many, int n)
    {
        var a = (one, many, n);
        InKernel(ref a, static (s, l, ref a) =>
        {
            a.one?.Rele();
            for (int i = 0; i < a.n; i++) a.many![i].Rele();
            return 0;
        });
    }

    public void Getattr(nint req, ulong ino)
    {
        var a = (ino, st: default(LinuxStat));
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? vp = s._nodes.Get(a.ino);
            if (vp == null) return Abi.ESTALE;
            int r = VnodeLayer.Getattr(l, vp, out Vattr va);
            if (r == 0) ToStat(va, out a.st);
            return r;
        });
        if (e == 0) LibFuse.ReplyAttr(req, &a.st, _attrTimeout); else ReplyErr(req, e);
    }

    // FUSE_SET_ATTR_* bits.
    private const int SetMode = 1, SetUid = 2, SetGid = 4, SetSize = 8, SetAtime = 16, SetMtime = 32, SetAtimeNow = 128, SetMtimeNow = 256;

    public void Setattr(nint req, ulong ino, LinuxStat* attr, int toSet, FuseFileInfo* fi)
    {
        OpenFile? of = fi != null ? _handles.Get(fi->Fh) : null;
        var a = (cred: ReqCred(req), ino, of, attr: *attr, toSet, st: default(LinuxStat));
        int e = InKernel(ref a, static (s, l, ref a)
            => SetattrK(l, a.cred, a.of?.Vp ?? s._nodes.Get(a.ino), a.of, in a.attr, a.toSet, out a.st));
        if (e == 0) LibFuse.ReplyAttr(req, &a.st, _attrTimeout); else ReplyErr(req, e);
    }

    private static int SetattrK(Lwp l, Cred cred, Vnode? vp, OpenFile? of, in LinuxStat a, int toSet, out LinuxStat st)
    {
        st = default;
        if (vp == null) return Abi.ESTALE;
        int r = 0;
        if ((toSet & SetMode) != 0) r = VnodeLayer.Chmod(l, cred, vp, a.Mode & 0xfff);
        if (r == 0 && (toSet & (SetUid | SetGid)) != 0)
            r = VnodeLayer.Chown(l, cred, vp, (toSet & SetUid) != 0 ? a.Uid : uint.MaxValue, (toSet & SetGid) != 0 ? a.Gid : uint.MaxValue);
        if (r == 0 && (toSet & SetSize) != 0)
            r = VnodeLayer.Truncate(l, cred, vp, a.Size, opened: of != null && (of.FFlag & File.FWRITE) != 0);
        if (r == 0 && (toSet & (SetAtime | SetMtime | SetAtimeNow | SetMtimeNow)) != 0)
        {
            RumpTimespec now = Now();
            var va = new Vattr();
            if ((toSet & SetAtimeNow) != 0) { va.Atime = now; va.Mask |= VaMask.Atime; }
            else if ((toSet & SetAtime) != 0) { va.Atime = new RumpTimespec { tv_sec = a.AtimeSec, tv_nsec = a.AtimeNsec }; va.Mask |= VaMask.Atime; }
            if ((toSet & SetMtimeNow) != 0) { va.Mtime = now; va.Mask |= VaMask.Mtime; }
            else if ((toSet & SetMtime) != 0) { va.Mtime = new RumpTimespec { tv_sec = a.MtimeSec, tv_nsec = a.MtimeNsec }; va.Mask |= VaMask.Mtime; }
            // Only "now" for both (touch, utimes(NULL)) needs write access; chosen times need ownership.
            r = VnodeLayer.SetTimes(l, cred, vp, va, onlyNow: (toSet & (SetAtime | SetMtime)) == 0
                || ((toSet & SetAtimeNow) != 0 && (toSet & SetMtimeNow) != 0));
        }
        if (r != 0) return r;
        r = VnodeLayer.Getattr(l, vp, out Vattr cur);
        if (r == 0) ToStat(cur, out st);
        return r;
    }

    private static RumpTimespec Now()
    {
        long ticks = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
        return new RumpTimespec { tv_sec = ticks / TimeSpan.TicksPerSecond, tv_nsec = ticks % TimeSpan.TicksPerSecond * 100 };
    }

    public void Readlink(nint req, ulong ino)
    {
        byte* buf = stackalloc byte[Namei.PathMax + 1];
        var a = (ino, buf: (nint)buf, len: 0);
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? vp = s._nodes.Get(a.ino);
            if (vp == null) return Abi.ESTALE;
            IoVec iov;
            iov.Base = new UserPtr(a.buf);
            iov.Len = Namei.PathMax;
            var uio = new Uio(l.Proc.Vmspace, MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
            int r = VnodeLayer.Readlink(l, vp, ref uio);
            a.len = (int)(Namei.PathMax - uio.Resid);
            return r;
        });
        if (e != 0) { ReplyErr(req, e); return; }
        buf[a.len] = 0;
        LibFuse.ReplyReadlink(req, buf);
    }

    private const uint LS_IFMT = 0xf000, LS_IFREG = 0x8000, LS_IFIFO = 0x1000, LS_IFSOCK = 0xc000;

    private enum Make { File, Dir, Link }

    public void Mknod(nint req, ulong parent, byte* name, uint mode, ulong rdev)
    {
        VType type = (mode & LS_IFMT) switch
        {
            LS_IFREG or 0 => VType.VREG,
            LS_IFIFO => VType.VFIFO,
            LS_IFSOCK => VType.VSOCK,
            _ => VType.VNON,
        };
        // Device nodes would need the host's device numbers translated: not served.
        if (type == VType.VNON) { LibFuse.ReplyErr(req, LinuxEPERM); return; }
        MakeEntry(req, parent, name, Make.File, type, mode, null);
    }

    public void Mkdir(nint req, ulong parent, byte* name, uint mode) => MakeEntry(req, parent, name, Make.Dir, VType.VDIR, mode, null);

    public void Symlink(nint req, byte* link, ulong parent, byte* name)
        => MakeEntry(req, parent, name, Make.Link, VType.VLNK, 0x1ff, new ReadOnlySpan<byte>(link, (int)StrLen(link)).ToArray());

    private static nuint StrLen(byte* s)
    {
        nuint n = 0;
        while (s[n] != 0) n++;
        return n;
    }

    private void MakeEntry(nint req, ulong parent, byte* name, Make what, VType type, uint mode, byte[]? target)
    {
        var a = (cred: ReqCred(req), parent, name: Name(name), what, type, mode, target, ep: default(FuseEntryParam));
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? dvp = s._nodes.Get(a.parent);
            if (dvp == null) return Abi.ESTALE;
            Vnode? vp;
            int r = a.what switch
            {
                Make.Dir => VnodeLayer.Mkdir(l, a.cred, dvp, a.name, a.mode & 0xfff, out vp),
                Make.Link => VnodeLayer.Symlink(l, a.cred, dvp, a.name, a.target, a.mode, out vp),
                _ => VnodeLayer.Create(l, a.cred, dvp, a.name, a.type, a.mode & 0xfff, 0, out vp),
            };
            return r != 0 ? r : s.Entry(l, vp!, out a.ep);
        });
        if (e == 0) LibFuse.ReplyEntry(req, &a.ep); else ReplyErr(req, e);
    }

    public void Remove(nint req, ulong parent, byte* name, bool dir)
    {
        var a = (cred: ReqCred(req), parent, name: Name(name), dir);
        ReplyErr(req, InKernel(ref a, static (s, l, ref a) => s.RemoveK(l, a.cred, a.parent, a.name, a.dir)));
    }

    private int RemoveK(Lwp l, Cred cred, ulong parent, string n, bool dir)
    {
        Vnode? dvp = _nodes.Get(parent);
        if (dvp == null) return Abi.ESTALE;
        int r, tries = 0;
        do
        {
            r = VnodeLayer.Lookup(l, cred, dvp, n, out Vnode? vp);
            if (r != 0) return r;
            r = VnodeLayer.Remove(l, cred, dvp, n, vp!, dir);
            vp!.Rele();
        }
        while (r == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(r);
    }

    // renameat2(2) flags.
    private const uint RenameNoreplace = 1;

    public void Rename(nint req, ulong parent, byte* name, ulong newparent, byte* newname, uint flags)
    {
        // RENAME_EXCHANGE needs an atomic swap the file systems do not offer; RENAME_WHITEOUT is unionfs's.
        if ((flags & ~RenameNoreplace) != 0) { LibFuse.ReplyErr(req, LinuxEINVAL); return; }
        var a = (cred: ReqCred(req), parent, from: Name(name), newparent, to: Name(newname), noreplace: (flags & RenameNoreplace) != 0);
        ReplyErr(req, InKernel(ref a, static (s, l, ref a) => s.RenameK(l, a.cred, a.parent, a.from, a.newparent, a.to, a.noreplace)));
    }

    private int RenameK(Lwp l, Cred cred, ulong parent, string fname, ulong newparent, string tname, bool noreplace)
    {
        Vnode? fdvp = _nodes.Get(parent), tdvp = _nodes.Get(newparent);
        if (fdvp == null || tdvp == null) return Abi.ESTALE;
        int r, tries = 0;
        do
        {
            r = VnodeLayer.Lookup(l, cred, fdvp, fname, out Vnode? fvp);
            if (r != 0) return r;
            r = VnodeLayer.Lookup(l, cred, tdvp, tname, out Vnode? tvp);
            if (r == Abi.ENOENT) { r = 0; tvp = null; }
            // RENAME_NOREPLACE is checked, then the rename done: a name another request makes
            // between the two is replaced (the file systems have no atomic form of it).
            if (r == 0 && tvp != null && noreplace) r = Abi.EEXIST;
            if (r == 0) r = VnodeLayer.Rename(l, cred, fdvp, fname, fvp!, tdvp, tname, tvp);
            fvp!.Rele();
            tvp?.Rele();
        }
        while (r == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(r);
    }

    public void Link(nint req, ulong ino, ulong newparent, byte* newname)
    {
        var a = (cred: ReqCred(req), ino, newparent, name: Name(newname), ep: default(FuseEntryParam));
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? vp = s._nodes.Get(a.ino), dvp = s._nodes.Get(a.newparent);
            if (vp == null || dvp == null) return Abi.ESTALE;
            int r = VnodeLayer.Link(l, a.cred, dvp, a.name, vp);
            return r != 0 ? r : s.Entry(l, vp.Ref(), out a.ep);
        });
        if (e == 0) LibFuse.ReplyEntry(req, &a.ep); else ReplyErr(req, e);
    }

    public void Open(nint req, ulong ino, FuseFileInfo* fi, bool dir)
    {
        int fflag = dir ? File.FREAD | Abi.O_DIRECTORY : FFlagFromLinux(fi->Flags);
        var a = (cred: ReqCred(req), ino, fflag, of: (OpenFile?)null);
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? vp = s._nodes.Get(a.ino);
            if (vp == null) return Abi.ESTALE;
            int r = VnodeLayer.OpenVnode(l, a.cred, vp, a.fflag);
            if (r == 0) a.of = new OpenFile(vp.Ref(), a.fflag);
            return r;
        });
        if (e != 0) { ReplyErr(req, e); return; }
        fi->Fh = _handles.Add(a.of!);
        if (!dir) SetOpenBits(fi, fflag);
        if (LibFuse.ReplyOpen(req, fi) != 0) DropHandle(fi->Fh);   // interrupted: the host will not release it
    }

    /// <summary>
    /// O_DIRECT bypasses the host's page cache; otherwise the cache stays valid across opens (this
    /// server is the only writer). FOPEN_DIRECT_IO for every open was measured and left out: a
    /// 1 GiB dd took 0.86-0.92 CPU-s and 1.5-5.1 s against 0.26-0.33 CPU-s and 0.6-1.0 s through
    /// the page cache (each read one synchronous request, no read-ahead), and with libfuse 3.14
    /// (no FUSE_DIRECT_IO_ALLOW_MMAP) shared mmap(2) of a file fails with ENODEV.
    /// </summary>
    private static void SetOpenBits(FuseFileInfo* fi, int fflag)
        => fi->Bits |= (fflag & Abi.O_DIRECT) != 0 ? FuseFileInfo.DirectIo : FuseFileInfo.KeepCache;

    public void Create(nint req, ulong parent, byte* name, uint mode, FuseFileInfo* fi)
    {
        int fflag = FFlagFromLinux(fi->Flags);
        var a = (cred: ReqCred(req), parent, name: Name(name), mode, fflag, ep: default(FuseEntryParam), of: (OpenFile?)null);
        int e = InKernel(ref a, static (s, l, ref a) => s.CreateK(l, a.cred, a.parent, a.name, a.mode, a.fflag, out a.ep, out a.of));
        if (e != 0) { ReplyErr(req, e); return; }
        fi->Fh = _handles.Add(a.of!);
        SetOpenBits(fi, fflag);
        if (LibFuse.ReplyCreate(req, &a.ep, fi) != 0) DropHandle(fi->Fh);
    }

    private int CreateK(Lwp l, Cred cred, ulong parent, string n, uint mode, int fflag, out FuseEntryParam ep, out OpenFile? of)
    {
        of = null;
        ep = default;
        Vnode? dvp = _nodes.Get(parent);
        if (dvp == null) return Abi.ESTALE;
        int r = VnodeLayer.Create(l, cred, dvp, n, VType.VREG, mode & 0xfff, 0, out Vnode? vp);
        if (r == 0) r = Vop.Open(l, vp!, fflag & ~Abi.O_TRUNC);   // a new file's mode governs later opens only
        else if (r == Abi.EEXIST && (fflag & Abi.O_EXCL) == 0)
        {
            // Made by another request since the host looked: open what is there, as open(O_CREAT) would.
            r = VnodeLayer.Lookup(l, cred, dvp, n, out vp);
            if (r == 0) r = VnodeLayer.OpenVnode(l, cred, vp!, fflag);
        }
        if (r != 0) { vp?.Rele(); return r; }
        var f = new OpenFile(vp!.Ref(), fflag);
        r = Entry(l, vp, out ep);
        if (r != 0) { Vop.Close(l, f.Vp, fflag); f.Vp.Rele(); return r; }
        of = f;
        return 0;
    }

    public void Read(nint req, nuint size, long off, FuseFileInfo* fi)
    {
        OpenFile? of = _handles.Get(fi->Fh);
        if (of == null) { ReplyErr(req, Abi.EBADF); return; }
        int n = (int)Math.Min(size, (nuint)MaxIo);
        if (n >= SpliceMin && n <= SpliceMax && Splice(req, of.Vp, n, off)) return;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var a = (vp: of.Vp, buf, n, off, resid: 0L);
            int e = InKernel(ref a, static (s, l, ref a)
                => VnodeLayer.Rdwr(l, write: false, a.vp, a.buf.AsSpan(0, a.n), a.off, 0, l.Cred, out a.resid));
            if (e != 0) { ReplyErr(req, e); return; }
            fixed (byte* p = buf) LibFuse.ReplyBuf(req, p, (nuint)(n - a.resid));
            Interlocked.Increment(ref CopiedReads);
            Interlocked.Add(ref CopiedBytes, n - a.resid);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>
    /// Answers a read by splicing from the image (<see cref="SpliceReply"/>) when the kernel can
    /// hand the range over; false, with the request unanswered, when it cannot (read it then).
    /// </summary>
    private bool Splice(nint req, Vnode vp, int n, long off)
    {
        SpliceReply sr = _splice.Value ??= new SpliceReply(K, SpliceMove);
        sr.Start(req);
        var a = (vp, off, n, sr);
        InKernel(ref a, static (s, l, ref a) => Vop.Bmap(l, a.vp, a.off, a.n, 0, a.sr));
        if (!sr.Replied) return false;
        Interlocked.Increment(ref SplicedReads);
        Interlocked.Add(ref SplicedBytes, sr.Bytes);
        return true;
    }

    public void Write(nint req, byte* data, nuint size, long off, FuseFileInfo* fi)
    {
        OpenFile? of = _handles.Get(fi->Fh);
        if (of == null) { ReplyErr(req, Abi.EBADF); return; }
        int n = (int)Math.Min(size, (nuint)int.MaxValue);
        var a = (vp: of.Vp, data: (nint)data, n, off, ioflag: IoFlags(of.FFlag), resid: (long)n);
        int e = InKernel(ref a, static (s, l, ref a)
            => VnodeLayer.Rdwr(l, write: true, a.vp, new Span<byte>((void*)a.data, a.n), a.off, a.ioflag, l.Cred, out a.resid));
        // A short write reports what reached the file; an error only when nothing did.
        if (e != 0 && a.resid == n) ReplyErr(req, e);
        else LibFuse.ReplyWrite(req, (nuint)(n - a.resid));
    }

    /// <summary>
    /// flush (each close(2) of a descriptor): nothing to do, since a write is in the kernel's
    /// cache before it returns (written by fsync or at unmount). ENOSYS is FUSE's way to say so:
    /// the host answers this close and every later one itself (fc->no_flush), a round trip less
    /// per close (1,000 of them in a tar x of 1,000 files).
    /// </summary>
    public static void Flush(nint req) => LibFuse.ReplyErr(req, LinuxENOSYS);

    public void Release(nint req, FuseFileInfo* fi)
    {
        DropHandle(fi->Fh);
        LibFuse.ReplyErr(req, 0);
    }

    private void DropHandle(ulong fh)
    {
        OpenFile? of = _handles.Remove(fh);
        if (of == null) return;
        InKernel(ref of, static (s, l, ref of) => { Vop.Close(l, of.Vp, of.FFlag); of.Vp.Rele(); return 0; });
    }

    public void Fsync(nint req, int datasync, FuseFileInfo* fi)
    {
        OpenFile? of = _handles.Get(fi->Fh);
        if (of == null) { ReplyErr(req, Abi.EBADF); return; }
        var a = (vp: of.Vp, datasync: datasync != 0);
        ReplyErr(req, InKernel(ref a, static (s, l, ref a) => Vop.Fsync(l, a.vp, a.datasync)));
    }

    public void Readdir(nint req, nuint size, long off, FuseFileInfo* fi)
    {
        OpenFile? of = _handles.Get(fi->Fh);
        if (of == null) { ReplyErr(req, Abi.EBADF); return; }
        int cap = (int)Math.Min(size, (nuint)MaxIo);
        byte[] buf = ArrayPool<byte>.Shared.Rent(Math.Max(cap, 1));
        try
        {
            lock (of)
            {
                if (off == 0 || of.Entries == null)
                {
                    // Offsets are indexes into the entries read at opendir (or at a rewind), so a
                    // reply cut short by the host's buffer resumes exactly.
                    var a = (vp: of.Vp, entries: new List<DirEntry>());
                    int e = InKernel(ref a, static (s, l, ref a) => LoadDir(l, a.vp, a.entries));
                    if (e != 0) { ReplyErr(req, e); return; }
                    of.Entries = a.entries;
                }
                List<DirEntry> list = of.Entries;
                nuint pos = 0;
                LinuxStat st = default;
                fixed (byte* p = buf)
                {
                    for (long i = off; i >= 0 && i < list.Count; i++)
                    {
                        DirEntry d = list[(int)i];
                        st.Ino = d.Ino;
                        st.Mode = (uint)d.Type << 12;   // DT_* are S_IFMT >> 12
                        fixed (byte* nm = d.NameZ)
                        {
                            nuint need = LibFuse.AddDirentry(req, p + pos, (nuint)cap - pos, nm, &st, i + 1);
                            if (need > (nuint)cap - pos) break;
                            pos += need;
                        }
                    }
                    LibFuse.ReplyBuf(req, p, pos);
                }
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>
    /// readdirplus: each entry with its attributes and a lookup (one more count on its node, as a
    /// lookup reply). An entry that no longer fits the host's buffer gives its count back.
    /// "." and ".." carry no node (the host ignores them).
    /// </summary>
    public void Readdirplus(nint req, nuint size, long off, FuseFileInfo* fi)
    {
        OpenFile? of = _handles.Get(fi->Fh);
        if (of == null) { ReplyErr(req, Abi.EBADF); return; }
        Cred cred = ReqCred(req);
        int cap = (int)Math.Min(size, (nuint)MaxIo);
        byte[] buf = ArrayPool<byte>.Shared.Rent(Math.Max(cap, 1));
        try
        {
            lock (of)
            {
                var a = (req, cred, of, buf, cap, off, pos: (nuint)0);
                int e = InKernel(ref a, static (s, l, ref a) =>
                {
                    if (a.off == 0 || a.of.Entries == null)
                    {
                        var entries = new List<DirEntry>();
                        int r = LoadDir(l, a.of.Vp, entries);
                        if (r != 0) return r;
                        a.of.Entries = entries;
                    }
                    a.pos = s.FillPlus(l, a.req, a.cred, a.of, a.buf, a.cap, a.off);
                    return 0;
                });
                if (e != 0) { ReplyErr(req, e); return; }
                fixed (byte* p = buf) LibFuse.ReplyBuf(req, p, a.pos);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private nuint FillPlus(Lwp l, nint req, Cred cred, OpenFile of, byte[] buf, int cap, long off)
    {
        List<DirEntry> list = of.Entries!;
        nuint pos = 0;
        fixed (byte* p = buf)
        {
            for (long i = off; i >= 0 && i < list.Count; i++)
            {
                DirEntry d = list[(int)i];
                FuseEntryParam ep = default;
                bool dot = d.NameZ.Length <= 3 && d.NameZ[0] == (byte)'.' && (d.NameZ.Length == 2 || d.NameZ[1] == (byte)'.');
                bool counted = false;
                if (!dot)
                {
                    string name = Encoding.UTF8.GetString(d.NameZ, 0, d.NameZ.Length - 1);
                    if (VnodeLayer.Lookup(l, cred, of.Vp, name, out Vnode? vp) == 0 && Entry(l, vp!, out ep) == 0) counted = true;
                }
                if (!counted)
                {
                    // A name that vanished (or "." / ".."): listed without a node.
                    ep = default;
                    ep.Attr.Ino = d.Ino;
                    ep.Attr.Mode = (uint)d.Type << 12;
                }
                fixed (byte* nm = d.NameZ)
                {
                    nuint need = LibFuse.AddDirentryPlus(req, p + pos, (nuint)cap - pos, nm, &ep, i + 1);
                    if (need > (nuint)cap - pos)
                    {
                        if (counted && _nodes.Forget(ep.Ino, 1) is Vnode gone) gone.Rele();
                        break;
                    }
                    pos += need;
                }
            }
        }
        return pos;
    }

    /// <summary>Every entry of directory <paramref name="vp"/>, by VOP_READDIR in 64 KiB batches.</summary>
    private static int LoadDir(Lwp l, Vnode vp, List<DirEntry> into)
    {
        const int Batch = 64 * 1024;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Batch);
        try
        {
            long cookie = 0;
            fixed (byte* p = buf)
            {
                // A directory of 2^20 batches is damage, not a directory.
                for (int rounds = 0; rounds < 1 << 20; rounds++)
                {
                    IoVec iov;
                    iov.Base = new UserPtr((nint)p);
                    iov.Len = Batch;
                    var uio = new Uio(l.Proc.Vmspace, MemoryMarshal.CreateSpan(ref iov, 1), cookie, isRead: true);
                    long before = cookie;
                    int e = VnodeLayer.Readdir(l, vp, ref uio, ref cookie);
                    if (e != 0) return e;
                    int got = (int)(Batch - uio.Resid);
                    if (got == 0) return 0;
                    ReadOnlySpan<byte> s = buf.AsSpan(0, got);
                    while (Dirent.TryParse(s, out ulong ino, out int reclen, out byte type, out ReadOnlySpan<byte> name))
                    {
                        byte[] z = new byte[name.Length + 1];
                        name.CopyTo(z);
                        into.Add(new DirEntry(z, ino, type));
                        s = s.Slice(reclen);
                    }
                    if (cookie == before) return Abi.EIO;   // no progress: a damaged directory
                }
                return Abi.EIO;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    public void Statfs(nint req, ulong ino)
    {
        var a = (ino, st: default(LinuxStatvfs));
        int e = InKernel(ref a, static (s, l, ref a) =>
        {
            Vnode? vp = s._nodes.Get(a.ino) ?? s._nodes.Get(NodeTable.RootId);
            if (vp == null) return Abi.ESTALE;
            var sv = new RumpStatvfs();
            int r = Vop.Statvfs(l, vp.Mount, ref sv);
            if (r != 0) return r;
            a.st.Bsize = sv.f_bsize;
            a.st.Frsize = sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize;
            a.st.Blocks = sv.f_blocks;
            a.st.Bfree = sv.f_bfree;
            a.st.Bavail = sv.f_bavail;
            a.st.Files = sv.f_files;
            a.st.Ffree = sv.f_ffree;
            a.st.Favail = sv.f_favail;
            a.st.Namemax = sv.f_namemax != 0 ? sv.f_namemax : 255;
            return 0;
        });
        if (e == 0) LibFuse.ReplyStatfs(req, &a.st); else ReplyErr(req, e);
    }

    public void Access(nint req, ulong ino, int mask)
    {
        var a = (cred: ReqCred(req), ino, mask);
        ReplyErr(req, InKernel(ref a, static (s, l, ref a)
            => s._nodes.Get(a.ino) is Vnode vp ? VnodeLayer.CheckAccess(l, a.cred, vp, a.mask & 7) : Abi.ESTALE));
    }

    /// <summary>
    /// Extended attributes: none of the file systems has them. ENOSYS makes the host answer
    /// EOPNOTSUPP to the program, now and for every later xattr call of that kind without asking
    /// (fc->no_getxattr, ...): the host asks getxattr("security.capability") before writes, 1,550
    /// round trips in a tar x of 1,000 files with EOPNOTSUPP answered each time.
    /// </summary>
    public static void NoXattr(nint req) => LibFuse.ReplyErr(req, LinuxENOSYS);

    // ---- Shutdown -----------------------------------------------------------------------------

    /// <summary>After the session loop: closes what the host left open and drops every node, so that the unmount can flush.</summary>
    public void ReleaseAll()
    {
        var a = (files: _handles.Clear(), nodes: _nodes.Clear());
        InKernel(ref a, static (s, l, ref a) =>
        {
            foreach (OpenFile of in a.files) { Vop.Close(l, of.Vp, of.FFlag); of.Vp.Rele(); }
            foreach (Vnode vp in a.nodes) vp.Rele();
            return 0;
        });
    }
}
