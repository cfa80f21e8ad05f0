using Rump.Kern;

namespace Rump.Fs.Ext2fs;

/// <summary>The ext2fs driver as a kernel component: registers the "ext2fs" file system type with the VFS.</summary>
public sealed class Ext2fsComponent : IComponent
{
    private readonly string[] _requires = ["vfs"];

    public string Name => "ext2fs";
    public string[] Requires => _requires;

    public void Init(Kernel k) => k.GetService<Rump.Vfs.Vfs>()!.RegisterFs(new Ext2VfsOps());

    /// <summary>Mounted file systems are synced and unmounted by the VFS at halt; nothing global to do.</summary>
    public void Shutdown(Kernel k, bool sync) { }
}
