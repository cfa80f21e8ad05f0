using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rump.Fuse.Interop;

namespace Rump.Fuse;

/// <summary>
/// The fuse_lowlevel_ops table: C-callable entries (UnmanagedCallersOnly) that find the server
/// through the session's userdata (a GCHandle) and call it. No exception leaves an entry: the
/// server replies to every request itself, and one that throws before replying is answered EIO.
/// Operations left out of the table are answered ENOSYS by libfuse (locks, ioctl, poll, bmap,
/// fallocate, copy_file_range, lseek); extended attributes are answered EOPNOTSUPP.
/// </summary>
internal static unsafe class Callbacks
{
    public static FuseLowlevelOps Table()
    {
        FuseLowlevelOps o = default;
        o.Init = &Init;
        o.Destroy = &Destroy;
        o.Lookup = &Lookup;
        o.Forget = &Forget;
        o.Getattr = &Getattr;
        o.Setattr = &Setattr;
        o.Readlink = &Readlink;
        o.Mknod = &Mknod;
        o.Mkdir = &Mkdir;
        o.Unlink = &Unlink;
        o.Rmdir = &Rmdir;
        o.Symlink = &Symlink;
        o.Rename = &Rename;
        o.Link = &Link;
        o.Open = &Open;
        o.Read = &Read;
        o.Write = &Write;
        o.Flush = &Flush;
        o.Release = &Release;
        o.Fsync = &Fsync;
        o.Opendir = &Opendir;
        o.Readdir = &Readdir;
        o.Releasedir = &Releasedir;
        o.Fsyncdir = &Fsync;
        o.Statfs = &Statfs;
        o.Setxattr = &Setxattr;
        o.Getxattr = &Getxattr;
        o.Listxattr = &Listxattr;
        o.Removexattr = &Removexattr;
        o.Access = &Access;
        o.Create = &Create;
        o.ForgetMulti = &ForgetMulti;
        o.Readdirplus = &Readdirplus;
        return o;
    }

    private static FuseServer S(nint req) => (FuseServer)GCHandle.FromIntPtr(LibFuse.ReqUserdata(req)).Target!;

    private const int LinuxEIO = 5;

    private static void Failed(nint req, Exception e, bool noReply = false)
    {
        try { Console.Error.WriteLine("rumpfuse: request failed: " + e.Message); } catch { }
        if (!noReply) LibFuse.ReplyErr(req, LinuxEIO);
    }

    [UnmanagedCallersOnly]
    private static void Init(nint userdata, FuseConnInfo* conn)
    {
        // Large requests (the host splits I/O at max_write and max_read; max_read must repeat the
        // mount option, and max_readahead stays what the host offers); asynchronous reads; no
        // writeback cache (writes reach the kernel's cache at once, so fsync is exact).
        conn->MaxWrite = FuseServer.MaxIo;
        conn->MaxRead = FuseServer.MaxIo;
        conn->Want |= conn->Capable & (FuseConnInfo.CapAsyncRead | FuseConnInfo.CapParallelDirops | FuseConnInfo.CapAsyncDio);
        conn->Want &= ~FuseConnInfo.CapWritebackCache;
        conn->TimeGran = 1;
        try
        {
            var server = (FuseServer)GCHandle.FromIntPtr(userdata).Target!;
            server.InitReaddir(conn);
            server.InitSplice(conn);
        }
        catch (Exception e) { Console.Error.WriteLine("rumpfuse: init: " + e.Message); }
    }

    [UnmanagedCallersOnly]
    private static void Destroy(nint userdata) { }

    [UnmanagedCallersOnly]
    private static void Lookup(nint req, ulong parent, byte* name)
    {
        try { S(req).Lookup(req, parent, name); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Forget(nint req, ulong ino, ulong n)
    {
        try { S(req).Forget(req, ino, n); } catch (Exception e) { Failed(req, e, noReply: true); LibFuse.ReplyNone(req); }
    }

    [UnmanagedCallersOnly]
    private static void ForgetMulti(nint req, nuint count, FuseForgetData* f)
    {
        try { S(req).ForgetMulti(req, count, f); } catch (Exception e) { Failed(req, e, noReply: true); LibFuse.ReplyNone(req); }
    }

    [UnmanagedCallersOnly]
    private static void Getattr(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { S(req).Getattr(req, ino); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Setattr(nint req, ulong ino, LinuxStat* attr, int toSet, FuseFileInfo* fi)
    {
        try { S(req).Setattr(req, ino, attr, toSet, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Readlink(nint req, ulong ino)
    {
        try { S(req).Readlink(req, ino); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Mknod(nint req, ulong parent, byte* name, uint mode, ulong rdev)
    {
        try { S(req).Mknod(req, parent, name, mode, rdev); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Mkdir(nint req, ulong parent, byte* name, uint mode)
    {
        try { S(req).Mkdir(req, parent, name, mode); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Unlink(nint req, ulong parent, byte* name)
    {
        try { S(req).Remove(req, parent, name, dir: false); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Rmdir(nint req, ulong parent, byte* name)
    {
        try { S(req).Remove(req, parent, name, dir: true); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Symlink(nint req, byte* link, ulong parent, byte* name)
    {
        try { S(req).Symlink(req, link, parent, name); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Rename(nint req, ulong parent, byte* name, ulong newparent, byte* newname, uint flags)
    {
        try { S(req).Rename(req, parent, name, newparent, newname, flags); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Link(nint req, ulong ino, ulong newparent, byte* newname)
    {
        try { S(req).Link(req, ino, newparent, newname); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Open(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { S(req).Open(req, ino, fi, dir: false); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Opendir(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { S(req).Open(req, ino, fi, dir: true); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Read(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        try { S(req).Read(req, size, off, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Write(nint req, ulong ino, byte* buf, nuint size, long off, FuseFileInfo* fi)
    {
        try { S(req).Write(req, buf, size, off, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Flush(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { FuseServer.Flush(req); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Release(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { S(req).Release(req, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Releasedir(nint req, ulong ino, FuseFileInfo* fi)
    {
        try { S(req).Release(req, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Fsync(nint req, ulong ino, int datasync, FuseFileInfo* fi)
    {
        try { S(req).Fsync(req, datasync, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Readdir(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        try { S(req).Readdir(req, size, off, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Readdirplus(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        try { S(req).Readdirplus(req, size, off, fi); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Statfs(nint req, ulong ino)
    {
        try { S(req).Statfs(req, ino); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Setxattr(nint req, ulong ino, byte* name, byte* value, nuint size, int flags) => FuseServer.NoXattr(req);

    [UnmanagedCallersOnly]
    private static void Getxattr(nint req, ulong ino, byte* name, nuint size) => FuseServer.NoXattr(req);

    [UnmanagedCallersOnly]
    private static void Listxattr(nint req, ulong ino, nuint size) => FuseServer.NoXattr(req);

    [UnmanagedCallersOnly]
    private static void Removexattr(nint req, ulong ino, byte* name) => FuseServer.NoXattr(req);

    [UnmanagedCallersOnly]
    private static void Access(nint req, ulong ino, int mask)
    {
        try { S(req).Access(req, ino, mask); } catch (Exception e) { Failed(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Create(nint req, ulong parent, byte* name, uint mode, FuseFileInfo* fi)
    {
        try { S(req).Create(req, parent, name, mode, fi); } catch (Exception e) { Failed(req, e); }
    }
}
