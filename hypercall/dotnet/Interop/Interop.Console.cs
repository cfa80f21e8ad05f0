using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // Console output (stderr), gathered per thread into lines.
    [LibraryImport(Library)]
    public static partial void rumpuser_putchar(int ch);

    // C's rumpuser_dprintf is variadic; this binds it for the one safe use,
    // rumpuser_dprintf("%s"u8, text): pointer arguments travel the same way
    // to a variadic callee on the x86-64 and AArch64 Unix ABIs.
    [LibraryImport(Library)]
    public static partial void rumpuser_dprintf(byte* format, byte* arg);
}
