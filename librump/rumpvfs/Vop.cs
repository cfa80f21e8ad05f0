using System;
using System.Runtime.CompilerServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The vnode operations as the VFS calls them (NetBSD's VOP_* wrappers in vnode_if.c): each holds
/// the vnode's mount busy (<see cref="Mount.Busy"/>) while the file system runs, so an unmount
/// waits for it and a forced unmount never tears a file system down under it. When the mount is
/// gone the vnode is dead and the dead operation answers. File systems call their own operations
/// directly; everything above them goes through here. The root file system is not counted, so on
/// it a wrapper is one branch.
/// </summary>
public static class Vop
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Lookup(Lwp l, Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        if (dvp.Mount.IsRootFs) return dvp.Ops.Lookup(dvp, name, out vp);
        return LookupBusy(l, dvp, name, out vp);
    }

    private static int LookupBusy(Lwp l, Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Lookup(dvp, name, out vp);
        try { return dvp.Ops.Lookup(dvp, name, out vp); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Getattr(Lwp l, Vnode vp, out Vattr va)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Getattr(vp, out va);
        return GetattrBusy(l, vp, out va);
    }

    private static int GetattrBusy(Lwp l, Vnode vp, out Vattr va)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Getattr(vp, out va);
        try { return vp.Ops.Getattr(vp, out va); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Access(Lwp l, Vnode vp, int acc, Cred cred)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Access(vp, acc, cred);
        return AccessBusy(l, vp, acc, cred);
    }

    private static int AccessBusy(Lwp l, Vnode vp, int acc, Cred cred)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Access(vp, acc, cred);
        try { return vp.Ops.Access(vp, acc, cred); }
        finally { mp.Unbusy(l); }
    }

    public static int Setattr(Lwp l, Vnode vp, in Vattr va)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Setattr(vp, va, l);
        try { return vp.Ops.Setattr(vp, va, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Create(Lwp l, Vnode dvp, string name, in Vattr va, out Vnode? vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Create(dvp, name, va, l, out vp);
        try { return dvp.Ops.Create(dvp, name, va, l, out vp); }
        finally { mp.Unbusy(l); }
    }

    public static int Mkdir(Lwp l, Vnode dvp, string name, in Vattr va, out Vnode? vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Mkdir(dvp, name, va, l, out vp);
        try { return dvp.Ops.Mkdir(dvp, name, va, l, out vp); }
        finally { mp.Unbusy(l); }
    }

    public static int Symlink(Lwp l, Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, out Vnode? vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Symlink(dvp, name, va, target, l, out vp);
        try { return dvp.Ops.Symlink(dvp, name, va, target, l, out vp); }
        finally { mp.Unbusy(l); }
    }

    public static int Link(Lwp l, Vnode dvp, string name, Vnode vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Link(dvp, name, vp, l);
        try { return dvp.Ops.Link(dvp, name, vp, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Remove(Lwp l, Vnode dvp, string name, Vnode vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Remove(dvp, name, vp, l);
        try { return dvp.Ops.Remove(dvp, name, vp, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Rmdir(Lwp l, Vnode dvp, string name, Vnode vp)
    {
        Mount mp = dvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Rmdir(dvp, name, vp, l);
        try { return dvp.Ops.Rmdir(dvp, name, vp, l); }
        finally { mp.Unbusy(l); }
    }

    /// <summary>Both directories are on one mount (the VFS checked: EXDEV otherwise).</summary>
    public static int Rename(Lwp l, Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp)
    {
        Mount mp = fdvp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Rename(fdvp, fname, fvp, tdvp, tname, tvp, l);
        try { return fdvp.Ops.Rename(fdvp, fname, fvp, tdvp, tname, tvp, l); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Read(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Read(vp, ref uio, ioflag, l);
        return ReadBusy(l, vp, ref uio, ioflag);
    }

    private static int ReadBusy(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Read(vp, ref uio, ioflag, l);
        try { return vp.Ops.Read(vp, ref uio, ioflag, l); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Write(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Write(vp, ref uio, ioflag, l);
        return WriteBusy(l, vp, ref uio, ioflag);
    }

    private static int WriteBusy(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Write(vp, ref uio, ioflag, l);
        try { return vp.Ops.Write(vp, ref uio, ioflag, l); }
        finally { mp.Unbusy(l); }
    }

    /// <summary>VOP_BMAP for a reader that moves the bytes itself (<see cref="VnodeOps.Bmap"/>); EOPNOTSUPP once the mount is gone.</summary>
    public static int Bmap(Lwp l, Vnode vp, long offset, int length, int ioflag, DeviceRunSink sink)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return Abi.EOPNOTSUPP;
        try { return vp.Ops.Bmap(vp, offset, length, ioflag, sink, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Readdir(Lwp l, Vnode vp, ref Uio uio, ref long cookie)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Readdir(vp, ref uio, ref cookie, l);
        try { return vp.Ops.Readdir(vp, ref uio, ref cookie, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Readlink(Lwp l, Vnode vp, ref Uio uio)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Readlink(vp, ref uio, l);
        try { return vp.Ops.Readlink(vp, ref uio, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Fsync(Lwp l, Vnode vp, bool dataOnly)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Fsync(vp, dataOnly, l);
        try { return vp.Ops.Fsync(vp, dataOnly, l); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Open(Lwp l, Vnode vp, int fflag)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Open(vp, fflag, l);
        return OpenBusy(l, vp, fflag);
    }

    private static int OpenBusy(Lwp l, Vnode vp, int fflag)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Open(vp, fflag, l);
        try { return vp.Ops.Open(vp, fflag, l); }
        finally { mp.Unbusy(l); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Close(Lwp l, Vnode vp, int fflag)
    {
        if (vp.Mount.IsRootFs) return vp.Ops.Close(vp, fflag, l);
        return CloseBusy(l, vp, fflag);
    }

    private static int CloseBusy(Lwp l, Vnode vp, int fflag)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Close(vp, fflag, l);
        try { return vp.Ops.Close(vp, fflag, l); }
        finally { mp.Unbusy(l); }
    }

    public static int Ioctl(Lwp l, Vnode vp, ulong cmd, UserPtr data)
    {
        Mount mp = vp.Mount;
        if (mp.Busy(l) != 0) return DeadVnodeOps.Instance.Ioctl(vp, cmd, data, l);
        try { return vp.Ops.Ioctl(vp, cmd, data, l); }
        finally { mp.Unbusy(l); }
    }

    // ---- Whole file systems ---------------------------------------------------------------------

    /// <summary>VFS_STATVFS, busy; EBADF once the mount is gone (the caller's vnode is dead).</summary>
    public static int Statvfs(Lwp l, Mount mp, ref RumpStatvfs sv)
    {
        if (mp.Busy(l) != 0) return Abi.EBADF;
        try { return mp.Ops.Statvfs(mp, ref sv); }
        finally { mp.Unbusy(l); }
    }

    /// <summary>VFS_SYNC, busy; nothing to do once the mount is gone.</summary>
    public static int Sync(Lwp l, Mount mp, bool wait)
    {
        if (mp.Busy(l) != 0) return 0;
        try { return mp.Ops.Sync(mp, wait, l); }
        finally { mp.Unbusy(l); }
    }
}
