namespace Rump.Kern;

/// <summary>
/// A kernel component (NetBSD's RUMP_COMPONENT): a faction or driver that initialises at boot.
/// Components are passed to <see cref="Kernel.Boot"/> in an explicit table chosen when the library
/// is built; the kernel orders them by <see cref="Requires"/> and calls <see cref="Init"/> once each.
/// </summary>
public interface IComponent
{
    /// <summary>Short name, e.g. "vfs", "tmpfs".</summary>
    string Name { get; }
    /// <summary>Names of components that must initialise first.</summary>
    string[] Requires { get; }
    /// <summary>Attach to the kernel: register system calls, file systems, sysctl nodes, proc hooks.</summary>
    void Init(Kernel k);
    /// <summary>Reboot: flush state when <paramref name="sync"/>, then stop threads. Called in reverse init order.</summary>
    void Shutdown(Kernel k, bool sync);
}
