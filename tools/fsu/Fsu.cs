using System;
using System.Collections.Generic;
using System.IO;

namespace Rump.Fsu;

/// <summary>
/// The tool: <c>fsu COMMAND [OPTIONS] IMAGE[@PART] ARGS...</c>. Each run boots its own kernel,
/// registers the image with etfs, mounts it (read-only for commands that only read) and unmounts it
/// at the end so that writes reach the image. Exit codes as coreutils: 0 done, 1 an operation
/// failed, 2 usage.
///
/// Everything an image gives (names, link targets, sizes, times) is hostile input. A path whose
/// data a host API refuses is reported with its message and counted, and the command goes on
/// (<see cref="Context.Guard"/>); nothing ends a command with an unhandled exception.
/// </summary>
public static class Fsu
{
    public const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>One subcommand: its flags, whether it writes, its help, and its body.</summary>
    internal sealed record Command(string Name, string Flags, bool Writes, string Synopsis, string Help,
                                   Func<Context, Args, int> Body, int MinOperands);

    internal static readonly Command[] Commands =
    {
        new("ls", "laRd", false, "ls [-l] [-a] [-R] [-d] IMAGE[@PART] [PATH...]",
            "List directory contents. -l long format, -a include names beginning with '.', -R recurse, -d list directories themselves.",
            ListCommand.Run, 0),
        new("cat", "", false, "cat IMAGE[@PART] PATH...", "Write the files' bytes to standard output.", CatCommand.Run, 1),
        new("cp", "rpR", false, "cp [-r] [-p] IMAGE[@PART] PATH... HOSTDEST",
            "Copy files out of the image to the host. -r copies directories recursively, -p keeps modes and times. Symbolic links are copied as links.",
            CopyOutCommand.Run, 2),
        new("put", "rpR", true, "put [-r] [-p] IMAGE[@PART] HOSTPATH... DEST",
            "Copy host files into the image (fs-utils' ecp). -r copies directories recursively, -p keeps modes and times. Symbolic links are copied as links.",
            CopyInCommand.Run, 2),
        new("mkdir", "p", true, "mkdir [-p] IMAGE[@PART] PATH...", "Make directories; -p makes parents as needed and accepts existing ones.", MkdirCommand.Run, 1),
        new("rm", "rfR", true, "rm [-r] [-f] IMAGE[@PART] PATH...", "Remove files; -r removes directories and their contents, -f ignores missing files.", RemoveCommand.Run, 1),
        new("mv", "", true, "mv IMAGE[@PART] SOURCE DEST", "Rename SOURCE to DEST (into DEST if it is a directory).", MoveCommand.Run, 2),
        new("find", "", false, "find IMAGE[@PART] [PATH] [-name GLOB] [-type f|d|l]",
            "Print the paths under PATH (default /) that match every test given.", FindCommand.Run, 0),
        new("stat", "", false, "stat IMAGE[@PART] PATH...", "Show a file's attributes (symbolic links themselves).", StatCommand.Run, 1),
        new("df", "", false, "df IMAGE[@PART]", "Show the file system's size, use and free space.", DfCommand.Run, 0),
        new("diff", "", false, "diff IMAGE[@PART] PATH HOSTPATH",
            "Compare a file or tree in the image with one on the host; exit 1 when they differ.", DiffCommand.Run, 2),
        new("probe", "", false, "probe IMAGE[@PART]", "Print the type of the file system found on the image (or its partitions).", ProbeCommand.Run, 0),
    };

    /// <summary>Runs the tool as from a command line. Nothing is written to the console: all output goes to the writers.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, progress: false);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool progress)
    {
        if (args.Length == 0) { PrintUsage(stderr); return Usage; }
        if (args[0] is "--help" or "-h" or "help") { PrintUsage(stdout); return Ok; }
        Command? cmd = Array.Find(Commands, c => c.Name == args[0]);
        if (cmd == null)
        {
            stderr.WriteLine("fsu: unknown command '" + args[0] + "'");
            PrintUsage(stderr);
            return Usage;
        }
        var a = Args.Parse(cmd, args.AsSpan(1), out string? error);
        if (a == null)
        {
            stderr.WriteLine("fsu: " + cmd.Name + ": " + error);
            stderr.WriteLine("usage: fsu " + cmd.Synopsis);
            return Usage;
        }
        if (a.Help)
        {
            stdout.WriteLine("usage: fsu " + cmd.Synopsis);
            stdout.WriteLine(cmd.Help);
            return Ok;
        }
        if (a.Image == null || a.Operands.Count < cmd.MinOperands)
        {
            stderr.WriteLine("usage: fsu " + cmd.Synopsis);
            return Usage;
        }
        var ctx = new Context(a.Image, stdout, stderr, progress) { FsType = a.FsType };
        try
        {
            int rc = cmd.Body(ctx, a);
            stdout.Flush();
            // A driver bug panics the image's kernel, not fsu: every call after it failed with ENXIO;
            // say why, and never report success.
            if (ctx.Kernel is RumpKernel k && k.Panicked)
            {
                stderr.WriteLine("fsu: " + ctx.ImageSpec + ": the kernel panicked: " + FirstLine(k.PanicMessage));
                return Failed;
            }
            return rc;
        }
        catch (Exception ex)
        {
            // The last resort (a closed standard output, a bug): a message and status 1, never an abort.
            TryReport(stderr, "fsu: " + cmd.Name + ": " + Context.Describe(ex));
            return Failed;
        }
    }

    private static string FirstLine(string? s)
    {
        if (s == null) return "";
        int nl = s.IndexOf('\n');
        return nl < 0 ? s : s.Substring(0, nl).TrimEnd('\r');
    }

    private static void TryReport(TextWriter w, string line)
    {
        try { w.WriteLine(line); w.Flush(); }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    private static void PrintUsage(TextWriter w)
    {
        w.WriteLine("usage: fsu COMMAND [OPTIONS] IMAGE[@PART] [ARGS...]");
        w.WriteLine("Work on the files inside a disk image (FAT, ext2/3/4, ISO 9660) without mounting it on the host.");
        w.WriteLine("IMAGE may be usb:VENDOR:PRODUCT or usb:BUS.ADDRESS: a USB disk driven by the kernel's own USB stack.");
        w.WriteLine("IMAGE@a, IMAGE@b, ... name the partitions of a partitioned disk image; -t TYPE (msdos, ext2fs,");
        w.WriteLine("cd9660) mounts as that type instead of probing the superblock.");
        w.WriteLine();
        foreach (Command c in Commands) w.WriteLine("  fsu " + c.Synopsis);
        w.WriteLine();
        w.WriteLine("fsu COMMAND --help describes one command. Exit status: 0 success, 1 failure, 2 usage error.");
    }
}

/// <summary>A command line after the command name: flags (GNU style, anywhere before "--"), the image, the operands.</summary>
internal sealed class Args
{
    public readonly HashSet<char> Flags = new();
    public string? Image;
    /// <summary>-t TYPE: mount as this type instead of probing.</summary>
    public string? FsType;
    public readonly List<string> Operands = new();
    public bool Help;

    public bool Has(char f) => Flags.Contains(f);

    public static Args? Parse(Fsu.Command cmd, ReadOnlySpan<string> argv, out string? error)
    {
        error = null;
        var a = new Args();
        bool opts = true;
        var rest = new List<string>();
        for (int i = 0; i < argv.Length; i++)
        {
            string s = argv[i];
            if (opts && s == "--") { opts = false; continue; }
            if (opts && s == "--help") { a.Help = true; return a; }
            if (opts && s == "-t")
            {
                if (i + 1 >= argv.Length) { error = "-t needs a file system type"; return null; }
                a.FsType = argv[++i];
                continue;
            }
            // find takes its own expression words (-name, -type) after the image.
            if (opts && cmd.Name == "find" && (s == "-name" || s == "-type"))
            {
                if (i + 1 >= argv.Length) { error = s + " needs an argument"; return null; }
                rest.Add(s); rest.Add(argv[++i]);
                continue;
            }
            if (opts && s.Length > 1 && s[0] == '-')
            {
                foreach (char c in s.AsSpan(1))
                {
                    if (cmd.Flags.IndexOf(c) < 0) { error = "unknown option -- " + c; return null; }
                    a.Flags.Add(c == 'R' ? 'r' : c);
                }
                continue;
            }
            rest.Add(s);
        }
        if (rest.Count > 0) { a.Image = rest[0]; a.Operands.AddRange(rest.GetRange(1, rest.Count - 1)); }
        return a;
    }
}

/// <summary>Where a command writes and how it names what failed.</summary>
internal sealed class Context
{
    public readonly string ImageSpec;
    public readonly TextWriter Out, Err;
    public readonly bool ShowProgress;
    public string? FsType;
    /// <summary>The kernel the command booted for the image (to tell a panic from an ordinary failure).</summary>
    public RumpKernel? Kernel;

    public Context(string image, TextWriter o, TextWriter e, bool progress) { ImageSpec = image; Out = o; Err = e; ShowProgress = progress; }

    /// <summary>"fsu: IMAGE: PATH: message"; returns <see cref="Fsu.Failed"/>.</summary>
    public int Fail(string path, int errno) => Fail(path, Errno.Message(errno));

    public int Fail(string path, string message)
    {
        Err.WriteLine("fsu: " + ImageSpec + ": " + ImageSession.Printable(path) + ": " + message);
        return Fsu.Failed;
    }

    /// <summary>
    /// Runs the work for one path. A host API that refuses what the image gave (an exception) is
    /// reported against the path and counted; the caller goes on with the next path.
    /// </summary>
    public int Guard(string path, Func<int> body)
    {
        try { return body(); }
        catch (Exception ex) when (ex is not OutOfMemoryException) { return Fail(path, Describe(ex)); }
    }

    /// <summary>An exception as a one-line message.</summary>
    public static string Describe(Exception ex) => ex is IOException or UnauthorizedAccessException
        ? ex.Message
        : ex.GetType().Name + ": " + ex.Message;

    /// <summary>An error about a host file: "fsu: HOSTPATH: message".</summary>
    public int FailHost(string hostPath, string message)
    {
        Err.WriteLine("fsu: " + ImageSession.Printable(hostPath) + ": " + message);
        return Fsu.Failed;
    }

    /// <summary>Opens the image, runs <paramref name="body"/> on it, unmounts (reporting a failed unmount).</summary>
    public int WithImage(bool writable, Func<ImageSession, int> body)
    {
        int e = ImageSession.Open(this, writable, out ImageSession? s);
        if (e != 0) return Fsu.Failed;
        int rc;
        try { rc = body(s!); }
        finally { e = s!.Close(); }
        if (e != 0) { Err.WriteLine("fsu: " + ImageSpec + ": unmount: " + Errno.Message(e)); rc = Fsu.Failed; }
        return rc;
    }
}
