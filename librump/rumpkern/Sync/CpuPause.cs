using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Rump.Kern;

/// <summary>
/// The CPU's spin-wait hint (x86 PAUSE, Arm YIELD), for short spins before a lock sleeps. It is an
/// instruction, not a host call: the hypercall rule holds.
/// </summary>
internal static class CpuPause
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pause(int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (X86Base.IsSupported) X86Base.Pause();
            else if (System.Runtime.Intrinsics.Arm.ArmBase.IsSupported) System.Runtime.Intrinsics.Arm.ArmBase.Yield();
        }
    }
}
