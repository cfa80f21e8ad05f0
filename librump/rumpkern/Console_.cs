using System.Text;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>The kernel console: bytes go to the host through rumpuser_putchar.</summary>
internal static class Console_
{
    public static void Print(string s)
    {
        // Console output is rare (halt, panic): a hypercall per byte keeps the interface plain.
        foreach (byte b in Encoding.UTF8.GetBytes(s))
            RumpUser.rumpuser_putchar(b);
    }
}
