using System;
using System.Collections.Generic;
using System.IO;

namespace Rump.SyscallGen;

/// <summary>
/// Reads the two tables, renders every output in memory, then writes the ones that changed, or with
/// --check writes nothing and lists the files that differ (exit 1). Table errors exit 2.
/// </summary>
internal static class Program
{
    public const string SyscallTablePath = "librump/rumpkern/syscalls.master";
    public const string AbiTablePath = "librump/rumpkern/rumpdefs.master";

    private static int Main(string[] args)
    {
        bool check = false;
        string? root = null;
        foreach (string arg in args)
        {
            if (arg == "--check") check = true;
            else if (root == null && !arg.StartsWith('-')) root = arg;
            else return Usage();
        }
        if (root == null) return Usage();

        List<Output> outputs;
        try
        {
            AbiTable abi = AbiTable.Parse(Path.GetFileName(AbiTablePath), ReadLines(root, AbiTablePath));
            SyscallTable calls = SyscallTable.Parse(Path.GetFileName(SyscallTablePath), ReadLines(root, SyscallTablePath), abi);
            outputs = Outputs.All(calls, abi);
        }
        catch (TableException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        int differing = 0;
        foreach (Output o in outputs)
        {
            string path = Path.Combine(root, o.Path);
            string? old = File.Exists(path) ? File.ReadAllText(path) : null;
            if (old == o.Text) continue;
            differing++;
            if (check)
            {
                Console.WriteLine("out of date: " + o.Path);
                continue;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, o.Text);
            Console.WriteLine("wrote " + o.Path);
        }
        if (check && differing > 0)
        {
            Console.Error.WriteLine("syscallgen: " + differing + " generated file(s) differ; run dotnet run --project tools/syscallgen -- <repo-root>");
            return 1;
        }
        return 0;
    }

    private static string[] ReadLines(string root, string rel)
    {
        string path = Path.Combine(root, rel);
        if (!File.Exists(path))
            throw new TableException(rel + ": no such file under " + root);
        return File.ReadAllLines(path);
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: syscallgen [--check] <repo-root>");
        return 2;
    }
}

/// <summary>A generated file: its path relative to the repository root and its full text.</summary>
internal sealed record Output(string Path, string Text);

/// <summary>An error in a table, already formatted as <c>file:LINE: message</c>.</summary>
internal sealed class TableException : Exception
{
    public TableException(string message) : base(message) { }
    public static TableException At(string file, int line, string message) => new(file + ":" + line + ": " + message);
}
