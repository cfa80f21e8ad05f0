using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// AF_LOCAL socket names as VSOCK vnodes (NetBSD unp_bind's namei and VOP_CREATE, and
/// unp_connect's namei): the VFS side of <see cref="ILocalSockNames"/>. A node is the vnode.
/// </summary>
internal sealed class LocalSockNames : ILocalSockNames
{
    public int Bind(Lwp l, ReadOnlySpan<byte> path, out object? node)
    {
        node = null;
        Span<char> chars = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(chars);
        int e = pb.Set(path);
        if (e != 0) return e;
        Vnode? vp = null;
        for (int tries = 0; tries < VnodeLayer.MaxRestarts; tries++)
        {
            e = Namei.LookupParent(l, l.Cred, Abi.AT_FDCWD, pb, followLast: false, out NameiParent nd);
            if (e != 0) return e;
            try
            {
                if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EADDRINUSE;
                if (nd.TrailingSlash) return Abi.ENOENT;
                e = VnodeLayer.Create(l, l.Cred, nd.Dvp, nd.Name, VType.VSOCK,
                    (uint)Abi.ACCESSPERMS & ~l.Proc.Umask, 0, out vp);
            }
            finally { nd.Release(); }
            if (e != Abi.ERESTART) break;
        }
        e = VnodeLayer.Settle(e);
        if (e == Abi.EEXIST) e = Abi.EADDRINUSE;
        if (e == 0) node = vp;
        return e;
    }

    public int Lookup(Lwp l, ReadOnlySpan<byte> path, out object? node)
    {
        node = null;
        Span<char> chars = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(chars);
        int e = pb.Set(path);
        if (e != 0) return e;
        e = Namei.Lookup(l, l.Cred, Abi.AT_FDCWD, pb, follow: true, out Vnode? vp);
        if (e != 0) return e;
        if (vp!.Type != VType.VSOCK) { vp.Rele(); return Abi.ENOTSOCK; }
        node = vp;
        return 0;
    }

    public void Release(object node) => ((Vnode)node).Rele();
}
