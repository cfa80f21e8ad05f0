using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// tmpfs through the system calls: file types, link counts, sparse files, timestamps, rename rules,
/// the size limit, open-but-unlinked files, readdir over large and changing directories, statvfs.
/// The root file system is tmpfs; limited instances are mounted at /mnt.
/// </summary>
public class TmpfsTests : KernelTest
{
    private const uint Dir0755 = 0x1ed, File0644 = 0x1a4;

    private static RumpTmpfsArgs Limited(long sizeMax, ulong nodesMax = 0) => new()
    {
        ta_version = Abi.TMPFS_ARGS_VERSION, ta_size_max = sizeMax, ta_nodes_max = nodesMax, ta_root_mode = Dir0755,
    };

    private RumpKernel BootWithMnt(long sizeMax = 64 * 1024, ulong nodesMax = 0)
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mount("tmpfs", "/mnt", 0, Limited(sizeMax, nodesMax)), Is.EqualTo(0), "mount tmpfs at /mnt");
        return k;
    }

    private static long Ns(RumpTimespec t) => t.tv_sec * 1_000_000_000 + t.tv_nsec;

    /// <summary>Lets the wall clock move on so that a changed timestamp is visibly later.</summary>
    private static void Tick() => Thread.Sleep(15);

    [Test]
    public void RegularFileWriteReadSeekTruncate()
    {
        RumpKernel k = Boot();
        int fd = k.Open("/f", Abi.O_RDWR | Abi.O_CREAT | Abi.O_EXCL, File0644);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        byte[] data = Enumerable.Range(0, 10000).Select(i => (byte)(i * 7)).ToArray();
        Assert.That(k.Write(fd, data), Is.EqualTo(data.Length));
        Assert.That(k.Lseek(fd, 0, Abi.SEEK_SET), Is.EqualTo(0));
        var back = new byte[20000];
        Assert.That(k.Read(fd, back), Is.EqualTo(data.Length));
        Assert.That(back.AsSpan(0, data.Length).SequenceEqual(data), Is.True, "contents read back");
        Assert.That(k.Read(fd, back), Is.EqualTo(0), "read at EOF");
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFREG | File0644));
        Assert.That(st.st_size, Is.EqualTo(10000));
        Assert.That(st.st_nlink, Is.EqualTo(1));
        Assert.That(k.Open("/f", Abi.O_RDWR | Abi.O_CREAT | Abi.O_EXCL, File0644), Is.EqualTo(-Abi.EEXIST));

        // Shrink then grow: the old bytes past the cut must read as zeros.
        Assert.That(k.Ftruncate(fd, 5000), Is.EqualTo(0));
        Assert.That(k.Ftruncate(fd, 9000), Is.EqualTo(0));
        Assert.That(k.Pread(fd, back.AsSpan(0, 9000), 0), Is.EqualTo(9000));
        Assert.That(back.AsSpan(0, 5000).SequenceEqual(data.AsSpan(0, 5000)), Is.True, "bytes before the cut");
        Assert.That(back.AsSpan(5000, 4000).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "bytes after a truncate-then-extend are zero");
        Assert.That(k.Close(fd), Is.EqualTo(0));
    }

    [Test]
    public void DirectoriesLinkCountsAndRmdir()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", Dir0755), Is.EqualTo(0));
        Assert.That(StatOk(k, "/d").st_nlink, Is.EqualTo(2), "empty directory: its name and its \".\"");
        Assert.That(k.Mkdir("/d/a", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/d/b", Dir0755), Is.EqualTo(0));
        WriteFile(k, "/d/file", "x");
        Assert.That(StatOk(k, "/d").st_nlink, Is.EqualTo(4), "2 + one \"..\" per subdirectory");
        Assert.That(StatOk(k, "/d").st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFDIR));
        Assert.That(k.Mkdir("/d/a", Dir0755), Is.EqualTo(-Abi.EEXIST));
        Assert.That(k.Rmdir("/d"), Is.EqualTo(-Abi.ENOTEMPTY));
        Assert.That(k.Rmdir("/d/file"), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Unlink("/d/a"), Is.EqualTo(-Abi.EPERM), "unlink(2) of a directory (NetBSD: EPERM)");
        Assert.That(k.Rmdir("/d/a"), Is.EqualTo(0));
        Assert.That(StatOk(k, "/d").st_nlink, Is.EqualTo(3));
        var names = ListDir(k, "/d").Select(e => e.name).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.That(names, Is.EqualTo(new[] { ".", "..", "b", "file" }));
    }

    [Test]
    public void SymlinkStoresItsTarget()
    {
        RumpKernel k = Boot();
        string target = "some/where/else";
        Assert.That(k.Symlink(target, "/l"), Is.EqualTo(0));
        Assert.That(k.Readlink("/l", out int e), Is.EqualTo(target), "readlink (errno " + e + ")");
        Assert.That(k.Lstat("/l", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFLNK));
        Assert.That(st.st_size, Is.EqualTo(target.Length), "a symlink's size is its target's length");
        Assert.That(k.Stat("/l", out _), Is.EqualTo(-Abi.ENOENT), "dangling link");
        Assert.That(k.Symlink("x", "/l"), Is.EqualTo(-Abi.EEXIST));
        Assert.That(k.Readlink("/", out e), Is.Null);
        Assert.That(e, Is.EqualTo(Abi.EINVAL), "readlink of a directory");
    }

    [Test]
    public void HardLinksShareTheNodeAndCountNames()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/a", "shared");
        Assert.That(k.Link("/a", "/b"), Is.EqualTo(0));
        RumpStat a = StatOk(k, "/a"), b = StatOk(k, "/b");
        Assert.That(b.st_ino, Is.EqualTo(a.st_ino));
        Assert.That(a.st_nlink, Is.EqualTo(2));
        WriteFile(k, "/b", "changed via b");
        Assert.That(ReadFile(k, "/a"), Is.EqualTo("changed via b"));
        Assert.That(k.Link("/a", "/b"), Is.EqualTo(-Abi.EEXIST));
        Assert.That(k.Mkdir("/dir", Dir0755), Is.EqualTo(0));
        Assert.That(k.Link("/dir", "/dir2"), Is.EqualTo(-Abi.EPERM), "hard link to a directory");
        Assert.That(k.Unlink("/a"), Is.EqualTo(0));
        Assert.That(StatOk(k, "/b").st_nlink, Is.EqualTo(1));
        Assert.That(ReadFile(k, "/b"), Is.EqualTo("changed via b"));
    }

    [Test]
    public void SparseFileAtOneGibibyte()
    {
        RumpKernel k = Boot();
        int fd = k.Open("/sparse", Abi.O_RDWR | Abi.O_CREAT, File0644);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        const long G = 1L << 30;
        Assert.That(k.Pwrite(fd, "END"u8, G), Is.EqualTo(3));
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(G + 3));
        Assert.That(st.st_blocks, Is.InRange(1, 16), "st_blocks (512-byte units) of a 1 GiB file with one written page");
        var buf = new byte[8192];
        buf.AsSpan().Fill(0xee);
        Assert.That(k.Pread(fd, buf, 123 * 4096 + 17), Is.EqualTo(buf.Length));
        Assert.That(buf.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "a hole reads as zeros");
        buf.AsSpan().Fill(0xee);
        Assert.That(k.Pread(fd, buf.AsSpan(0, 16), G - 13), Is.EqualTo(16));
        Assert.That(buf.AsSpan(0, 13).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "zeros just before the data");
        Assert.That(Encoding.ASCII.GetString(buf, 13, 3), Is.EqualTo("END"));
        Assert.That(k.Pread(fd, buf, G + 3), Is.EqualTo(0), "read at EOF");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Unlink("/sparse"), Is.EqualTo(0));
    }

    [Test]
    public void ReadUpdatesAtimeOnly()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "abc");
        RumpStat before = StatOk(k, "/f");
        Tick();
        Assert.That(ReadFile(k, "/f"), Is.EqualTo("abc"));
        RumpStat after = StatOk(k, "/f");
        Assert.That(Ns(after.st_atim), Is.GreaterThan(Ns(before.st_atim)), "atime after read");
        Assert.That(Ns(after.st_mtim), Is.EqualTo(Ns(before.st_mtim)), "mtime after read");
        Assert.That(Ns(after.st_ctim), Is.EqualTo(Ns(before.st_ctim)), "ctime after read");
    }

    [Test]
    public void WriteUpdatesMtimeAndCtime()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "abc");
        RumpStat before = StatOk(k, "/f");
        Tick();
        int fd = k.Open("/f", Abi.O_WRONLY | Abi.O_APPEND);
        Assert.That(k.Write(fd, "d"u8), Is.EqualTo(1));
        k.Close(fd);
        RumpStat after = StatOk(k, "/f");
        Assert.That(Ns(after.st_mtim), Is.GreaterThan(Ns(before.st_mtim)), "mtime after write");
        Assert.That(Ns(after.st_ctim), Is.GreaterThan(Ns(before.st_ctim)), "ctime after write");
        Assert.That(Ns(after.st_atim), Is.EqualTo(Ns(before.st_atim)), "atime after write");
        Assert.That(ReadFile(k, "/f"), Is.EqualTo("abcd"), "O_APPEND");
    }

    [Test]
    public void ChmodAndLinkUpdateCtimeNotMtime()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "abc");
        RumpStat t0 = StatOk(k, "/f");
        Tick();
        Assert.That(k.Chmod("/f", 0x180), Is.EqualTo(0));
        RumpStat t1 = StatOk(k, "/f");
        Assert.That(Ns(t1.st_ctim), Is.GreaterThan(Ns(t0.st_ctim)), "ctime after chmod");
        Assert.That(Ns(t1.st_mtim), Is.EqualTo(Ns(t0.st_mtim)), "mtime after chmod");
        Assert.That(t1.st_mode & 0xfff, Is.EqualTo(0x180));
        Tick();
        Assert.That(k.Link("/f", "/g"), Is.EqualTo(0));
        RumpStat t2 = StatOk(k, "/f");
        Assert.That(Ns(t2.st_ctim), Is.GreaterThan(Ns(t1.st_ctim)), "ctime after link");
        Assert.That(Ns(t2.st_mtim), Is.EqualTo(Ns(t0.st_mtim)), "mtime after link");
    }

    [Test]
    public void CreateAndRemoveUpdateTheParentDirectoryTimes()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", Dir0755), Is.EqualTo(0));
        RumpStat t0 = StatOk(k, "/d");
        Tick();
        WriteFile(k, "/d/f", "x");
        RumpStat t1 = StatOk(k, "/d");
        Assert.That(Ns(t1.st_mtim), Is.GreaterThan(Ns(t0.st_mtim)), "parent mtime after create");
        Assert.That(Ns(t1.st_ctim), Is.GreaterThan(Ns(t0.st_ctim)), "parent ctime after create");
        Tick();
        Assert.That(k.Unlink("/d/f"), Is.EqualTo(0));
        RumpStat t2 = StatOk(k, "/d");
        Assert.That(Ns(t2.st_mtim), Is.GreaterThan(Ns(t1.st_mtim)), "parent mtime after remove");
        Tick();
        Assert.That(k.Mkdir("/d/sub", Dir0755), Is.EqualTo(0));
        RumpStat t3 = StatOk(k, "/d");
        Assert.That(Ns(t3.st_mtim), Is.GreaterThan(Ns(t2.st_mtim)), "parent mtime after mkdir");
        Tick();
        Assert.That(k.Rmdir("/d/sub"), Is.EqualTo(0));
        Assert.That(Ns(StatOk(k, "/d").st_mtim), Is.GreaterThan(Ns(t3.st_mtim)), "parent mtime after rmdir");
    }

    [Test]
    public void RenameOverAnExistingFileReplacesIt()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/a", "from a");
        WriteFile(k, "/b", "old b");
        Assert.That(k.Link("/b", "/b2"), Is.EqualTo(0));
        ulong a = Ino(k, "/a");
        Assert.That(k.Rename("/a", "/b"), Is.EqualTo(0));
        Assert.That(k.Stat("/a", out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(Ino(k, "/b"), Is.EqualTo(a));
        Assert.That(ReadFile(k, "/b"), Is.EqualTo("from a"));
        Assert.That(StatOk(k, "/b2").st_nlink, Is.EqualTo(1), "the replaced file lost one name");
        Assert.That(ReadFile(k, "/b2"), Is.EqualTo("old b"));
        Assert.That(k.Rename("/b", "/b"), Is.EqualTo(0), "rename onto itself");
        Assert.That(k.Rename("/nothere", "/x"), Is.EqualTo(-Abi.ENOENT));
    }

    [Test]
    public void RenameDirectoryInPlaceAndIntoAnotherDirectory()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/a", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/b", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/a/d", Dir0755), Is.EqualTo(0));
        WriteFile(k, "/a/d/f", "in d");
        ulong d = Ino(k, "/a/d");
        Assert.That(k.Rename("/a/d", "/a/e"), Is.EqualTo(0));
        Assert.That(Ino(k, "/a/e"), Is.EqualTo(d));
        Assert.That(ReadFile(k, "/a/e/f"), Is.EqualTo("in d"));
        Assert.That(StatOk(k, "/a").st_nlink, Is.EqualTo(3), "a rename within /a keeps its link count");

        Assert.That(k.Rename("/a/e", "/b/e"), Is.EqualTo(0));
        Assert.That(Ino(k, "/b/e"), Is.EqualTo(d));
        Assert.That(Ino(k, "/b/e/.."), Is.EqualTo(Ino(k, "/b")), "the moved directory's \"..\" names its new parent");
        Assert.That(StatOk(k, "/a").st_nlink, Is.EqualTo(2), "old parent lost the \"..\" link");
        Assert.That(StatOk(k, "/b").st_nlink, Is.EqualTo(3), "new parent gained the \"..\" link");
        Assert.That(k.Chdir("/b/e"), Is.EqualTo(0));
        Assert.That(k.Getcwd(out int err), Is.EqualTo("/b/e"), "getcwd in the moved directory (errno " + err + ")");
        Assert.That(ListDir(k, "/b/e").Single(x => x.name == "..").ino, Is.EqualTo(Ino(k, "/b")), "getdents' \"..\" after the move");
    }

    [Test]
    public void RenameDirectoryOverEmptyDirectoryReplacesIt()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/a", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/b", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/a/d", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/b/empty", Dir0755), Is.EqualTo(0));
        ulong d = Ino(k, "/a/d");
        Assert.That(k.Rename("/a/d", "/b/empty"), Is.EqualTo(0));
        Assert.That(Ino(k, "/b/empty"), Is.EqualTo(d));
        Assert.That(StatOk(k, "/a").st_nlink, Is.EqualTo(2));
        Assert.That(StatOk(k, "/b").st_nlink, Is.EqualTo(3), "one subdirectory replaced by another");
    }

    [Test]
    public void RenameErrors()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/a", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/a/sub", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/full", Dir0755), Is.EqualTo(0));
        WriteFile(k, "/full/x", "x");
        WriteFile(k, "/file", "f");
        Assert.That(k.Rename("/a", "/full"), Is.EqualTo(-Abi.ENOTEMPTY), "directory over a non-empty directory");
        Assert.That(k.Rename("/a", "/a/sub/a"), Is.EqualTo(-Abi.EINVAL), "directory into its own subdirectory");
        Assert.That(k.Rename("/a", "/a/b"), Is.EqualTo(-Abi.EINVAL), "directory into itself");
        Assert.That(k.Rename("/file", "/a"), Is.EqualTo(-Abi.EISDIR), "file over a directory");
        Assert.That(k.Rename("/a", "/file"), Is.EqualTo(-Abi.ENOTDIR), "directory over a file");
        Assert.That(k.Rename("/file", "/file2/"), Is.EqualTo(-Abi.ENOTDIR), "file to a name with a trailing slash");
        // Nothing moved.
        Assert.That(k.Stat("/a/sub", out _), Is.EqualTo(0));
        Assert.That(k.Stat("/full/x", out _), Is.EqualTo(0));
        Assert.That(ReadFile(k, "/file"), Is.EqualTo("f"));
    }

    [Test]
    public void RenameAcrossFileSystemsIsExdev()
    {
        RumpKernel k = BootWithMnt();
        WriteFile(k, "/f", "x");
        Assert.That(k.Rename("/f", "/mnt/f"), Is.EqualTo(-Abi.EXDEV));
        Assert.That(k.Link("/f", "/mnt/f"), Is.EqualTo(-Abi.EXDEV));
    }

    [Test]
    public void RenameOverAnOpenFileKeepsItsDataForTheOpener()
    {
        RumpKernel k = BootWithMnt(nodesMax: 100);
        WriteFile(k, "/mnt/a", "new contents");
        WriteFile(k, "/mnt/b", new string('o', 8192));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs before), Is.EqualTo(0));
        int fd = k.Open("/mnt/b", Abi.O_RDONLY);
        Assert.That(k.Rename("/mnt/a", "/mnt/b"), Is.EqualTo(0));
        Assert.That(ReadFile(k, "/mnt/b"), Is.EqualTo("new contents"));
        var buf = new byte[8192];
        Assert.That(k.Read(fd, buf), Is.EqualTo(8192), "the replaced file read through a descriptor opened before the rename");
        Assert.That(buf.AsSpan().IndexOfAnyExcept((byte)'o'), Is.EqualTo(-1));
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_nlink, Is.EqualTo(0));
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs after), Is.EqualTo(0));
        Assert.That(after.f_bfree, Is.EqualTo(before.f_bfree + 2), "the replaced file's two pages are freed at its last close");
        Assert.That(after.f_ffree, Is.EqualTo(before.f_ffree + 1), "and its node");
    }

    [Test]
    public void RenameOverAnUnopenedFileFreesItAtOnce()
    {
        RumpKernel k = BootWithMnt(nodesMax: 100);
        WriteFile(k, "/mnt/a", "a");
        WriteFile(k, "/mnt/b", new string('o', 8192));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs before), Is.EqualTo(0));
        Assert.That(k.Rename("/mnt/a", "/mnt/b"), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs after), Is.EqualTo(0));
        Assert.That(after.f_bfree, Is.EqualTo(before.f_bfree + 2), "free blocks after renaming over an unopened 8 KiB file");
        Assert.That(after.f_ffree, Is.EqualTo(before.f_ffree + 1), "free nodes after renaming over an unopened file");
    }

    [Test]
    public void TruncateReturnsPagesToKernelMemory()
    {
        RumpKernel k = Boot();
        long base0 = k.Kernel.Kmem.BufferBytes;
        int fd = k.Open("/f", Abi.O_RDWR | Abi.O_CREAT, File0644);
        var page = new byte[4096];
        page.AsSpan().Fill(9);
        Assert.That(k.Pwrite(fd, page, 0), Is.EqualTo(4096));
        Assert.That(k.Pwrite(fd, page, 3L << 30), Is.EqualTo(4096), "a page far out (past the direct page table)");
        Assert.That(k.Pwrite(fd, page, 1L << 20), Is.EqualTo(4096));
        Assert.That(k.Kernel.Kmem.BufferBytes - base0, Is.EqualTo(3 * 4096), "kernel memory for three written pages");
        Assert.That(k.Ftruncate(fd, 8192), Is.EqualTo(0));
        Assert.That(k.Kernel.Kmem.BufferBytes - base0, Is.EqualTo(4096), "after truncating to 8 KiB only the first page remains");
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(8192));
        Assert.That(k.Ftruncate(fd, 3L << 30), Is.EqualTo(0));
        var back = new byte[4096];
        Assert.That(k.Pread(fd, back, 1L << 20), Is.EqualTo(4096));
        Assert.That(back.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "a page cut off and grown back reads as zeros");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Unlink("/f"), Is.EqualTo(0));
        Assert.That(k.Kernel.Kmem.BufferBytes, Is.EqualTo(base0), "kernel memory after the file is gone");
    }

    [Test]
    public void OTruncEmptiesAFile()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "something long");
        RumpStat before = StatOk(k, "/f");
        Tick();
        int fd = k.Open("/f", Abi.O_WRONLY | Abi.O_TRUNC);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        k.Close(fd);
        RumpStat after = StatOk(k, "/f");
        Assert.That(after.st_size, Is.EqualTo(0));
        Assert.That(Ns(after.st_mtim), Is.GreaterThan(Ns(before.st_mtim)), "mtime after O_TRUNC");
    }

    [Test]
    public void SizeLimitFromMountArgumentsGivesEnospc()
    {
        RumpKernel k = BootWithMnt(64 * 1024);
        int fd = k.Open("/mnt/big", Abi.O_RDWR | Abi.O_CREAT, File0644);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        var chunk = new byte[128 * 1024];
        chunk.AsSpan().Fill(1);
        long first = k.Write(fd, chunk);
        Assert.That(first, Is.InRange(1, 64 * 1024), "a 128 KiB write on a 64 KiB tmpfs is short");
        Assert.That(k.Write(fd, chunk.AsSpan(0, 4096)), Is.EqualTo(-Abi.ENOSPC), "writing on a full tmpfs");
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(first), "file size after the short write");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Unlink("/mnt/big"), Is.EqualTo(0));
        WriteFile(k, "/mnt/again", new string('y', 32 * 1024));
        Assert.That(StatOk(k, "/mnt/again").st_size, Is.EqualTo(32 * 1024), "space is back after the unlink");
    }

    [Test]
    public void NodeLimitFromMountArgumentsGivesEnospc()
    {
        RumpKernel k = BootWithMnt(nodesMax: 4);
        Assert.That(k.Mkdir("/mnt/1", Dir0755), Is.EqualTo(0));
        WriteFile(k, "/mnt/2", "");
        Assert.That(k.Symlink("x", "/mnt/3"), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/4", Dir0755), Is.EqualTo(-Abi.ENOSPC), "a 5th node (the root counts) on ta_nodes_max = 4");
        Assert.That(k.Open("/mnt/4", Abi.O_CREAT | Abi.O_WRONLY, File0644), Is.EqualTo(-Abi.ENOSPC));
        Assert.That(k.Link("/mnt/2", "/mnt/hard"), Is.EqualTo(0), "a hard link needs no node");
    }

    [Test]
    public void UnlinkedButOpenFileKeepsItsDataUntilClosed()
    {
        RumpKernel k = BootWithMnt(64 * 1024, nodesMax: 100);
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs empty), Is.EqualTo(0));
        int fd = k.Open("/mnt/f", Abi.O_RDWR | Abi.O_CREAT, File0644);
        var data = new byte[16384];
        data.AsSpan().Fill(0x5a);
        Assert.That(k.Write(fd, data), Is.EqualTo(data.Length));
        Assert.That(k.Unlink("/mnt/f"), Is.EqualTo(0));
        Assert.That(k.Stat("/mnt/f", out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_nlink, Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(data.Length));
        var back = new byte[data.Length];
        Assert.That(k.Pread(fd, back, 0), Is.EqualTo(data.Length));
        Assert.That(back, Is.EqualTo(data), "data of the unlinked file read through the open descriptor");
        Assert.That(k.Pwrite(fd, "more"u8, data.Length), Is.EqualTo(4), "an unlinked file is still writable");
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs held), Is.EqualTo(0));
        Assert.That(held.f_bfree, Is.LessThan(empty.f_bfree), "the open unlinked file still holds its pages");
        Assert.That(held.f_ffree, Is.EqualTo(empty.f_ffree - 1), "the open unlinked file still holds its node");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs after), Is.EqualTo(0));
        Assert.That(after.f_bfree, Is.EqualTo(empty.f_bfree), "free blocks after the last close");
        Assert.That(after.f_ffree, Is.EqualTo(empty.f_ffree), "free nodes after the last close");
    }

    [Test]
    public void GetdentsOfTenThousandEntriesReturnsEachOnce()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/big", Dir0755), Is.EqualTo(0));
        const int N = 10000;
        for (int i = 0; i < N; i++)
        {
            int fd = k.Open("/big/f" + i, Abi.O_WRONLY | Abi.O_CREAT | Abi.O_EXCL, File0644);
            Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create /big/f" + i);
            k.Close(fd);
        }
        var names = ListDir(k, "/big").Select(e => e.name).ToList();
        var dups = names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key).Take(5).ToList();
        Assert.That(dups, Is.Empty, "names returned more than once");
        Assert.That(names.Count, Is.EqualTo(N + 2), "entries returned (with . and ..)");
        var expected = new HashSet<string>(Enumerable.Range(0, N).Select(i => "f" + i)) { ".", ".." };
        Assert.That(expected.SetEquals(names), Is.True, "every created name is returned");
        Assert.That(StatOk(k, "/big").st_size, Is.GreaterThan(0));
    }

    [Test]
    public void GetdentsBufferTooSmallForOneEntryIsEinvalAndRewindWorks()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", Dir0755), Is.EqualTo(0));
        for (int i = 0; i < 20; i++) WriteFile(k, "/d/entry" + i, "");
        int fd = k.Open("/d", Abi.O_RDONLY | Abi.O_DIRECTORY);
        var got = new List<(string name, ulong ino, byte type)>();
        Assert.That(Getdents(k, fd, 8, got), Is.EqualTo(-Abi.EINVAL), "getdents with an 8-byte buffer");
        long n;
        while ((n = Getdents(k, fd, 100, got)) > 0) { }
        Assert.That(n, Is.EqualTo(0));
        Assert.That(got, Has.Count.EqualTo(22), "entries read 100 bytes at a time");
        Assert.That(got.Single(e => e.name == "entry7").type, Is.EqualTo((byte)Abi.DT_REG));
        Assert.That(got.Single(e => e.name == ".").type, Is.EqualTo((byte)Abi.DT_DIR));
        Assert.That(k.Lseek(fd, 0, Abi.SEEK_SET), Is.EqualTo(0));
        var again = new List<(string name, ulong ino, byte type)>();
        while (Getdents(k, fd, 4096, again) > 0) { }
        Assert.That(again.Select(e => e.name), Is.EquivalentTo(got.Select(e => e.name)), "after rewinding with lseek");
        k.Close(fd);
    }

    [Test]
    public void DirectoryModifiedDuringIterationNeverRepeatsAnEntry()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", Dir0755), Is.EqualTo(0));
        const int N = 400;
        for (int i = 0; i < N; i++) WriteFile(k, "/d/n" + i, "");
        int fd = k.Open("/d", Abi.O_RDONLY | Abi.O_DIRECTORY);
        var seen = new List<(string name, ulong ino, byte type)>();
        Assert.That(Getdents(k, fd, 1024, seen), Is.GreaterThan(0));
        Assert.That(seen.Count, Is.LessThan(N / 2), "the first small getdents returns only part of the directory");

        // Remove most entries (seen and unseen: enough to make the directory compact itself), add new ones.
        var removed = new HashSet<string>();
        for (int i = 0; i < N; i += 4)
            for (int j = i; j < i + 3 && j < N; j++)
            {
                Assert.That(k.Unlink("/d/n" + j), Is.EqualTo(0));
                removed.Add("n" + j);
            }
        for (int i = 0; i < 50; i++) WriteFile(k, "/d/new" + i, "");
        // Re-create a few removed names: they are new entries, which may appear once.
        for (int j = 0; j < 6; j++) if (removed.Remove("n" + j)) WriteFile(k, "/d/n" + j, "");

        long r;
        int calls = 0;
        var lateRemoved = new HashSet<string>();
        while ((r = Getdents(k, fd, 1024, seen)) > 0)
        {
            if (++calls % 3 != 0) continue;
            WriteFile(k, "/d/late" + calls, "");
            string victim = "n" + (calls * 4 + 3);
            if (k.Unlink("/d/" + victim) == 0) lateRemoved.Add(victim);
        }
        Assert.That(r, Is.EqualTo(0), "getdents error");
        k.Close(fd);

        // A re-created name is a new file and may be returned again; the same file under the same name may not.
        var dups = seen.GroupBy(e => (e.name, e.ino)).Where(g => g.Count() > 1).Select(g => g.Key.name + " (ino " + g.Key.ino + ") x" + g.Count()).Take(5).ToList();
        Assert.That(dups, Is.Empty, "entries returned twice by one directory iteration");
        var names = new HashSet<string>(seen.Select(e => e.name));
        // Names present for the whole iteration (n3, n7, ... unless removed late) must each be returned.
        for (int i = 3; i < N; i += 4)
            if (!lateRemoved.Contains("n" + i))
                Assert.That(names, Does.Contain("n" + i), "an entry that was never removed");
        Assert.That(names, Does.Contain(".").And.Contain(".."));
    }

    /// <summary>Runs the bodies on host threads (implicit lwps of the default process); all must finish in time.</summary>
    private static void Concurrently(params Action[] bodies)
    {
        var errors = new Exception?[bodies.Length];
        var ts = bodies.Select((b, i) => new Thread(() => { try { b(); } catch (Exception e) { errors[i] = e; } }) { IsBackground = true }).ToArray();
        foreach (Thread t in ts) t.Start();
        for (int i = 0; i < ts.Length; i++) Assert.That(ts[i].Join(TimeSpan.FromSeconds(30)), Is.True, "thread " + i + " did not finish: deadlock?");
        for (int i = 0; i < ts.Length; i++) Assert.That(errors[i], Is.Null, "thread " + i + " failed");
    }

    [Test]
    public void ConcurrentNamespaceChangesLeaveAConsistentDirectory()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(k.Mkdir("/d", Dir0755), Is.EqualTo(0));
        long mem0 = k.Kernel.Kmem.BufferBytes;
        const int Threads = 4, Iter = 150;
        Action Worker(int id) => () =>
        {
            for (int i = 0; i < Iter; i++)
            {
                string t = "/d/t" + id + "_" + i, r = "/d/r" + id + "_" + i, h = "/d/h" + id + "_" + i;
                int fd = k.Open(t, Abi.O_RDWR | Abi.O_CREAT | Abi.O_EXCL, File0644);
                if (fd < 0) throw new Exception("create " + t + ": " + fd);
                if (k.Write(fd, new byte[100]) != 100) throw new Exception("write " + t);
                k.Close(fd);
                Check(k.Rename(t, r), "rename " + t);
                Check(k.Link(r, h), "link " + r);
                if (i % 2 == 0) Check(k.Unlink(r), "unlink " + r);
                if (i % 3 == 0) { Check(k.Mkdir("/d/dir" + id + "_" + i, Dir0755), "mkdir"); }
                if (i % 6 == 0) { Check(k.Rmdir("/d/dir" + id + "_" + i), "rmdir"); }
            }
        };
        Action lister = () =>
        {
            for (int i = 0; i < 30; i++)
            {
                var seen = new HashSet<string>();
                foreach (var e in ListDir(k, "/d", 2048))
                    if (!seen.Add(e.name)) throw new Exception("listing " + i + " returned " + e.name + " twice");
            }
        };
        Concurrently(Worker(0), Worker(1), Worker(2), Worker(3), lister);

        var names = ListDir(k, "/d").Select(e => e.name).ToList();
        var expected = new HashSet<string> { ".", ".." };
        for (int id = 0; id < Threads; id++)
            for (int i = 0; i < Iter; i++)
            {
                expected.Add("h" + id + "_" + i);
                if (i % 2 != 0) expected.Add("r" + id + "_" + i);
                if (i % 3 == 0 && i % 6 != 0) expected.Add("dir" + id + "_" + i);
            }
        Assert.That(names, Is.Unique);
        Assert.That(new HashSet<string>(names).SetEquals(expected), Is.True,
            "final listing differs: missing " + string.Join(",", expected.Except(names).Take(5)) + "; unexpected " + string.Join(",", names.Except(expected).Take(5)));
        int subdirs = expected.Count(n => n.StartsWith("dir", StringComparison.Ordinal));
        Assert.That(StatOk(k, "/d").st_nlink, Is.EqualTo(2 + subdirs), "directory link count after concurrent mkdir/rmdir");
        Assert.That(StatOk(k, "/d/h1_1").st_nlink, Is.EqualTo(2), "h1_1 and r1_1 both remain");
        Assert.That(StatOk(k, "/d/h1_2").st_nlink, Is.EqualTo(1), "r1_2 was unlinked");
        long files = Threads * Iter;
        Assert.That(k.Kernel.Kmem.BufferBytes - mem0, Is.EqualTo(files * TmpfsPage), "kernel memory: one page per surviving file");
    }

    private const int TmpfsPage = 4096;

    private static void Check(int r, string what)
    {
        if (r != 0) throw new Exception(what + " returned " + r);
    }

    [Test]
    public void ConcurrentAppendsNeverInterleaveOrVanish()
    {
        RumpKernel k = Boot(ncpu: 2);
        WriteFile(k, "/log", "");
        const int Threads = 4, Records = 500, Len = 16;
        Action Appender(int id) => () =>
        {
            int fd = k.Open("/log", Abi.O_WRONLY | Abi.O_APPEND);
            if (fd < 0) throw new Exception("open: " + fd);
            byte[] rec = Encoding.ASCII.GetBytes(("<" + id + new string((char)('a' + id), Len)).Substring(0, Len - 1) + ">");
            for (int i = 0; i < Records; i++)
                if (k.Write(fd, rec) != Len) throw new Exception("short append");
            k.Close(fd);
        };
        Concurrently(Appender(0), Appender(1), Appender(2), Appender(3));
        RumpStat st = StatOk(k, "/log");
        Assert.That(st.st_size, Is.EqualTo((long)Threads * Records * Len), "size after concurrent O_APPEND writes");
        int fd = k.Open("/log", Abi.O_RDONLY);
        var all = new byte[st.st_size];
        Assert.That(k.Read(fd, all), Is.EqualTo(all.Length));
        k.Close(fd);
        var counts = new int[Threads];
        for (int off = 0; off < all.Length; off += Len)
        {
            string rec = Encoding.ASCII.GetString(all, off, Len);
            Assert.That(rec[0] == '<' && rec[Len - 1] == '>' && rec[1] >= '0' && rec[1] < '0' + Threads, Is.True, "record at " + off + " is torn: " + rec);
            int id = rec[1] - '0';
            Assert.That(rec.Substring(2, Len - 3), Is.EqualTo(new string((char)('a' + id), Len - 3)), "record at " + off);
            counts[id]++;
        }
        Assert.That(counts, Is.All.EqualTo(Records), "records per appender");
    }

    [Test]
    public void StatvfsNumbers()
    {
        RumpKernel k = BootWithMnt(64 * 1024, nodesMax: 10);
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(sv.f_bsize, Is.EqualTo(4096));
        Assert.That(sv.f_frsize, Is.EqualTo(4096));
        Assert.That(sv.f_blocks, Is.EqualTo(16), "64 KiB in 4 KiB blocks");
        // The root node's memory counts against the size, as in NetBSD: less than a whole block is left of the 16th.
        Assert.That(sv.f_bfree, Is.EqualTo(15));
        Assert.That(sv.f_bavail, Is.EqualTo(15));
        Assert.That(sv.f_files, Is.EqualTo(10));
        Assert.That(sv.f_ffree, Is.EqualTo(9), "the root takes a node");
        Assert.That(sv.f_namemax, Is.EqualTo(Abi.NAME_MAX));
        Assert.That(sv.f_flag & Abi.ST_LOCAL, Is.Not.EqualTo(0), "ST_LOCAL");
        Assert.That(CString(sv, "fstypename"), Is.EqualTo("tmpfs"));
        Assert.That(CString(sv, "mntonname"), Is.EqualTo("/mnt"));

        WriteFile(k, "/mnt/f", new string('z', 8192 + 1));
        Assert.That(k.Statvfs("/mnt/f", out RumpStatvfs sv2), Is.EqualTo(0), "statvfs of a file names its file system");
        Assert.That(sv2.f_bfree, Is.EqualTo(12), "three pages used by 8193 bytes, and a node and an entry more");
        Assert.That(sv2.f_ffree, Is.EqualTo(8));
        Assert.That(sv2.f_fsid, Is.EqualTo(sv.f_fsid));

        Assert.That(k.Statvfs("/", out RumpStatvfs root), Is.EqualTo(0));
        Assert.That(root.f_fsid, Is.Not.EqualTo(sv.f_fsid), "root and /mnt have different fsids");
        Assert.That(CString(root, "mntonname"), Is.EqualTo("/"));
    }

    private static unsafe string CString(RumpStatvfs sv, string field)
    {
        byte* p = field switch
        {
            "fstypename" => sv.f_fstypename,
            "mntonname" => sv.f_mntonname,
            _ => throw new ArgumentException(field),
        };
        return new string((sbyte*)p);
    }
}
