using Rump.Kern;

namespace Rump.Fs.Tmpfs;

/// <summary>The tmpfs driver as a kernel component: registers the file system type with the VFS.</summary>
public sealed class TmpfsComponent : IComponent
{
    private readonly string[] _requires = ["vfs"];

    public string Name => "tmpfs";
    public string[] Requires => _requires;

    public void Init(Kernel k) => k.GetService<Rump.Vfs.Vfs>()!.RegisterFs(new TmpfsVfsOps());

    /// <summary>Nothing to flush: the data lives only in memory, and unmount frees it.</summary>
    public void Shutdown(Kernel k, bool sync) { }
}
