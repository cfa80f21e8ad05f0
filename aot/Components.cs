using Rump.Kern;

namespace Rump;

/// <summary>
/// The components linked into this build of the library (NetBSD picks them at link time too).
/// RumpComponents in Rump.csproj decides which of the #if blocks exist.
/// </summary>
public static class Components
{
    public static IComponent[] Linked()
    {
        var list = new System.Collections.Generic.List<IComponent>(4);
#if RUMP_VFS
        list.Add(new Rump.Vfs.VfsComponent());
#endif
#if RUMP_TMPFS
        list.Add(new Rump.Fs.Tmpfs.TmpfsComponent());
#endif
        return list.ToArray();
    }
}
