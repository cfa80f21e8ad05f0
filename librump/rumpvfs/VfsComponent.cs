using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The VFS faction as a kernel component: publishes the <see cref="Vfs"/> object, registers the
/// file system calls and rumpfs, and mounts the root file system once every file system type that
/// is linked in has registered (so tmpfs, when present, becomes the root).
/// </summary>
public sealed class VfsComponent : IComponent
{
    public string Name => "vfs";
    public string[] Requires => System.Array.Empty<string>();

    public void Init(Kernel k)
    {
        var vfs = new Vfs(k);
        k.SetService(vfs);
        k.SetService<ILocalSockNames>(new LocalSockNames());
        vfs.RegisterFs(new Rumpfs.RumpfsVfsOps());
        VfsSyscalls.Register(k.Syscalls);
        k.OnBooted(l => vfs.MountRoot(l));
    }

    public void Shutdown(Kernel k, bool sync)
    {
        Vfs vfs = k.GetService<Vfs>()!;
        Lwp l = k.CurlwpOrBind();
        if (sync) vfs.SyncAll(l, wait: true);
        vfs.UnmountAll(l);
    }
}
