namespace Rump.Kern;

/// <summary>
/// A system-call handler: NetBSD's <c>sy_call</c>. Returns 0 or a NetBSD errno; the result goes to
/// <paramref name="retval"/>. Handlers are registered by the faction that implements them, from the
/// code that tools/syscallgen generates out of syscalls.master.
/// </summary>
public unsafe struct Sysent
{
    public delegate*<Lwp, ref SyscallArgs, out long, int> Call;
}

/// <summary>
/// The kernel instance's system-call table (NetBSD's <c>sysent</c>). Filled while components
/// initialise at boot, read-only afterwards, so dispatch takes no lock.
/// </summary>
public sealed unsafe class SyscallTable
{
    /// <summary>One past the highest NetBSD system-call number.</summary>
    public const int NSysent = 512;

    private readonly Sysent[] _sysent = new Sysent[NSysent];

    public void Register(int num, delegate*<Lwp, ref SyscallArgs, out long, int> call)
    {
        if ((uint)num >= NSysent)
            throw new System.ArgumentOutOfRangeException(nameof(num));
        if (_sysent[num].Call != null)
            throw new System.InvalidOperationException("system call " + num + " registered twice");
        _sysent[num].Call = call;
    }

    /// <summary>The handler for <paramref name="num"/>, or null (ENOSYS) when out of range or not linked in.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public delegate*<Lwp, ref SyscallArgs, out long, int> Lookup(int num)
        => (uint)num < NSysent
            ? System.Runtime.CompilerServices.Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_sysent), num).Call
            : null;
}
