using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// Device nodes (NetBSD vfs_syscalls.c's do_sys_mknodat): mknod(2) and mknodat(2) make character
/// and block special files (and, as NetBSD allows, regular ones) through the file system's create.
/// Making them is root's (KAUTH_SYSTEM_MKNOD: EPERM for others, before the path is looked up).
/// NetBSD's errors: EEXIST for a name that exists, EINVAL for a type mknod does not make (FIFOs
/// are mkfifo's, directories mkdir's) or a special file without a device number (VNOVAL),
/// EOPNOTSUPP for whiteouts (no file system here has them). Opening the node is specfs's
/// (Spec/SpecFs.cs). mkfifo(2) and mkfifoat(2) make FIFOs (NetBSD do_sys_mkfifoat): anyone may,
/// with the same errors; opening one is fifofs's (Spec/FifoFs.cs).
/// </summary>
internal static partial class VfsSyscalls
{
    /// <summary>VNOVAL as a dev_t: "no device number".</summary>
    private const ulong NoDev = ulong.MaxValue;

    private static int Mknod(Lwp l, UserPtr path, uint mode, ulong dev, out long rv) => Mknodat(l, Abi.AT_FDCWD, path, mode, dev, out rv);

    private static int Mknodat(Lwp l, int fd, UserPtr path, uint mode, ulong dev, out long rv)
    {
        rv = 0;
        int e = Kauth.Privileged(l.Cred);
        if (e != 0) return e;
        // A type mknod does not make is an error, but only once the name is known not to exist.
        VType type = VType.VNON;
        int typeError = 0;
        switch (mode & (uint)Abi.S_IFMT)
        {
            case (uint)Abi.S_IFMT: type = VType.VBAD; break; // badsect(8)'s marker; file systems refuse it
            case (uint)Abi.S_IFCHR: type = VType.VCHR; break;
            case (uint)Abi.S_IFBLK: type = VType.VBLK; break;
            case (uint)Abi.S_IFREG: type = VType.VREG; break;
            case (uint)Abi.S_IFWHT: typeError = Abi.EOPNOTSUPP; break;
            default: typeError = Abi.EINVAL; break; // S_IFIFO too, as NetBSD: FIFOs are mkfifo's
        }
        return MakeNode(l, fd, path, type, typeError, mode, dev);
    }

    private static int Mkfifo(Lwp l, UserPtr path, uint mode, out long rv) => Mkfifoat(l, Abi.AT_FDCWD, path, mode, out rv);

    /// <summary>NetBSD do_sys_mkfifoat: no privilege needed; EEXIST for a name that exists.</summary>
    private static int Mkfifoat(Lwp l, int fd, UserPtr path, uint mode, out long rv)
    {
        rv = 0;
        return MakeNode(l, fd, path, VType.VFIFO, 0, mode, 0);
    }

    /// <summary>Copies the path in once and makes the node, trying again while a concurrent namespace change makes the file system answer ERESTART.</summary>
    private static int MakeNode(Lwp l, int fd, UserPtr path, VType type, int typeError, uint mode, ulong dev)
    {
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        int tries = 0;
        do e = MknodatOnce(l, fd, pb, type, typeError, mode, dev);
        while (e == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(e);
    }

    /// <summary>One try (a concurrent namespace change makes the file system answer ERESTART).</summary>
    private static int MknodatOnce(Lwp l, int fd, in PathBuf path, VType type, int typeError, uint mode, ulong dev)
    {
        int e = Namei.LookupParent(l, l.Cred, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EEXIST;
            if (typeError != 0) return typeError;
            if (type != VType.VREG && dev == NoDev) return Abi.EINVAL;
            if (nd.TrailingSlash) return Abi.ENOENT;
            e = VnodeLayer.Create(l, l.Cred, nd.Dvp, nd.Name, type, mode & (uint)Abi.ALLPERMS & ~l.Proc.Umask,
                type is VType.VCHR or VType.VBLK or VType.VBAD ? dev : 0, out Vnode? vp);
            vp?.Rele();
            return e;
        }
        finally { nd.Release(); }
    }
}
