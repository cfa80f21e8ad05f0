using System;
using System.Collections.Generic;
using System.Diagnostics;
using NUnit.Framework;
using Rump.Fuse.Interop;

namespace Rump.Tests;

/// <summary>
/// rumpfuse's descriptions of libfuse3's structures (tools/rumpfuse/Interop/LibFuse.cs) match
/// the C compiler's reading of the installed headers: sizes, offsets, the bit-field bits it sets
/// and the capability flags, as printed by tests/c/fuse_layout_dump.c (RUMP_FUSE_LAYOUT_DUMP).
/// </summary>
[Category("Rumpfuse")]
public sealed unsafe class FuseLayoutTests
{
    private static Dictionary<string, long> Dump()
    {
        string? path = Environment.GetEnvironmentVariable("RUMP_FUSE_LAYOUT_DUMP");
        if (string.IsNullOrEmpty(path) || !System.IO.File.Exists(path))
            Assert.Fail("RUMP_FUSE_LAYOUT_DUMP does not name the built fuse_layout_dump ('" + path + "'): cmake builds it from tests/c/fuse_layout_dump.c "
                        + "when libfuse3-dev is installed (tools/setup-debian.sh installs it)");
        var psi = new ProcessStartInfo(path!) { RedirectStandardOutput = true, UseShellExecute = false };
        using Process p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, path + " failed");
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ');
            d[f[0]] = long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return d;
    }

    private static void Check(Dictionary<string, long> c, string name, long mine)
    {
        Assert.That(c.ContainsKey(name), Is.True, "fuse_layout_dump prints " + name);
        Assert.That(mine, Is.EqualTo(c[name]), name + ": C says " + c[name] + ", rumpfuse's C# says " + mine);
    }

    [Test]
    public void InteropStructures_MatchTheInstalledHeaders()
    {
        var c = Dump();
        FuseArgs a; Check(c, "fuse_args", sizeof(FuseArgs));
        Check(c, "fuse_args.argv", (byte*)&a.Argv - (byte*)&a);
        Check(c, "fuse_args.allocated", (byte*)&a.Allocated - (byte*)&a);

        LinuxStat s; Check(c, "stat", sizeof(LinuxStat));
        Check(c, "stat.st_ino", (byte*)&s.Ino - (byte*)&s);
        Check(c, "stat.st_nlink", (byte*)&s.Nlink - (byte*)&s);
        Check(c, "stat.st_mode", (byte*)&s.Mode - (byte*)&s);
        Check(c, "stat.st_uid", (byte*)&s.Uid - (byte*)&s);
        Check(c, "stat.st_gid", (byte*)&s.Gid - (byte*)&s);
        Check(c, "stat.st_rdev", (byte*)&s.Rdev - (byte*)&s);
        Check(c, "stat.st_size", (byte*)&s.Size - (byte*)&s);
        Check(c, "stat.st_blksize", (byte*)&s.Blksize - (byte*)&s);
        Check(c, "stat.st_blocks", (byte*)&s.Blocks - (byte*)&s);
        Check(c, "stat.st_atim", (byte*)&s.AtimeSec - (byte*)&s);
        Check(c, "stat.st_mtim", (byte*)&s.MtimeSec - (byte*)&s);
        Check(c, "stat.st_ctim", (byte*)&s.CtimeSec - (byte*)&s);

        LinuxStatvfs v; Check(c, "statvfs", sizeof(LinuxStatvfs));
        Check(c, "statvfs.f_frsize", (byte*)&v.Frsize - (byte*)&v);
        Check(c, "statvfs.f_blocks", (byte*)&v.Blocks - (byte*)&v);
        Check(c, "statvfs.f_bavail", (byte*)&v.Bavail - (byte*)&v);
        Check(c, "statvfs.f_favail", (byte*)&v.Favail - (byte*)&v);
        Check(c, "statvfs.f_fsid", (byte*)&v.Fsid - (byte*)&v);
        Check(c, "statvfs.f_namemax", (byte*)&v.Namemax - (byte*)&v);

        FuseEntryParam e; Check(c, "fuse_entry_param", sizeof(FuseEntryParam));
        Check(c, "fuse_entry_param.generation", (byte*)&e.Generation - (byte*)&e);
        Check(c, "fuse_entry_param.attr", (byte*)&e.Attr - (byte*)&e);
        Check(c, "fuse_entry_param.attr_timeout", (byte*)&e.AttrTimeout - (byte*)&e);
        Check(c, "fuse_entry_param.entry_timeout", (byte*)&e.EntryTimeout - (byte*)&e);

        FuseFileInfo fi; Check(c, "fuse_file_info", sizeof(FuseFileInfo));
        Check(c, "fuse_file_info.fh", (byte*)&fi.Fh - (byte*)&fi);
        Check(c, "fuse_file_info.lock_owner", (byte*)&fi.LockOwner - (byte*)&fi);
        Check(c, "fuse_file_info.poll_events", (byte*)&fi.PollEvents - (byte*)&fi);
        Check(c, "fuse_file_info.direct_io.bit", FuseFileInfo.DirectIo);
        Check(c, "fuse_file_info.keep_cache.bit", FuseFileInfo.KeepCache);

        FuseCtx x; Check(c, "fuse_ctx", sizeof(FuseCtx));
        Check(c, "fuse_ctx.pid", (byte*)&x.Pid - (byte*)&x);
        Check(c, "fuse_ctx.umask", (byte*)&x.Umask - (byte*)&x);

        FuseConnInfo ci; Check(c, "fuse_conn_info", sizeof(FuseConnInfo));
        Check(c, "fuse_conn_info.max_write", (byte*)&ci.MaxWrite - (byte*)&ci);
        Check(c, "fuse_conn_info.max_readahead", (byte*)&ci.MaxReadahead - (byte*)&ci);
        Check(c, "fuse_conn_info.want", (byte*)&ci.Want - (byte*)&ci);
        Check(c, "fuse_conn_info.time_gran", (byte*)&ci.TimeGran - (byte*)&ci);
        Check(c, "FUSE_CAP_ASYNC_READ", FuseConnInfo.CapAsyncRead);
        Check(c, "FUSE_CAP_WRITEBACK_CACHE", FuseConnInfo.CapWritebackCache);
        Check(c, "FUSE_CAP_PARALLEL_DIROPS", FuseConnInfo.CapParallelDirops);
        Check(c, "FUSE_CAP_ASYNC_DIO", FuseConnInfo.CapAsyncDio);

        FuseForgetData f; Check(c, "fuse_forget_data", sizeof(FuseForgetData));
        Check(c, "fuse_forget_data.nlookup", (byte*)&f.Nlookup - (byte*)&f);

        FuseBuf b; Check(c, "fuse_buf", sizeof(FuseBuf));
        Check(c, "fuse_buf.flags", (byte*)&b.Flags - (byte*)&b);
        Check(c, "fuse_buf.mem", (byte*)&b.Mem - (byte*)&b);
        Check(c, "fuse_buf.fd", (byte*)&b.Fd - (byte*)&b);
        Check(c, "fuse_buf.pos", (byte*)&b.Pos - (byte*)&b);
        FuseBufvec bv; Check(c, "fuse_bufvec", sizeof(FuseBufvec));
        Check(c, "fuse_bufvec.idx", (byte*)&bv.Idx - (byte*)&bv);
        Check(c, "fuse_bufvec.off", (byte*)&bv.Off - (byte*)&bv);
        Check(c, "fuse_bufvec.buf", (byte*)&bv.Buf0 - (byte*)&bv);
        Check(c, "FUSE_CAP_SPLICE_WRITE", FuseConnInfo.CapSpliceWrite);
        Check(c, "FUSE_CAP_SPLICE_MOVE", FuseConnInfo.CapSpliceMove);
        Check(c, "FUSE_BUF_IS_FD", FuseBuf.IsFd);
        Check(c, "FUSE_BUF_FD_SEEK", FuseBuf.FdSeek);
        Check(c, "FUSE_BUF_SPLICE_MOVE", FuseBuf.CopySpliceMove);

        FuseLowlevelOps o; Check(c, "fuse_lowlevel_ops", sizeof(FuseLowlevelOps));
        Check(c, "fuse_lowlevel_ops.lookup", (byte*)&o.Lookup - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.setattr", (byte*)&o.Setattr - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.rename", (byte*)&o.Rename - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.write", (byte*)&o.Write - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.readdir", (byte*)&o.Readdir - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.statfs", (byte*)&o.Statfs - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.access", (byte*)&o.Access - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.create", (byte*)&o.Create - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.forget_multi", (byte*)&o.ForgetMulti - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.readdirplus", (byte*)&o.Readdirplus - (byte*)&o);
        Check(c, "fuse_lowlevel_ops.lseek", (byte*)&o.Lseek - (byte*)&o);
    }
}
