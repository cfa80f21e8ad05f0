using System.Runtime.CompilerServices;

namespace Rump.Kern;

/// <summary>
/// The argument block of a system call: register-sized slots, as NetBSD's <c>syscallarg()</c>
/// layout on amd64. A local caller fills it in place; a remote client (later) ships the same block.
/// </summary>
[InlineArray(Max)]
public struct SyscallArgs
{
    public const int Max = 8;
    private long _slot0;
}

/// <summary>A user-space address: only copyin/copyout may dereference it.</summary>
public readonly struct UserPtr
{
    public readonly nint Addr;
    public UserPtr(long addr) { Addr = (nint)addr; }
    public UserPtr(nint addr) { Addr = addr; }
    public static UserPtr Null => default;
    public bool IsNull => Addr == 0;
    public UserPtr Add(long off) => new UserPtr(Addr + (nint)off);
    public override string ToString() => "0x" + ((ulong)Addr).ToString("x");
}
