using System;
using System.Collections.Generic;
using System.IO;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Fsu;

/// <summary>
/// fsu cp: image → host. Like cp(1): one source onto a new name, or sources into an existing
/// directory; -r for directories; symbolic links stay links; -p keeps permission bits and times
/// (directories get theirs after their contents are written).
/// </summary>
internal static class CopyOutCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(false, s =>
    {
        string dest = a.Operands[^1];
        var sources = a.Operands.GetRange(0, a.Operands.Count - 1);
        bool destIsDir = Directory.Exists(dest);
        if (sources.Count > 1 && !destIsDir) return ctx.FailHost(dest, "Not a directory");
        var job = new Job(ctx, s, a.Has('r'), a.Has('p'));
        if (ctx.ShowProgress)
        {
            long total = 0;
            foreach (string src in sources) total += job.Measure(ImageSession.KPath(src), new Ancestors());
            job.Progress = new Progress(ctx.Err, total);
        }
        int rc = Fsu.Ok;
        foreach (string src in sources)
        {
            string kp = ImageSession.KPath(src);
            int e = s.Lstat(kp, out RumpStat st);
            if (e < 0) { rc = ctx.Fail(src, -e); continue; }
            string name = ImageSession.BaseName(src);
            string target = destIsDir && name.Length > 0 ? Path.Combine(dest, name) : dest;
            if (ctx.Guard(src, () => job.Copy(src, kp, st, target)) != 0) rc = Fsu.Failed;
        }
        job.Progress?.Finish();
        return rc;
    });

    private sealed class Job
    {
        private readonly Context _ctx;
        private readonly ImageSession _s;
        private readonly bool _recursive, _preserve;
        public Progress? Progress;

        public Job(Context ctx, ImageSession s, bool r, bool p) { _ctx = ctx; _s = s; _recursive = r; _preserve = p; }

        /// <summary>Bytes under a path (for the progress bar); a directory cycle is left for the copy to report.</summary>
        public long Measure(string kp, Ancestors ancestors)
        {
            if (_s.Lstat(kp, out RumpStat st) < 0) return 0;
            if (!ImageSession.IsDir(st)) return ImageSession.IsReg(st) ? st.st_size : 0;
            if (!_recursive || !ancestors.EnterQuietly(st)) return 0;
            long t = 0;
            if (_s.List(kp, out List<string> names) == 0)
                foreach (string n in names)
                    if (ImageSession.BadName(n) == null) t += Measure(kp + "/" + n, ancestors);
            ancestors.Leave(st);
            return t;
        }

        private readonly Ancestors _ancestors = new();

        public int Copy(string path, string kp, in RumpStat st, string host)
        {
            try
            {
                if (ImageSession.IsDir(st)) return CopyDir(path, kp, st, host);
                if (ImageSession.IsLink(st))
                {
                    string? target = _s.K.Readlink(kp, out int le);
                    if (target == null) return _ctx.Fail(path, le);
                    // A host link cannot hold these (File.CreateSymbolicLink refuses them).
                    if (target.Length == 0) return _ctx.Fail(path, "empty symbolic link target (not copied)");
                    if (target.Contains('\0')) return _ctx.Fail(path, "symbolic link target contains a NUL byte (not copied)");
                    if (File.Exists(host) || Directory.Exists(host) || new FileInfo(host).LinkTarget != null) File.Delete(host);
                    File.CreateSymbolicLink(host, target);
                    return 0;
                }
                if (!ImageSession.IsReg(st)) return _ctx.Fail(path, "not a regular file, directory or symbolic link (skipped)");
                int e;
                using (var f = new FileStream(host, FileMode.Create, FileAccess.Write))
                    e = FileIo.ReadInto(_s, kp, f, Progress);
                if (e < 0) return _ctx.Fail(path, -e);
                return _preserve ? Preserve(path, host, st, isDir: false) : 0;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return _ctx.FailHost(host, ex.Message);
            }
        }

        private int CopyDir(string path, string kp, in RumpStat st, string host)
        {
            if (!_recursive) return _ctx.Fail(path, "Is a directory (not copied; use -r)");
            if (!_ancestors.Enter(_ctx, path, st)) return Fsu.Failed;
            try
            {
                Directory.CreateDirectory(host);
                int rc = DirWalk.Children(_ctx, _s, path, kp, (n, cp, ckp, cst) => Copy(cp, ckp, cst, Path.Combine(host, n)));
                if (_preserve && Preserve(path, host, st, isDir: true) != 0) rc = Fsu.Failed;
                return rc;
            }
            finally { _ancestors.Leave(st); }
        }

        private int Preserve(string path, string host, in RumpStat st, bool isDir)
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(host, (UnixFileMode)(st.st_mode & 0xfff));
            if (ImageSession.ToDateTime(st.st_mtim) is not DateTime m || ImageSession.ToDateTime(st.st_atim) is not DateTime at)
                return _ctx.Fail(path, "time out of range (not kept)");
            if (isDir) { Directory.SetLastWriteTimeUtc(host, m); Directory.SetLastAccessTimeUtc(host, at); }
            else { File.SetLastWriteTimeUtc(host, m); File.SetLastAccessTimeUtc(host, at); }
            return 0;
        }
    }
}
