using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// Device nodes (NetBSD vfs_syscalls.c's do_sys_mknodat): mknod(2) and mknodat(2) make character
/// and block special files (and, as NetBSD allows, regular ones) through the file system's create.
/// Making them is root's (KAUTH_SYSTEM_MKNOD: EPERM for others, before the path is looked up).
/// NetBSD's errors: EEXIST for a name that exists, EINVAL for a type mknod does not make (FIFOs
/// are mkfifo's, directories mkdir's) or a special file without a device number (VNOVAL),
/// EOPNOTSUPP for whiteouts (no file system here has them). Opening the node is specfs's
/// (Spec/SpecFs.cs). mkfifo(2) is not implemented yet: there are no FIFOs.
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
        e = Namei.LookupParent(l, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EEXIST;
            VType type;
            switch (mode & (uint)Abi.S_IFMT)
            {
                case (uint)Abi.S_IFMT: type = VType.VBAD; break; // badsect(8)'s marker; file systems refuse it
                case (uint)Abi.S_IFCHR: type = VType.VCHR; break;
                case (uint)Abi.S_IFBLK: type = VType.VBLK; break;
                case (uint)Abi.S_IFREG: type = VType.VREG; break;
                case (uint)Abi.S_IFWHT: return Abi.EOPNOTSUPP;
                default: return Abi.EINVAL;
            }
            if (type != VType.VREG && dev == NoDev) return Abi.EINVAL;
            if (nd.TrailingSlash) return Abi.ENOENT;
            e = CreateCheck(l, nd.Dvp);
            if (e != 0) return e;
            var va = new Vattr
            {
                Type = type,
                Mode = mode & (uint)Abi.ALLPERMS & ~l.Proc.Umask,
                Rdev = type == VType.VREG ? 0 : dev,
            };
            e = nd.Dvp.Ops.Create(nd.Dvp, nd.Name, va, l, out Vnode? vp);
            if (e != 0) return e;
            V(l).Cache.Purge(nd.Dvp, nd.Name);
            vp!.Rele();
            return 0;
        }
        finally { nd.Release(); }
    }
}
