using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Fsu;

/// <summary>
/// fsu diff PATH HOSTPATH: compares types, file bytes and link targets recursively, reporting as
/// diff -r does ("Only in", "Files ... differ"). Exit 0 when equal, 1 when they differ or a file
/// could not be read.
/// </summary>
internal static class DiffCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(false, s =>
    {
        if (a.Operands.Count != 2) { ctx.Err.WriteLine("usage: fsu diff IMAGE[@PART] PATH HOSTPATH"); return Fsu.Usage; }
        var d = new Differ(ctx, s);
        d.Guarded(a.Operands[0], ImageSession.KPath(a.Operands[0]), a.Operands[1]);
        return d.Different || d.Failed ? Fsu.Failed : Fsu.Ok;
    });

    private sealed class Differ
    {
        private readonly Context _ctx;
        private readonly ImageSession _s;
        public bool Different, Failed;
        private readonly Ancestors _ancestors = new();

        public Differ(Context ctx, ImageSession s) { _ctx = ctx; _s = s; }

        private string Img(string path) => _ctx.ImageSpec + ":" + path;

        private void Say(string line) { _ctx.Out.WriteLine(ImageSession.Printable(line)); Different = true; }

        /// <summary>Compare, with what a host API refuses reported against the path.</summary>
        public void Guarded(string path, string kp, string host)
        {
            if (_ctx.Guard(path, () => { Compare(path, kp, host); return 0; }) != 0) Failed = true;
        }

        private void Compare(string path, string kp, string host)
        {
            int e = _s.Lstat(kp, out RumpStat st);
            if (e < 0) { _ctx.Fail(path, -e); Failed = true; return; }
            var hi = new FileInfo(host);
            bool hostLink = hi.LinkTarget != null, hostDir = !hostLink && Directory.Exists(host), hostFile = !hostLink && hi.Exists;
            if (!hostLink && !hostDir && !hostFile) { _ctx.FailHost(host, "No such file or directory"); Failed = true; return; }
            string it = Kind(st), ht = hostLink ? "symbolic link" : hostDir ? "directory" : "regular file";
            if (it != ht) { Say("File " + Img(path) + " is a " + it + " while file " + host + " is a " + ht); return; }
            if (hostLink)
            {
                string? t = _s.K.Readlink(kp, out int le);
                if (t == null) { _ctx.Fail(path, le); Failed = true; return; }
                if (t != hi.LinkTarget) Say("Symbolic links " + Img(path) + " -> " + t + " and " + host + " -> " + hi.LinkTarget + " differ");
                return;
            }
            if (hostFile) { CompareFiles(path, kp, st, host, hi.Length); return; }
            if (!_ancestors.Enter(_ctx, path, st)) { Failed = true; return; }
            try { CompareDirs(path, kp, host); }
            finally { _ancestors.Leave(st); }
        }

        private void CompareDirs(string path, string kp, string host)
        {
            int e = _s.List(kp, out List<string> inImage);
            if (e < 0) { _ctx.Fail(path, -e); Failed = true; return; }
            var onHost = new List<string>();
            foreach (string c in Directory.GetFileSystemEntries(host)) onHost.Add(Path.GetFileName(c));
            onHost.Sort(StringComparer.Ordinal);
            var hostSet = new HashSet<string>(onHost, StringComparer.Ordinal);
            var imgSet = new HashSet<string>(inImage, StringComparer.Ordinal);
            foreach (string n in inImage)
            {
                if (ImageSession.BadName(n) is string why) { _ctx.Fail(ImageSession.Join(path, n), why); Failed = true; continue; }
                if (!hostSet.Contains(n)) { Say("Only in " + Img(path) + ": " + n); continue; }
                Guarded(ImageSession.Join(path, n), kp + "/" + n, Path.Combine(host, n));
            }
            foreach (string n in onHost)
                if (!imgSet.Contains(n)) Say("Only in " + host + ": " + n);
        }

        private void CompareFiles(string path, string kp, in RumpStat st, string host, long hostLen)
        {
            if (st.st_size != hostLen) { Say("Files " + Img(path) + " and " + host + " differ"); return; }
            int fd = _s.K.Open(kp, Abi.O_RDONLY);
            if (fd < 0) { _ctx.Fail(path, -fd); Failed = true; return; }
            byte[] a = ArrayPool<byte>.Shared.Rent(1 << 20), b = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                using var f = new FileStream(host, FileMode.Open, FileAccess.Read);
                while (true)
                {
                    long n = _s.K.Read(fd, a.AsSpan(0, 1 << 20));
                    if (n < 0) { _ctx.Fail(path, (int)-n); Failed = true; return; }
                    int m = f.ReadAtLeast(b.AsSpan(0, (int)n), (int)n, throwOnEndOfStream: false);
                    if (m != n || !a.AsSpan(0, (int)n).SequenceEqual(b.AsSpan(0, m))) { Say("Files " + Img(path) + " and " + host + " differ"); return; }
                    if (n == 0) return;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { _ctx.FailHost(host, ex.Message); Failed = true; }
            finally { _s.K.Close(fd); ArrayPool<byte>.Shared.Return(a); ArrayPool<byte>.Shared.Return(b); }
        }

        private static string Kind(in RumpStat st) =>
            ImageSession.IsDir(st) ? "directory" : ImageSession.IsLink(st) ? "symbolic link" : ImageSession.IsReg(st) ? "regular file" : "special file";
    }
}
