using Rump.Kern;

namespace Rump.Fs.Msdosfs;

/// <summary>The msdosfs driver as a kernel component: registers the "msdos" file system type with the VFS.</summary>
public sealed class MsdosfsComponent : IComponent
{
    private readonly string[] _requires = ["vfs"];

    public string Name => "msdosfs";
    public string[] Requires => _requires;

    public void Init(Kernel k) => k.GetService<Rump.Vfs.Vfs>()!.RegisterFs(new MsdosVfsOps());

    /// <summary>Mounted file systems are flushed by the VFS's unmount at halt; nothing of the driver's own remains.</summary>
    public void Shutdown(Kernel k, bool sync) { }
}
