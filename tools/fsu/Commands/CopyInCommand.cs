using System;
using System.IO;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Fsu;

/// <summary>
/// fsu put (fs-utils' ecp): host → image, with cp(1)'s rules for the destination; -r for
/// directories; symbolic links stay links; -p keeps permission bits and times (utimensat).
/// </summary>
internal static class CopyInCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(true, s =>
    {
        string dest = a.Operands[^1];
        var sources = a.Operands.GetRange(0, a.Operands.Count - 1);
        string kdest = ImageSession.KPath(dest);
        bool destIsDir = s.Lstat(kdest, out RumpStat dst) == 0 && ImageSession.IsDir(dst);
        if (sources.Count > 1 && !destIsDir) return ctx.Fail(dest, Abi.ENOTDIR);
        var job = new Job(ctx, s, a.Has('r'), a.Has('p'));
        if (ctx.ShowProgress)
        {
            long total = 0;
            foreach (string src in sources) total += Measure(src, a.Has('r'));
            job.Progress = new Progress(ctx.Err, total);
        }
        int rc = Fsu.Ok;
        foreach (string src in sources)
        {
            string name = Path.GetFileName(src.TrimEnd('/'));
            string target = destIsDir ? ImageSession.Join(dest, name) : dest;
            if (ctx.Guard(target, () => job.Put(src, target)) != 0) rc = Fsu.Failed;
        }
        job.Progress?.Finish();
        return rc;
    });

    private static long Measure(string host, bool recursive)
    {
        try
        {
            var fi = new FileInfo(host);
            if (fi.LinkTarget != null) return 0;
            if (fi.Exists) return fi.Length;
            if (!recursive || !Directory.Exists(host)) return 0;
            long t = 0;
            foreach (var f in new DirectoryInfo(host).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }))
                if (f.LinkTarget == null) t += f.Length;
            return t;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return 0; }
    }

    private sealed class Job
    {
        private readonly Context _ctx;
        private readonly ImageSession _s;
        private readonly bool _recursive, _preserve;
        public Progress? Progress;

        public Job(Context ctx, ImageSession s, bool r, bool p) { _ctx = ctx; _s = s; _recursive = r; _preserve = p; }

        public int Put(string host, string path)
        {
            string kp = ImageSession.KPath(path);
            try
            {
                var fi = new FileInfo(host);
                if (fi.LinkTarget is string target)
                {
                    int e = _s.K.Symlink(target, kp);
                    if (e == -Abi.EEXIST && _s.Lstat(kp, out RumpStat old) == 0 && !ImageSession.IsDir(old))
                    {
                        _s.K.Unlink(kp);
                        e = _s.K.Symlink(target, kp);
                    }
                    return e < 0 ? _ctx.Fail(path, -e) : 0;
                }
                if (Directory.Exists(host)) return PutDir(host, path, kp);
                if (!fi.Exists) return _ctx.FailHost(host, "No such file or directory");
                uint mode = OperatingSystem.IsWindows() ? 0x1a4u : (uint)File.GetUnixFileMode(host);
                int r;
                using (var f = new FileStream(host, FileMode.Open, FileAccess.Read))
                    r = FileIo.WriteFrom(_s, kp, f, mode & 0x1ff, Progress);
                if (r < 0) return _ctx.Fail(path, -r);
                return _preserve ? Preserve(host, path, kp, mode, fi.LastAccessTimeUtc, fi.LastWriteTimeUtc) : 0;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return _ctx.FailHost(host, ex.Message);
            }
        }

        private int PutDir(string host, string path, string kp)
        {
            if (!_recursive) return _ctx.FailHost(host, "Is a directory (not copied; use -r)");
            uint mode = OperatingSystem.IsWindows() ? 0x1a4u : (uint)File.GetUnixFileMode(host);
            int e = _s.K.Mkdir(kp, mode | 0x1c0);
            if (e == -Abi.EEXIST && _s.Lstat(kp, out RumpStat st) == 0 && ImageSession.IsDir(st)) e = 0;
            if (e < 0) return _ctx.Fail(path, -e);
            int rc = 0;
            var entries = Directory.GetFileSystemEntries(host);
            Array.Sort(entries, StringComparer.Ordinal);
            foreach (string child in entries)
            {
                string cpath = ImageSession.Join(path, Path.GetFileName(child));
                if (_ctx.Guard(cpath, () => Put(child, cpath)) != 0) rc = Fsu.Failed;
            }
            var di = new DirectoryInfo(host);
            if (_preserve && Preserve(host, path, kp, mode, di.LastAccessTimeUtc, di.LastWriteTimeUtc) != 0) rc = Fsu.Failed;
            return rc;
        }

        private int Preserve(string host, string path, string kp, uint mode, DateTime atime, DateTime mtime)
        {
            int e = _s.K.Chmod(kp, mode & 0xfff);
            if (e == 0) e = _s.SetTimes(kp, ImageSession.ToTimespec(atime), ImageSession.ToTimespec(mtime));
            return e < 0 ? _ctx.Fail(path, -e) : 0;
        }
    }
}
