using System;
using System.IO;

namespace Rump.Fsu;

internal static class Program
{
    private static int Main(string[] args)
    {
        var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
        var stderr = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true };
        int rc = Fsu.Failed;
        rc = Fsu.Run(args, stdout, stderr, progress: !Console.IsErrorRedirected);
        stdout.Flush();
        return rc;
    }
}
