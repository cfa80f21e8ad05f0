using Rump.Kern;

namespace Rump.Fs.Cd9660;

/// <summary>The cd9660 driver as a kernel component: registers the "cd9660" file system type with the VFS.</summary>
public sealed class Cd9660Component : IComponent
{
    private readonly string[] _requires = ["vfs"];

    public string Name => "cd9660";
    public string[] Requires => _requires;

    public void Init(Kernel k) => k.GetService<Rump.Vfs.Vfs>()!.RegisterFs(new Cd9660VfsOps());

    /// <summary>Nothing to flush: the file system is read-only.</summary>
    public void Shutdown(Kernel k, bool sync) { }
}
