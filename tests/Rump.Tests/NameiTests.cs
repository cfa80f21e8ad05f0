using System.Text;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Path name lookup: path forms, symbolic links, the limits (MAXSYMLINKS, NAME_MAX, PATH_MAX), the
/// errors for non-directories, ".." at the root and across a mount point, and the name cache.
/// </summary>
public class NameiTests : KernelTest
{
    private static readonly RumpTmpfsArgs SmallTmpfs = new()
    {
        ta_version = Abi.TMPFS_ARGS_VERSION, ta_size_max = 64 * 1024, ta_root_mode = 0x1ed,
    };

    /// <summary>/d (dir), /d/f (file "data"), /d/sub (dir).</summary>
    private RumpKernel BootWithTree()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/d/sub", 0x1ed), Is.EqualTo(0));
        WriteFile(k, "/d/f", "data");
        return k;
    }

    [Test]
    public void AbsoluteAndRelativePathsNameTheSameFile()
    {
        RumpKernel k = BootWithTree();
        ulong f = Ino(k, "/d/f");
        Assert.That(k.Chdir("/d"), Is.EqualTo(0));
        Assert.That(Ino(k, "f"), Is.EqualTo(f), "relative f from /d");
        Assert.That(Ino(k, "./f"), Is.EqualTo(f));
        Assert.That(Ino(k, "sub/../f"), Is.EqualTo(f));
        Assert.That(Ino(k, "../d/f"), Is.EqualTo(f));
        Assert.That(k.Chdir("sub"), Is.EqualTo(0));
        Assert.That(k.Getcwd(out int e), Is.EqualTo("/d/sub"), "getcwd after chdir(sub) from /d (errno " + e + ")");
        Assert.That(Ino(k, "../f"), Is.EqualTo(f));
    }

    [Test]
    public void DotDotDotAndRepeatedSlashes()
    {
        RumpKernel k = BootWithTree();
        ulong f = Ino(k, "/d/f"), d = Ino(k, "/d");
        Assert.That(Ino(k, "//d///f"), Is.EqualTo(f));
        Assert.That(Ino(k, "/./d/./f"), Is.EqualTo(f));
        Assert.That(Ino(k, "/d/."), Is.EqualTo(d));
        Assert.That(Ino(k, "/d/"), Is.EqualTo(d));
        Assert.That(Ino(k, "/d//"), Is.EqualTo(d));
        Assert.That(Ino(k, "/d/sub/.."), Is.EqualTo(d));
        Assert.That(Ino(k, "/d/sub/../sub/../f"), Is.EqualTo(f));
        Assert.That(k.Stat("", out _), Is.EqualTo(-Abi.ENOENT), "stat(\"\")");
    }

    [Test]
    public void DotDotAtTheRootStaysAtTheRoot()
    {
        RumpKernel k = BootWithTree();
        ulong root = Ino(k, "/");
        Assert.That(Ino(k, "/.."), Is.EqualTo(root));
        Assert.That(Ino(k, "/../../.."), Is.EqualTo(root));
        Assert.That(Ino(k, "/../d/f"), Is.EqualTo(Ino(k, "/d/f")));
        Assert.That(k.Chdir("/"), Is.EqualTo(0));
        Assert.That(Ino(k, ".."), Is.EqualTo(root), "relative .. from the root");
    }

    [Test]
    public void SymlinksWithRelativeAndAbsoluteTargets()
    {
        RumpKernel k = BootWithTree();
        ulong f = Ino(k, "/d/f");
        Assert.That(k.Symlink("f", "/d/rel"), Is.EqualTo(0));
        Assert.That(k.Symlink("/d/f", "/abs"), Is.EqualTo(0));
        Assert.That(Ino(k, "/d/rel"), Is.EqualTo(f), "relative target resolved from the link's directory");
        Assert.That(Ino(k, "/abs"), Is.EqualTo(f));
        Assert.That(k.Lstat("/d/rel", out RumpStat l), Is.EqualTo(0));
        Assert.That(l.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFLNK), "lstat does not follow the last component");
        Assert.That(k.Readlink("/d/rel", out _), Is.EqualTo("f"));
        Assert.That(ReadFile(k, "/abs"), Is.EqualTo("data"));
        Assert.That(k.Chdir("/d/sub"), Is.EqualTo(0));
        Assert.That(Ino(k, "../rel"), Is.EqualTo(f), "a relative link reached by a relative path");
    }

    [Test]
    public void SymlinksInTheMiddleOfAPath()
    {
        RumpKernel k = BootWithTree();
        ulong f = Ino(k, "/d/f");
        Assert.That(k.Symlink("/d", "/absdir"), Is.EqualTo(0));
        Assert.That(k.Mkdir("/x", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/x/y", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Symlink("../../d", "/x/y/up"), Is.EqualTo(0));
        Assert.That(Ino(k, "/absdir/f"), Is.EqualTo(f));
        Assert.That(Ino(k, "/x/y/up/f"), Is.EqualTo(f));
        Assert.That(Ino(k, "/x/y/up/sub/../f"), Is.EqualTo(f));
        Assert.That(Ino(k, "/absdir/"), Is.EqualTo(Ino(k, "/d")), "a link to a directory with a trailing slash");
        // ".." after a link is the parent of the link's target (physical, as NetBSD), not of the link.
        Assert.That(k.Symlink("/d/sub", "/tosub"), Is.EqualTo(0));
        Assert.That(Ino(k, "/tosub/.."), Is.EqualTo(Ino(k, "/d")));
        // Links to links.
        Assert.That(k.Symlink("absdir", "/again"), Is.EqualTo(0));
        Assert.That(Ino(k, "/again/f"), Is.EqualTo(f));
    }

    [Test]
    public void SymlinkCycleIsEloop()
    {
        RumpKernel k = Boot();
        Assert.That(k.Symlink("/b", "/a"), Is.EqualTo(0));
        Assert.That(k.Symlink("/a", "/b"), Is.EqualTo(0));
        Assert.That(k.Symlink("self", "/self"), Is.EqualTo(0));
        Assert.That(k.Stat("/a", out _), Is.EqualTo(-Abi.ELOOP));
        Assert.That(k.Stat("/self", out _), Is.EqualTo(-Abi.ELOOP));
        Assert.That(k.Stat("/a/x", out _), Is.EqualTo(-Abi.ELOOP), "a cycle in the middle of a path");
        Assert.That(k.Open("/a", Abi.O_RDONLY), Is.EqualTo(-Abi.ELOOP));
        Assert.That(k.Lstat("/a", out _), Is.EqualTo(0), "lstat of the link itself");
    }

    [Test]
    public void ChainOf32LinksResolvesAnd33IsEloop()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/target", "t");
        // /l33 -> /l32 -> ... -> /l1 -> /target: following /lN takes N expansions.
        Assert.That(k.Symlink("/target", "/l1"), Is.EqualTo(0));
        for (int i = 2; i <= 33; i++) Assert.That(k.Symlink("/l" + (i - 1), "/l" + i), Is.EqualTo(0));
        Assert.That(k.Stat("/l32", out _), Is.EqualTo(0), "32 links (MAXSYMLINKS) must resolve");
        Assert.That(k.Stat("/l33", out _), Is.EqualTo(-Abi.ELOOP), "33 links exceed MAXSYMLINKS");
    }

    [Test]
    public void ComponentOf512BytesIsEnametoolong()
    {
        RumpKernel k = Boot();
        string n511 = new string('a', Abi.NAME_MAX), n512 = new string('b', Abi.NAME_MAX + 1);
        Assert.That(k.Stat("/" + n512, out _), Is.EqualTo(-Abi.ENAMETOOLONG));
        Assert.That(k.Open("/" + n512, Abi.O_CREAT | Abi.O_WRONLY, 0x1a4), Is.EqualTo(-Abi.ENAMETOOLONG));
        Assert.That(k.Mkdir("/" + n512, 0x1ed), Is.EqualTo(-Abi.ENAMETOOLONG));
        Assert.That(k.Stat("/" + n511, out _), Is.EqualTo(-Abi.ENOENT), "a 511-byte name is legal");
        int fd = k.Open("/" + n511, Abi.O_CREAT | Abi.O_WRONLY, 0x1a4);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create a NAME_MAX-byte name");
        k.Close(fd);
        Assert.That(ListDir(k, "/").Exists(e => e.name == n511), Is.True, "getdents returns the 511-byte name");
    }

    [Test]
    public void PathOf1024BytesIsEnametoolong()
    {
        RumpKernel k = Boot();
        // "/" + "./" * n + "x": PATH_MAX (1024) counts the NUL, so 1023 bytes is the longest path.
        string p1023 = "/" + new StringBuilder().Insert(0, "./", 510).ToString() + "xx";
        string p1024 = "/" + new StringBuilder().Insert(0, "./", 511).ToString() + "x";
        Assert.That(Encoding.UTF8.GetByteCount(p1023), Is.EqualTo(1023));
        Assert.That(Encoding.UTF8.GetByteCount(p1024), Is.EqualTo(1024));
        Assert.That(k.Stat(p1023, out _), Is.EqualTo(-Abi.ENOENT), "a 1023-byte path is looked up");
        Assert.That(k.Stat(p1024, out _), Is.EqualTo(-Abi.ENAMETOOLONG));
        Assert.That(k.Stat(p1024 + new string('/', 100), out _), Is.EqualTo(-Abi.ENAMETOOLONG));
    }

    [Test]
    public void SymlinkExpansionPastPathMaxIsEnametoolong()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/d", 0x1ed), Is.EqualTo(0));
        // A 900-byte target that resolves ("/d/././..."), then 200 more bytes of path after the link.
        string target = "/d" + new StringBuilder().Insert(0, "/.", 449).ToString();
        Assert.That(target.Length, Is.EqualTo(900));
        Assert.That(k.Symlink(target, "/long"), Is.EqualTo(0));
        Assert.That(Ino(k, "/long"), Is.EqualTo(Ino(k, "/d")));
        string rest = new StringBuilder().Insert(0, "./", 100).ToString();
        Assert.That(k.Stat("/long/" + rest, out _), Is.EqualTo(-Abi.ENAMETOOLONG), "expansion to more than PATH_MAX bytes");
    }

    [Test]
    public void FileInTheMiddleOfAPathIsEnotdir()
    {
        RumpKernel k = BootWithTree();
        Assert.That(k.Stat("/d/f/x", out _), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Stat("/d/f/..", out _), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Open("/d/f/x", Abi.O_CREAT | Abi.O_WRONLY, 0x1a4), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Mkdir("/d/f/x", 0x1ed), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Chdir("/d/f"), Is.EqualTo(-Abi.ENOTDIR));
    }

    [Test]
    public void TrailingSlashOnAFileIsEnotdir()
    {
        RumpKernel k = BootWithTree();
        Assert.That(k.Stat("/d/f/", out _), Is.EqualTo(-Abi.ENOTDIR), "stat(\"/d/f/\")");
        Assert.That(k.Lstat("/d/f/", out _), Is.EqualTo(-Abi.ENOTDIR), "lstat(\"/d/f/\")");
        Assert.That(k.Open("/d/f/", Abi.O_RDONLY), Is.EqualTo(-Abi.ENOTDIR), "open(\"/d/f/\", O_RDONLY)");
        Assert.That(k.Unlink("/d/f/"), Is.EqualTo(-Abi.ENOTDIR), "unlink(\"/d/f/\")");
        Assert.That(k.Stat("/d/f", out _), Is.EqualTo(0), "the file survives");
    }

    [Test]
    public void TrailingSlashOnAnExistingFileWithOCreatIsEnotdir()
    {
        RumpKernel k = BootWithTree();
        int fd = k.Open("/d/f/", Abi.O_CREAT | Abi.O_RDWR, 0x1a4);
        if (fd >= 0) k.Close(fd);
        Assert.That(fd, Is.EqualTo(-Abi.ENOTDIR), "open(\"/d/f/\", O_CREAT|O_RDWR) on a regular file");
    }

    [Test]
    public void TrailingSlashThroughASymlinkToAFileIsEnotdir()
    {
        RumpKernel k = BootWithTree();
        Assert.That(k.Symlink("/d/f", "/lf"), Is.EqualTo(0));
        Assert.That(k.Stat("/lf", out _), Is.EqualTo(0));
        Assert.That(k.Stat("/lf/", out _), Is.EqualTo(-Abi.ENOTDIR), "stat(\"/lf/\") where /lf -> /d/f (a regular file)");
    }

    [Test]
    public void TrailingSlashFollowsASymlinkToADirectory()
    {
        RumpKernel k = BootWithTree();
        Assert.That(k.Symlink("/d", "/ld"), Is.EqualTo(0));
        Assert.That(k.Lstat("/ld", out RumpStat l), Is.EqualTo(0));
        Assert.That(l.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFLNK));
        Assert.That(k.Lstat("/ld/", out RumpStat d), Is.EqualTo(0));
        Assert.That(d.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFDIR), "lstat(\"/ld/\"): the trailing slash makes the link be followed");
        Assert.That(d.st_ino, Is.EqualTo(Ino(k, "/d")));
    }

    [Test]
    public void RemovedCurrentDirectory()
    {
        RumpKernel k = BootWithTree();
        Assert.That(k.Chdir("/d/sub"), Is.EqualTo(0));
        Assert.That(k.Rmdir("/d/sub"), Is.EqualTo(0));
        Assert.That(k.Stat(".", out _), Is.EqualTo(0), "\".\" of a removed cwd still names it");
        Assert.That(k.Open("new", Abi.O_CREAT | Abi.O_WRONLY, 0x1a4), Is.EqualTo(-Abi.ENOENT), "create in a removed directory");
        Assert.That(k.Mkdir("newdir", 0x1ed), Is.EqualTo(-Abi.ENOENT), "mkdir in a removed directory");
        Assert.That(k.Stat("..", out _), Is.EqualTo(-Abi.ENOENT), "\"..\" of a removed directory");
        Assert.That(k.Getcwd(out int e), Is.Null, "getcwd in a removed directory");
        Assert.That(e, Is.EqualTo(Abi.ENOENT));
        Assert.That(k.Chdir("/"), Is.EqualTo(0));
    }

    [Test]
    public void DotDotCrossesOutOfAMountedTmpfs()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/a", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/a/mnt", 0x1ed), Is.EqualTo(0));
        WriteFile(k, "/a/marker", "m");
        ulong covered = Ino(k, "/a/mnt");
        Assert.That(k.Mount("tmpfs", "/a/mnt", 0, SmallTmpfs), Is.EqualTo(0));
        RumpStat mroot = StatOk(k, "/a/mnt");
        RumpStat parent = StatOk(k, "/a");
        Assert.That(mroot.st_dev, Is.Not.EqualTo(parent.st_dev), "the mounted root is on another file system");

        RumpStat up = StatOk(k, "/a/mnt/..");
        Assert.That((up.st_dev, up.st_ino), Is.EqualTo((parent.st_dev, parent.st_ino)), "/a/mnt/.. is /a");
        Assert.That(ReadFile(k, "/a/mnt/../marker"), Is.EqualTo("m"));
        Assert.That(k.Mkdir("/a/mnt/in", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Chdir("/a/mnt/in"), Is.EqualTo(0));
        Assert.That(ReadFile(k, "../../marker"), Is.EqualTo("m"), "relative .. out of the mount from a subdirectory");
        Assert.That(k.Getcwd(out int e), Is.EqualTo("/a/mnt/in"), "getcwd inside the mount (errno " + e + ")");
        Assert.That(k.Chdir("/"), Is.EqualTo(0));
        Assert.That(k.Unmount("/a/mnt"), Is.EqualTo(0));
        Assert.That(Ino(k, "/a/mnt"), Is.EqualTo(covered), "after unmount the covered directory is back");
    }

    private static Rump.Vfs.NameCache Cache(RumpKernel k) => k.Kernel.GetService<Rump.Vfs.Vfs>()!.Cache;

    [Test]
    public void NameCacheHitsGrowOnRepeatedLookups()
    {
        RumpKernel k = BootWithTree();
        Ino(k, "/d/sub");
        long h1 = Cache(k).Hits;
        Ino(k, "/d/sub");
        long h2 = Cache(k).Hits;
        Ino(k, "/d/sub");
        long h3 = Cache(k).Hits;
        Assert.That(h2 - h1, Is.GreaterThanOrEqualTo(2), "cache hits for a repeated lookup of /d/sub (two components)");
        Assert.That(h3 - h2, Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public void RemovedThenRecreatedNameIsFoundAgain()
    {
        RumpKernel k = BootWithTree();
        ulong old = Ino(k, "/d/f");
        Ino(k, "/d/f"); // cached now
        Assert.That(k.Unlink("/d/f"), Is.EqualTo(0));
        Assert.That(k.Stat("/d/f", out _), Is.EqualTo(-Abi.ENOENT), "stale positive entry after unlink");
        WriteFile(k, "/d/f", "new");
        Assert.That(Ino(k, "/d/f"), Is.Not.EqualTo(old), "the re-created file is a new node");
        Assert.That(ReadFile(k, "/d/f"), Is.EqualTo("new"));

        Ino(k, "/d/sub");
        Assert.That(k.Rmdir("/d/sub"), Is.EqualTo(0));
        Assert.That(k.Stat("/d/sub", out _), Is.EqualTo(-Abi.ENOENT), "stale entry after rmdir");
        Assert.That(k.Mkdir("/d/sub", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Stat("/d/sub/.", out _), Is.EqualTo(0));

        // rename moves the name: the old one must miss, the new one hit the moved file.
        ulong f = Ino(k, "/d/f");
        Assert.That(k.Rename("/d/f", "/d/g"), Is.EqualTo(0));
        Assert.That(k.Stat("/d/f", out _), Is.EqualTo(-Abi.ENOENT), "stale entry for a renamed-away name");
        Assert.That(Ino(k, "/d/g"), Is.EqualTo(f));
    }

    [Test]
    public void NegativeEntriesAreInvalidatedByCreation()
    {
        RumpKernel k = BootWithTree();
        string[] names = { "/d/file", "/d/dir", "/d/link", "/d/hard", "/d/moved" };
        foreach (string n in names)
        {
            Assert.That(k.Stat(n, out _), Is.EqualTo(-Abi.ENOENT));
            long h = Cache(k).Hits;
            Assert.That(k.Stat(n, out _), Is.EqualTo(-Abi.ENOENT));
            Assert.That(Cache(k).Hits, Is.GreaterThan(h), "second failed lookup of " + n + " is a (negative) cache hit");
        }
        WriteFile(k, "/d/file", "x");
        Assert.That(k.Mkdir("/d/dir", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Symlink("f", "/d/link"), Is.EqualTo(0));
        Assert.That(k.Link("/d/f", "/d/hard"), Is.EqualTo(0));
        Assert.That(k.Rename("/d/sub", "/d/moved"), Is.EqualTo(0));
        foreach (string n in names)
            Assert.That(k.Lstat(n, out _), Is.EqualTo(0), n + " after it was created over a negative cache entry");
    }

    [Test]
    public void CacheDoesNotSeeThroughMountsOrOutliveThem()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/m", 0x1ed), Is.EqualTo(0));
        WriteFile(k, "/m/below", "b");
        Ino(k, "/m/below");
        Ino(k, "/m/below");
        Assert.That(k.Mount("tmpfs", "/m", 0, SmallTmpfs), Is.EqualTo(0));
        Assert.That(k.Stat("/m/below", out _), Is.EqualTo(-Abi.ENOENT), "a name of the covered directory seen through the mount");
        WriteFile(k, "/m/above", "a");
        Ino(k, "/m/above");
        Assert.That(k.Unmount("/m"), Is.EqualTo(0));
        Assert.That(k.Stat("/m/above", out _), Is.EqualTo(-Abi.ENOENT), "a name of the unmounted file system after unmount");
        Assert.That(ReadFile(k, "/m/below"), Is.EqualTo("b"));
    }
}
