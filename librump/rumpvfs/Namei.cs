using System;
using System.Text;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>The result of a lookup that wants the parent directory of the last component.</summary>
public struct NameiParent
{
    /// <summary>The directory the last component lives in (referenced).</summary>
    public Vnode Dvp;
    /// <summary>The last component, or null when the path names a directory with no last component ("/", "a/..").</summary>
    public string? Name;
    /// <summary>What the last component names (referenced), or null if it does not exist.</summary>
    public Vnode? Vp;
    /// <summary>The path ended in '/': the last component must be a directory.</summary>
    public bool TrailingSlash;

    public readonly void Release()
    {
        Vp?.Rele();
        Dvp.Rele();
    }

    public readonly bool IsDot => Name == ".";
    public readonly bool IsDotDot => Name == "..";
}

/// <summary>
/// Path name lookup (NetBSD namei(9)). Paths come in a <see cref="PathBuf"/> (copied in once,
/// widened one char per byte) and are walked component by component without allocation; a walk
/// never changes the path buffer (a symbolic link is expanded into a buffer of the walk's own), so
/// a caller may look the same path up again: each component is searched (with search
/// permission checked on the directory), the name cache consulted, mount points crossed downward
/// after a lookup and upward before "..", and symbolic links expanded in place — at most
/// MAXSYMLINKS of them (ELOOP), never beyond PATH_MAX (ENAMETOOLONG). ".." never leaves the
/// process's root directory. The walk holds busy (<see cref="Mount.Busy"/>) the mount it is in —
/// one at a time, taken when it enters a mount (crossing a mount point down or up) and let go
/// when it leaves — so file-system code runs only on mounts no unmount is tearing down, and a
/// lookup that meets an unmount waits for it (and finds the covered directory if it went).
/// </summary>
public static class Namei
{
    public const int PathMax = 1024;
    public const int NameMax = 511;
    public const int MaxSymlinks = 32;

    /// <summary>
    /// Looks a whole path up for <paramref name="cred"/> (who needs search permission on every
    /// directory on the way), from the process's current directory or <paramref name="dirfd"/>;
    /// <paramref name="vp"/> is referenced on success.
    /// </summary>
    public static int Lookup(Lwp l, Cred cred, int dirfd, in PathBuf path, bool follow, out Vnode? vp)
    {
        vp = null;
        int e = Walk(l, cred, null, dirfd, path.Chars, follow, wantParent: false, out NameiParent r);
        if (e != 0) return e;
        vp = r.Vp;
        return 0;
    }

    /// <summary>Looks up the parent of a path's last component; on success the caller must Release the result.</summary>
    public static int LookupParent(Lwp l, Cred cred, int dirfd, in PathBuf path, bool followLast, out NameiParent res)
        => Walk(l, cred, null, dirfd, path.Chars, followLast, wantParent: true, out res);

    /// <summary>
    /// Looks one name (no '/') up in directory <paramref name="dvp"/> for <paramref name="cred"/>,
    /// without following a final symbolic link (a server's lookup by directory and name).
    /// </summary>
    public static int LookupAt(Lwp l, Cred cred, Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        int e = Walk(l, cred, dvp, Abi.AT_FDCWD, name, followLast: false, wantParent: false, out NameiParent r);
        if (e != 0) return e;
        vp = r.Vp;
        return 0;
    }

    /// <summary>The directory a *at() call starts from: the cwd for AT_FDCWD, else the directory open at <paramref name="dirfd"/>.</summary>
    public static int StartDir(Lwp l, Vfs vfs, int dirfd, out Vnode? dvp)
    {
        dvp = null;
        if (dirfd == Abi.AT_FDCWD) { dvp = vfs.Cwd(l.Proc).GetCdir(); return 0; }
        File? f = l.Proc.Fd.Get(dirfd);
        if (f == null) return Abi.EBADF;
        int e = 0;
        if (f is VnodeFile vf && vf.Vp.Type == VType.VDIR) dvp = vf.Vp.Ref();
        else e = Abi.ENOTDIR;
        f.Release(l);
        return e;
    }

    private static int Walk(Lwp l, Cred cred, Vnode? start, int dirfd, ReadOnlySpan<char> path, bool followLast, bool wantParent, out NameiParent res)
    {
        res = default;
        if (path.Length == 0) return Abi.ENOENT;
        // The path being walked: the caller's until a symbolic link is expanded, then this walk's own.
        scoped ReadOnlySpan<char> buf = path;
        // Made on the first symbolic link: most walks meet none, and a frame without it is cheaper.
        scoped Span<char> own = default;
        int len = buf.Length;
        Vfs vfs = l.Kernel.GetService<Vfs>()!;
        // The process root is borrowed, not referenced: there is no chroot, so it cannot change
        // while the process makes this call, and the mount holds it. While dp is the root it is
        // borrowed too; every other directory on the way is referenced.
        Vnode rdir = vfs.Cwd(l.Proc).Rdir;
        Vnode dp;
        int e;
        if (buf[0] == '/') dp = rdir;
        else
        {
            Vnode? sd;
            if (start != null) sd = start.Ref();
            else
            {
                e = StartDir(l, vfs, dirfd, out sd);
                if (e != 0) return e;
            }
            dp = sd!;
            if (dp == rdir) dp.Rele();
        }
        int pos = 0;
        int links = 0;
        // The mount whose file-system code this walk may run, held busy.
        Mount? held = null;
        try
        {
            while (true)
            {
                while (pos < len && buf[pos] == '/') pos++;
                if (pos == len)
                {
                    // Nothing after the last slash: the path names dp itself ("/", "a/", "a/.").
                    Vnode owned = dp == rdir ? dp.Ref() : dp;
                    if (wantParent) { res.Dvp = owned.Ref(); res.Vp = owned; res.Name = null; res.TrailingSlash = true; }
                    else res.Vp = owned;
                    dp = null!;
                    return 0;
                }
                int end = pos;
                while (end < len && buf[end] != '/') end++;
                ReadOnlySpan<char> name = buf.Slice(pos, end - pos);
                if (name.Length > NameMax) return Abi.ENAMETOOLONG;
                int next = end;
                while (next < len && buf[next] == '/') next++;
                bool last = next == len;
                bool trailing = last && end < len;

                if (dp.Type != VType.VDIR) return Abi.ENOTDIR;
                e = Hold(l, ref held, dp.Mount);
                if (e != 0) return e;
                e = dp.Ops.Access(dp, Kauth.VEXEC, cred);
                if (e != 0) return e;

                e = LookupComponent(l, vfs, dp, name, rdir, ref held, out Vnode? child);
                if (e != 0 && !(e == Abi.ENOENT && last && wantParent)) return e;

                if (last && wantParent && (child == null || child.Type != VType.VLNK || !followLast))
                {
                    res.Dvp = dp == rdir ? dp.Ref() : dp;
                    res.Name = name.ToString();
                    res.Vp = child;
                    res.TrailingSlash = trailing;
                    dp = null!;
                    return 0;
                }

                // Cross into whatever is mounted here (repeatedly, for stacked mounts).
                while (child!.MountedHere is Mount mp)
                {
                    e = Hold(l, ref held, mp);
                    if (e != 0)
                    {
                        // Unmounted while we waited: the covered directory shows again.
                        if (child.MountedHere != mp) continue;
                        child.Rele();
                        return e;
                    }
                    // Held busy, the mount stays, and with it the reference it holds on its root.
                    Vnode root = mp.Root.Ref();
                    child.Rele();
                    child = root;
                }

                if (child.Type == VType.VLNK && (!last || followLast || trailing))
                {
                    if (++links > MaxSymlinks) { child.Rele(); return Abi.ELOOP; }
                    // The rest keeps its leading slashes: "link/" must still demand a directory.
                    bool absolute = false;
#pragma warning disable CA2014 // once per walk: only while own is still empty
                    if (own.IsEmpty) own = stackalloc char[PathMax];
#pragma warning restore CA2014
                    e = Hold(l, ref held, child.Mount);
                    if (e == 0) e = ExpandLink(l, child, buf, end, own, out len, out absolute);
                    child.Rele();
                    if (e != 0) return e;
                    buf = own.Slice(0, len);
                    pos = 0;
                    if (absolute) { if (dp != rdir) dp.Rele(); dp = rdir; }
                    continue;
                }

                if (last && trailing && child.Type != VType.VDIR) { child.Rele(); return Abi.ENOTDIR; }
                if (dp != rdir) dp.Rele();
                dp = child;
                if (dp == rdir) dp.Rele(); // "..": back at the borrowed root
                pos = next;
                if (last)
                {
                    res.Vp = dp == rdir ? dp.Ref() : dp;
                    dp = null!;
                    return 0;
                }
            }
        }
        finally
        {
            held?.Unbusy(l);
            if (dp != null && dp != rdir) dp.Rele();
        }
    }

    /// <summary>
    /// Makes <paramref name="mp"/> the mount the walk holds busy, letting go of the one it held.
    /// The root file system is never held (it is never unmounted), so a walk that stays on it does
    /// nothing here.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static int Hold(Lwp l, ref Mount? held, Mount mp)
        => held == mp || (held == null && mp.IsRootFs) ? 0 : HoldOther(l, ref held, mp);

    private static int HoldOther(Lwp l, ref Mount? held, Mount mp)
    {
        held?.Unbusy(l);
        held = null;
        if (mp.IsRootFs) return 0;
        int e = mp.Busy(l);
        if (e == 0) held = mp;
        return e;
    }

    /// <summary>
    /// The link's target followed by path[rest..] (which starts with its slashes), in
    /// <paramref name="own"/> (which <paramref name="path"/> may be part of).
    /// </summary>
    private static unsafe int ExpandLink(Lwp l, Vnode link, ReadOnlySpan<char> path, int rest, Span<char> own, out int len, out bool absolute)
    {
        absolute = false;
        len = 0;
        Span<byte> target = stackalloc byte[PathMax];
        int n;
        fixed (byte* tp = target)
        {
            IoVec iov;
            iov.Base = new UserPtr((nint)tp);
            iov.Len = PathMax;
            var uio = new Uio(link.Mount.Vfs.KernelVm, System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
            int e = link.Ops.Readlink(link, ref uio, l); // the walk holds its mount busy
            if (e != 0) return e;
            n = PathMax - (int)uio.Resid;
        }
        if (n == 0) return Abi.ENOENT;
        int restLen = path.Length - rest;
        // The expanded path must fit with its NUL.
        if (n + restLen >= PathMax) return Abi.ENAMETOOLONG;
        // The rest first: it may overlap where the target goes (CopyTo allows that).
        path.Slice(rest, restLen).CopyTo(own.Slice(n));
        for (int i = 0; i < n; i++) own[i] = (char)target[i];
        len = n + restLen;
        absolute = own[0] == '/';
        return 0;
    }

    /// <summary>
    /// One directory search, with ".", ".." and the name cache. Returns a referenced vnode.
    /// Precondition: <paramref name="held"/> is dp's mount, held busy; ".." at a mount's root moves
    /// it to the mount of the directory covered.
    /// </summary>
    private static int LookupComponent(Lwp l, Vfs vfs, Vnode dp, ReadOnlySpan<char> name, Vnode rdir, ref Mount? held, out Vnode? vp)
    {
        vp = null;
        if (name.Length == 1 && name[0] == '.') { vp = dp.Ref(); return 0; }
        int e;
        if (name.Length == 2 && name[0] == '.' && name[1] == '.')
        {
            if (dp == rdir) { vp = dp.Ref(); return 0; }
            // At the root of a mounted file system ".." is looked up in the directory it covers.
            Vnode d = dp;
            bool own = false;
            while (d.IsRoot && d.Mount.Covered != null && d != rdir)
            {
                // The mount, held busy, keeps its covered directory: reference it before letting go.
                Vnode c = d.Mount.Covered.Ref();
                if (own) d.Rele();
                d = c;
                own = true;
                e = Hold(l, ref held, d.Mount);
                if (e != 0) { d.Rele(); return e; }
            }
            if (d == rdir) vp = d.Ref();
            e = vp != null ? 0 : d.Ops.Lookup(d, name, out vp);
            if (own) d.Rele();
            return e;
        }
        if (vfs.Cache.Lookup(l, dp, name, out vp, out long gen))
            return vp == null ? Abi.ENOENT : 0;
        e = dp.Ops.Lookup(dp, name, out vp);
        if (e == 0 || e == Abi.ENOENT) vfs.Cache.Enter(dp, name, vp, gen);
        return e;
    }


    internal static string Latin1(ReadOnlySpan<byte> b) => Encoding.Latin1.GetString(b);
}
