using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// msdosfs end to end: images made by mkfs.fat and filled by mtools are mounted and read; trees
/// written through the kernel are checked with fsck.fat and read back with mtools; hostile
/// images (mutated real ones) only ever produce errnos.
/// </summary>
public class MsdosfsTests : KernelTest
{
    private string _dir = null!;
    private const string Dev = "/dev/fat0";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-msdos-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void Cleanup() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    // ---- Tools ----------------------------------------------------------------------------------

    private sealed record ToolResult(int Exit, byte[] Stdout, string Stderr)
    {
        public string Text => Encoding.UTF8.GetString(Stdout);
    }

    private static ToolResult Run(string tool, params string[] args)
    {
        string? path = FindTool(tool);
        if (path == null) Oracle.Missing(tool);
        var psi = new ProcessStartInfo(path!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        // Times in UTC (the mount's gmtoff is 0), names in UTF-8, no geometry nagging.
        psi.Environment["TZ"] = "UTC";
        psi.Environment["LANG"] = "C.UTF-8";
        psi.Environment["LC_ALL"] = "C.UTF-8";
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using Process p = Process.Start(psi)!;
        var ms = new MemoryStream();
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        return new ToolResult(p.ExitCode, ms.ToArray(), err.Result);
    }

    private static string? FindTool(string tool)
    {
        foreach (string d in new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/bin", "/usr/local/sbin" })
            if (File.Exists(Path.Combine(d, tool))) return Path.Combine(d, tool);
        return null;
    }

    private static void Ok(ToolResult r, string what) => Assert.That(r.Exit, Is.EqualTo(0), what + " failed: " + r.Stderr + r.Text);

    /// <summary>mkfs.fat of <paramref name="kib"/> KiB and FAT <paramref name="bits"/>.</summary>
    private string Mkfs(int bits, int kib, params string[] extra)
    {
        string img = Path.Combine(_dir, "fat" + bits + "-" + Guid.NewGuid().ToString("N")[..6] + ".img");
        var args = new List<string> { "-C", "-F", bits.ToString(), "-n", "RUMPTEST" };
        if (bits != 12) args.AddRange(new[] { "-s", "1" }); // enough clusters for the type in small images
        args.AddRange(extra);
        args.Add(img);
        args.Add(kib.ToString());
        Ok(Run("mkfs.fat", args.ToArray()), "mkfs.fat");
        return img;
    }

    private static int KibFor(int bits) => bits switch { 12 => 2048, 16 => 32768, _ => 66000 };

    private void Mcopy(string img, string hostFile, string dosPath) => Ok(Run("mcopy", "-m", "-i", img, hostFile, "::" + dosPath), "mcopy " + dosPath);
    private void Mmd(string img, string dosPath) => Ok(Run("mmd", "-i", img, "::" + dosPath), "mmd " + dosPath);
    private byte[] Mtype(string img, string dosPath)
    {
        ToolResult r = Run("mtype", "-i", img, "::" + dosPath);
        Ok(r, "mtype " + dosPath);
        return r.Stdout;
    }

    /// <summary>The names mdir lists in a directory (long names where present).</summary>
    private List<string> MdirNames(string img, string dosPath)
    {
        ToolResult r = Run("mdir", "-i", img, "-b", "::" + dosPath);
        Ok(r, "mdir " + dosPath);
        var l = new List<string>();
        string prefix = "::" + dosPath.TrimEnd('/') + "/";
        foreach (string line in r.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string n = line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..] : line;
            n = n.TrimEnd('/');
            if (n is "." or "..") continue;
            l.Add(n);
        }
        l.Sort(StringComparer.Ordinal);
        return l;
    }

    private static void FsckClean(string img)
    {
        ToolResult r = Run("fsck.fat", "-n", "-v", img);
        Assert.That(r.Exit, Is.EqualTo(0), "fsck.fat -n found problems:\n" + r.Text + r.Stderr);
        Assert.That(r.Text, Does.Not.Contain("Free cluster summary wrong"), r.Text);
        Assert.That(r.Text, Does.Not.Contain("Reclaimed"), r.Text);
    }

    // ---- Kernel ---------------------------------------------------------------------------------

    private unsafe int MountImage(RumpKernel k, string img, int flags = 0, uint mask = 0, uint dirmask = 0, int msflags = 0, bool register = true)
    {
        if (register)
        {
            Assert.That(k.EtfsRegister(Dev, img), Is.EqualTo(0), "etfs");
            Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        }
        fixed (byte* p = Encoding.UTF8.GetBytes(Dev + "\0"))
        {
            var a = new RumpMsdosfsArgs { fspec = (nint)p, mask = mask, dirmask = dirmask, flags = msflags, version = Abi.MSDOSFSMNT_VERSION };
            return k.Mount("msdos", "/mnt", flags, a);
        }
    }

    private static byte[] ReadAll(RumpKernel k, string path)
    {
        int fd = k.Open(path, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open " + path);
        var ms = new MemoryStream();
        var buf = new byte[100_000];
        long n;
        while ((n = k.Read(fd, buf)) > 0) ms.Write(buf, 0, (int)n);
        Assert.That(n, Is.EqualTo(0), "read " + path);
        k.Close(fd);
        return ms.ToArray();
    }

    private static void WriteAll(RumpKernel k, string path, byte[] data, int chunk = 65536)
    {
        int fd = k.Open(path, Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, 0x1a4);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create " + path);
        for (int off = 0; off < data.Length; off += chunk)
        {
            int n = Math.Min(chunk, data.Length - off);
            Assert.That(k.Write(fd, data.AsSpan(off, n)), Is.EqualTo(n), "write " + path);
        }
        Assert.That(k.Close(fd), Is.EqualTo(0));
    }

    private static List<string> Names(RumpKernel k, string dir)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        Assert.That(k.ReadDir(dir, l), Is.EqualTo(0), "readdir " + dir);
        var n = l.Select(e => e.name).Where(x => x is not "." and not "..").ToList();
        n.Sort(StringComparer.Ordinal);
        return n;
    }

    private static byte[] Random(int n, int seed)
    {
        var b = new byte[n];
        new System.Random(seed).NextBytes(b);
        return b;
    }

    // ---- Reading what the tools wrote -----------------------------------------------------------

    [TestCase(12)]
    [TestCase(16)]
    [TestCase(32)]
    public void Mkfs_Mtools_TreeReadsBack(int bits)
    {
        string img = Mkfs(bits, KibFor(bits));
        string src = Path.Combine(_dir, "src");
        Directory.CreateDirectory(src);
        var files = new Dictionary<string, byte[]>
        {
            ["/HELLO.TXT"] = Encoding.ASCII.GetBytes("hello, world\n"),
            ["/lower.txt"] = Encoding.ASCII.GetBytes("lower case 8.3\n"),
            ["/A Long File Name With Spaces.text"] = Random(5000, 1),
            ["/Grüße aus Köln.txt"] = Encoding.UTF8.GetBytes("non-ASCII name\n"),
            ["/日本語のファイル.dat"] = Random(777, 2),
            ["/empty"] = Array.Empty<byte>(),
            ["/big.bin"] = Random(bits == 12 ? 600_000 : 3_000_000, 3),
            ["/Dir One/Sub Dir/deeper/deepest/leaf file.txt"] = Encoding.ASCII.GetBytes("deep\n"),
        };
        var mtime = new DateTime(2021, 6, 7, 8, 9, 10, DateTimeKind.Utc);
        Mmd(img, "/Dir One");
        Mmd(img, "/Dir One/Sub Dir");
        Mmd(img, "/Dir One/Sub Dir/deeper");
        Mmd(img, "/Dir One/Sub Dir/deeper/deepest");
        int i = 0;
        foreach (var (path, data) in files)
        {
            string h = Path.Combine(src, "f" + i++);
            File.WriteAllBytes(h, data);
            File.SetLastWriteTimeUtc(h, mtime);
            Mcopy(img, h, path);
        }

        var k = Boot();
        Assert.That(MountImage(k, img, Abi.MNT_RDONLY), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "/A Long File Name With Spaces.text", "/Dir One", "/Grüße aus Köln.txt", "/HELLO.TXT", "/big.bin", "/empty", "/lower.txt", "/日本語のファイル.dat" }
            .Select(s => s.TrimStart('/')).OrderBy(s => s, StringComparer.Ordinal).ToArray()));
        foreach (var (path, data) in files)
        {
            Assert.That(ReadAll(k, "/mnt" + path), Is.EqualTo(data), path);
            RumpStat st = StatOk(k, "/mnt" + path);
            Assert.That(st.st_size, Is.EqualTo(data.Length), path);
            Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFREG | 0x1ed), path + " mode (default mask 0755)");
            Assert.That(st.st_mtim.tv_sec, Is.EqualTo(new DateTimeOffset(mtime).ToUnixTimeSeconds()), path + " mtime");
            Assert.That(st.st_nlink, Is.EqualTo(1u));
        }
        // Lookups are case-insensitive, and an 8.3 alias names the file too.
        Assert.That(ReadAll(k, "/mnt/hello.txt"), Is.EqualTo(files["/HELLO.TXT"]));
        Assert.That(ReadAll(k, "/mnt/dir one/SUB DIR/Deeper/DEEPEST/LEAF FILE.TXT"), Is.EqualTo(files["/Dir One/Sub Dir/deeper/deepest/leaf file.txt"]));
        Assert.That(ReadAll(k, "/mnt/ALONGF~1.TEX"), Is.EqualTo(files["/A Long File Name With Spaces.text"]));
        RumpStat d = StatOk(k, "/mnt/Dir One");
        Assert.That(d.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFDIR));
        Assert.That(k.Open("/mnt/nope", Abi.O_RDONLY), Is.EqualTo(-Abi.ENOENT));
        Assert.That(k.Open("/mnt/HELLO.TXT", Abi.O_WRONLY), Is.EqualTo(-Abi.EROFS));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(sv.f_bfree, Is.LessThan(sv.f_blocks));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void Mkfs_FileIdsStableAndMatchReaddir()
    {
        string img = Mkfs(16, 8192);
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        WriteAll(k, "/mnt/a", Encoding.ASCII.GetBytes("a"));
        Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
        ulong ia = Ino(k, "/mnt/a"), id = Ino(k, "/mnt/d"), root = Ino(k, "/mnt");
        var l = new List<(string name, byte type, ulong ino)>();
        Assert.That(k.ReadDir("/mnt", l), Is.EqualTo(0));
        Assert.That(l.Single(e => e.name == "a").ino, Is.EqualTo(ia));
        Assert.That(l.Single(e => e.name == "d").ino, Is.EqualTo(id));
        Assert.That(l.Single(e => e.name == ".").ino, Is.EqualTo(root));
        Assert.That(new[] { ia, id, root }.Distinct().Count(), Is.EqualTo(3));
        Assert.That(k.Rename("/mnt/a", "/mnt/d/moved"), Is.EqualTo(0));
        Assert.That(Ino(k, "/mnt/d/moved"), Is.EqualTo(ia), "a rename keeps the file id");
        WriteAll(k, "/mnt/b", Encoding.ASCII.GetBytes("b"));
        Assert.That(Ino(k, "/mnt/b"), Is.Not.EqualTo(ia), "a new file in the old slot gets a different id");
        var l2 = new List<(string name, byte type, ulong ino)>();
        Assert.That(k.ReadDir("/mnt/d", l2), Is.EqualTo(0));
        Assert.That(l2.Single(e => e.name == "moved").ino, Is.EqualTo(ia));
        Assert.That(l2.Single(e => e.name == "..").ino, Is.EqualTo(root));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    // ---- Writing, checked by fsck.fat and mtools --------------------------------------------------

    [TestCase(12)]
    [TestCase(16)]
    [TestCase(32)]
    public void Mkfs_WriteTree_FsckCleanAndMtoolsAgree(int bits)
    {
        string img = Mkfs(bits, KibFor(bits));
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        var expect = new Dictionary<string, byte[]>();
        void Put(string p, byte[] data) { WriteAll(k, "/mnt" + p, data); expect[p] = data; }

        Put("/short.txt", Encoding.ASCII.GetBytes("short\n"));
        Put("/UPPER.TXT", Encoding.ASCII.GetBytes("upper\n"));
        Put("/Mixed Case Long Name.markdown", Random(3000, 10));
        Put("/Ünïcödé ñame ☃.txt", Encoding.UTF8.GetBytes("snowman\n"));
        Put("/empty.dat", Array.Empty<byte>());
        Put("/big.bin", Random(bits == 12 ? 700_000 : 4_500_000, 11));
        Assert.That(k.Mkdir("/mnt/a", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/a/Second Level", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/a/Second Level/third", 0x1ed), Is.EqualTo(0));
        Put("/a/Second Level/third/deep file.txt", Encoding.ASCII.GetBytes("deep\n"));
        // Several long names with one basis: aliases ~1, ~2, ... and then hashed ones.
        for (int i = 0; i < 12; i++) Put("/a/similar long name " + i + ".txt", Encoding.ASCII.GetBytes("n" + i));

        // Rename across directories (a directory: its ".." must follow), unlink, rmdir, truncate.
        Assert.That(k.Mkdir("/mnt/moveme", 0x1ed), Is.EqualTo(0));
        Put("/moveme/inside.txt", Encoding.ASCII.GetBytes("inside\n"));
        Assert.That(k.Rename("/mnt/moveme", "/mnt/a/Second Level/moved dir"), Is.EqualTo(0));
        expect["/a/Second Level/moved dir/inside.txt"] = expect["/moveme/inside.txt"];
        expect.Remove("/moveme/inside.txt");
        Put("/tobedeleted.bin", Random(100_000, 12));
        Assert.That(k.Unlink("/mnt/tobedeleted.bin"), Is.EqualTo(0));
        expect.Remove("/tobedeleted.bin");
        Assert.That(k.Mkdir("/mnt/gone", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Rmdir("/mnt/gone"), Is.EqualTo(0));
        Put("/trunc.bin", Random(50_000, 13));
        Assert.That(k.Truncate("/mnt/trunc.bin", 1234), Is.EqualTo(0));
        expect["/trunc.bin"] = expect["/trunc.bin"][..1234];
        Put("/grow.bin", Encoding.ASCII.GetBytes("xyz"));
        Assert.That(k.Truncate("/mnt/grow.bin", 20_000), Is.EqualTo(0));
        expect["/grow.bin"] = Encoding.ASCII.GetBytes("xyz").Concat(new byte[20_000 - 3]).ToArray();
        Put("/renamed-from.txt", Encoding.ASCII.GetBytes("renamed\n"));
        Assert.That(k.Rename("/mnt/renamed-from.txt", "/mnt/short.txt"), Is.EqualTo(0), "rename over an existing file");
        expect["/short.txt"] = expect["/renamed-from.txt"];
        expect.Remove("/renamed-from.txt");
        // A hole: write past the end.
        int fd = k.Open("/mnt/hole.bin", Abi.O_RDWR | Abi.O_CREAT, 0x1a4);
        Assert.That(k.Pwrite(fd, Encoding.ASCII.GetBytes("end"), 10_000), Is.EqualTo(3));
        Assert.That(k.Close(fd), Is.EqualTo(0));
        expect["/hole.bin"] = new byte[10_000].Concat(Encoding.ASCII.GetBytes("end")).ToArray();

        foreach (var (p, data) in expect) Assert.That(ReadAll(k, "/mnt" + p), Is.EqualTo(data), "before unmount: " + p);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));

        FsckClean(img);
        foreach (var (p, data) in expect) Assert.That(Mtype(img, p), Is.EqualTo(data), "mtype " + p);
        Assert.That(MdirNames(img, "/"), Is.EqualTo(new[] { "Mixed Case Long Name.markdown", "UPPER.TXT", "a", "big.bin", "empty.dat", "grow.bin", "hole.bin", "short.txt", "trunc.bin", "Ünïcödé ñame ☃.txt" }
            .OrderBy(s => s, StringComparer.Ordinal).ToArray()));
        Assert.That(MdirNames(img, "/a/Second Level"), Is.EqualTo(new[] { "moved dir", "third" }));

        // And the driver reads its own image back after a remount.
        var k2 = Boot();
        Assert.That(MountImage(k2, img), Is.EqualTo(0));
        foreach (var (p, data) in expect) Assert.That(ReadAll(k2, "/mnt" + p), Is.EqualTo(data), "after remount: " + p);
        Assert.That(ReadAll(k2, "/mnt/a/Second Level/moved dir/../moved dir/inside.txt"), Is.EqualTo(expect["/a/Second Level/moved dir/inside.txt"]));
        Assert.That(k2.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void Mkfs_NamespaceErrors()
    {
        string img = Mkfs(16, 8192);
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
        WriteAll(k, "/mnt/d/f", new byte[] { 1 });
        Assert.That(k.Rmdir("/mnt/d"), Is.EqualTo(-Abi.ENOTEMPTY));
        Assert.That(k.Unlink("/mnt/d"), Is.EqualTo(-Abi.EPERM));
        Assert.That(k.Rmdir("/mnt/d/f"), Is.EqualTo(-Abi.ENOTDIR));
        Assert.That(k.Mkdir("/mnt/D", 0x1ed), Is.EqualTo(-Abi.EEXIST), "names differ only in case");
        Assert.That(k.Open("/mnt/D/F", Abi.O_RDONLY | Abi.O_CREAT | Abi.O_EXCL, 0x1a4), Is.EqualTo(-Abi.EEXIST));
        Assert.That(k.Open("/mnt/bad:name", Abi.O_RDWR | Abi.O_CREAT, 0x1a4), Is.EqualTo(-Abi.EINVAL));
        Assert.That(k.Open("/mnt/" + new string('x', 256), Abi.O_RDWR | Abi.O_CREAT, 0x1a4), Is.EqualTo(-Abi.ENAMETOOLONG));
        Assert.That(k.Rename("/mnt/d", "/mnt/d/sub"), Is.EqualTo(-Abi.EINVAL));
        Assert.That(k.Symlink("x", "/mnt/link"), Is.EqualTo(-Abi.EOPNOTSUPP));
        Assert.That(k.Link("/mnt/d/f", "/mnt/hard"), Is.EqualTo(-Abi.EOPNOTSUPP));
        // Mode: only the owner write bit maps to FAT (the read-only attribute).
        Assert.That(k.Chmod("/mnt/d/f", 0x124), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt/d/f").st_mode & 0x1ff, Is.EqualTo(0x16du));
        Assert.That(k.Chmod("/mnt/d/f", 0x1a4), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt/d/f").st_mode & 0x1ff, Is.EqualTo(0x1edu));
        Assert.That(k.Chown("/mnt/d/f", 5, 5), Is.EqualTo(-Abi.EPERM));
        // An unlinked open file keeps its data until closed; then its clusters are free again.
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs before), Is.EqualTo(0));
        WriteAll(k, "/mnt/open.bin", Random(200_000, 5));
        int fd = k.Open("/mnt/open.bin", Abi.O_RDONLY);
        Assert.That(k.Unlink("/mnt/open.bin"), Is.EqualTo(0));
        Assert.That(k.Stat("/mnt/open.bin", out _), Is.EqualTo(-Abi.ENOENT));
        var buf = new byte[10];
        Assert.That(k.Pread(fd, buf, 199_990), Is.EqualTo(10));
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs after), Is.EqualTo(0));
        Assert.That(after.f_bfree, Is.EqualTo(before.f_bfree));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        FsckClean(img);
    }

    [Test]
    public void Mkfs_TenThousandEntriesInOneDirectory()
    {
        string img = Mkfs(32, 66000);
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/many", 0x1ed), Is.EqualTo(0));
        const int N = 10_000;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < N; i++)
        {
            int fd = k.Open("/mnt/many/a rather long file name number " + i + ".txt", Abi.O_WRONLY | Abi.O_CREAT | Abi.O_EXCL, 0x1a4);
            Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create " + i);
            if (i % 1000 == 0) k.Write(fd, Encoding.ASCII.GetBytes("#" + i));
            k.Close(fd);
        }
        TestContext.Out.WriteLine("created " + N + " in " + sw.ElapsedMilliseconds + " ms");
        List<string> names = Names(k, "/mnt/many");
        Assert.That(names.Count, Is.EqualTo(N));
        Assert.That(names.Distinct().Count(), Is.EqualTo(N));
        // Small getdents buffers exercise the cookies.
        Assert.That(ListDir(k, "/mnt/many", 512).Count, Is.EqualTo(N + 2));
        Assert.That(ReadAll(k, "/mnt/many/a rather long file name number 5000.txt"), Is.EqualTo(Encoding.ASCII.GetBytes("#5000")));
        for (int i = 0; i < N; i += 2) Assert.That(k.Unlink("/mnt/many/a rather long file name number " + i + ".txt"), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt/many").Count, Is.EqualTo(N / 2));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        FsckClean(img);
        Assert.That(MdirNames(img, "/many").Count, Is.EqualTo(N / 2));
    }

    [Test]
    public void Mkfs_ReadOnlyAndBadMounts()
    {
        string img = Mkfs(16, 8192);
        var k = Boot();
        Assert.That(MountImage(k, img, Abi.MNT_RDONLY, mask: 0x124, dirmask: 0x16d), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt").st_mode & 0x1ff, Is.EqualTo(0x16du));
        Assert.That(k.Mkdir("/mnt/x", 0x1ed), Is.EqualTo(-Abi.EROFS));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));

        // Not a FAT file system: EFTYPE; a broken BPB: EINVAL. Nothing stays claimed.
        byte[] raw = File.ReadAllBytes(img);
        raw[510] = 0;
        File.WriteAllBytes(img, raw);
        Assert.That(MountImage(k, img, register: false), Is.EqualTo(-Abi.EFTYPE));
        raw[510] = 0x55;
        raw[13] = 3;
        File.WriteAllBytes(img, raw);
        Assert.That(MountImage(k, img, register: false), Is.EqualTo(-Abi.EINVAL));
    }

    /// <summary>
    /// Large reads of contiguous clusters go straight from the device into the reader's buffer (one
    /// transfer, no per-cluster buffers), except where the cache holds a newer (dirty) cluster:
    /// those reads go through the cache and see the data not yet written.
    /// </summary>
    [Test]
    public void Mkfs_LargeReadsBypassTheCacheUnlessItHoldsNewerData()
    {
        string img = Mkfs(32, 66000); // 512-byte clusters: the worst case for per-cluster buffers
        byte[] data = Random((3 << 20) + 12345, 5);
        string src = Path.Combine(_dir, "big");
        File.WriteAllBytes(src, data);
        Mcopy(img, src, "/BIG.BIN");
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        var bc = k.Kernel.GetService<Rump.Vfs.Vfs>()!.BufCache;
        long lookups0 = bc.Hits + bc.Misses, direct0 = bc.UncachedReads + bc.DirectAheadHits;
        int fd = k.Open("/mnt/BIG.BIN", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        // An odd first read, then 1 MiB reads from the middle of a cluster on.
        var got = new MemoryStream();
        byte[] buf = new byte[1 << 20];
        Assert.That(k.Read(fd, buf.AsSpan(0, 100)), Is.EqualTo(100));
        got.Write(buf, 0, 100);
        long n;
        while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
        Assert.That(n, Is.EqualTo(0));
        Assert.That(got.ToArray().SequenceEqual(data), Is.True, "the file read back as mcopy wrote it");
        long lookups = bc.Hits + bc.Misses - lookups0, direct = bc.UncachedReads + bc.DirectAheadHits - direct0;
        Assert.That(direct, Is.GreaterThanOrEqualTo(3), "1 MiB reads went straight from the device (or from read-ahead windows)");
        // The chain walk reads each FAT sector once (128 clusters each), the data bypasses the cache:
        // through the cache it was a lookup per cluster for the chain and another for the data.
        Assert.That(lookups, Is.LessThan(1000), "cache lookups for 3 MiB of 512-byte clusters (12,000+ a cluster at a time)");
        // A read from a cluster boundary over a whole run lands in the reader's buffer itself (no
        // staging copy), through the path ext2 takes too.
        long inPlace0 = bc.UncachedInPlace;
        Assert.That(k.Lseek(fd, 0, 0), Is.EqualTo(0));
        got.SetLength(0);
        while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
        Assert.That(got.ToArray().SequenceEqual(data), Is.True, "aligned reads return the file as mcopy wrote it");
        Assert.That(bc.UncachedInPlace - inPlace0, Is.GreaterThanOrEqualTo(1), "aligned 1 MiB reads that landed in the reader's buffer");

        // Dirty clusters in the middle: a large read over them must see them.
        byte[] patch = Random(70_000, 6);
        Assert.That(k.Pwrite(fd, patch, 1_500_000), Is.EqualTo(patch.Length));
        patch.CopyTo(data, 1_500_000);
        long fallbacks0 = bc.UncachedFallbacks;
        Assert.That(k.Lseek(fd, 0, 0), Is.EqualTo(0));
        got.SetLength(0);
        while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
        Assert.That(got.ToArray().SequenceEqual(data), Is.True, "the read sees the data written but not yet on the device");
        Assert.That(bc.UncachedFallbacks, Is.GreaterThan(fallbacks0), "the read over dirty clusters went through the cache");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        FsckClean(img);
        Assert.That(Mtype(img, "/BIG.BIN").SequenceEqual(data), Is.True, "mtype reads what was written");
    }

    [Test]
    public void Mkfs_TimesAsFatStoresThem()
    {
        string img = Mkfs(32, 66000);
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        long t0 = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        WriteAll(k, "/mnt/t", new byte[] { 1 });
        RumpStat st = StatOk(k, "/mnt/t");
        Assert.That(st.st_mtim.tv_sec, Is.InRange(t0 - 2, t0 + 2));
        Assert.That(st.st_birthtim.tv_sec, Is.InRange(t0 - 2, t0 + 2));
        Assert.That(st.st_ctim.tv_sec, Is.EqualTo(st.st_mtim.tv_sec), "FAT has no ctime: mtime stands in");
        Assert.That(st.st_atim.tv_sec % 86400, Is.EqualTo(0), "access times are dates");
        Assert.That(st.st_mtim.tv_sec % 2, Is.EqualTo(0), "2-second resolution");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    // ---- Hostile images ---------------------------------------------------------------------------

    [Test, Explicit("performance measurement")]
    public void Mkfs_Perf_ReadAndWrite200MiB()
    {
        string img = Mkfs(32, 300_000, "-s", "8");
        var k = Boot();
        Assert.That(MountImage(k, img), Is.EqualTo(0));
        byte[] data = Random(200 * 1024, 99);
        var sw = Stopwatch.StartNew();
        Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
        for (int i = 0; i < 1000; i++) WriteAll(k, "/mnt/d/file number " + i + ".bin", data);
        k.Sync();
        TestContext.Out.WriteLine("write 1000 x 200 KiB: " + sw.ElapsedMilliseconds + " ms");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        var k2 = Boot();
        Assert.That(MountImage(k2, img), Is.EqualTo(0));
        sw.Restart();
        long total = 0;
        var buf = new byte[65536];
        for (int i = 0; i < 1000; i++)
        {
            int fd = k2.Open("/mnt/d/file number " + i + ".bin", Abi.O_RDONLY);
            long n;
            while ((n = k2.Read(fd, buf)) > 0) total += n;
            k2.Close(fd);
        }
        TestContext.Out.WriteLine("read " + total + " bytes: " + sw.ElapsedMilliseconds + " ms");
        var bc = k2.Kernel.GetService<Rump.Vfs.Vfs>()!.BufCache;
        TestContext.Out.WriteLine($"cache: hits {bc.Hits} misses {bc.Misses} reads {bc.Reads} read-aheads {bc.ReadAheads}");
        sw.Restart();
        for (int r = 0; r < 5; r++)
        {
            int fd = k2.Open("/mnt/d/file number 999.bin", Abi.O_RDONLY);
            long n;
            while ((n = k2.Read(fd, buf)) > 0) total += n;
            k2.Close(fd);
        }
        TestContext.Out.WriteLine("5 cached reads of 200 KiB: " + sw.Elapsed.TotalMilliseconds + " ms");
        sw.Restart();
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        Ok(Run("mcopy", "-s", "-i", img, "::/d", outDir), "mcopy -s");
        TestContext.Out.WriteLine("mcopy -s extract: " + sw.ElapsedMilliseconds + " ms");
    }

    [Test]
    public void Mkfs_HostileImages_OnlyErrnos()
    {
        foreach (int bits in new[] { 12, 16, 32 })
        {
            string img = Mkfs(bits, bits switch { 12 => 1440, 16 => 4096, _ => 34000 });
            string src = Path.Combine(_dir, "h");
            File.WriteAllBytes(src, Random(9000, 7));
            Mmd(img, "/dir");
            Mmd(img, "/dir/sub");
            Mcopy(img, src, "/dir/A file with a long name.bin");
            Mcopy(img, src, "/dir/sub/x.bin");
            Mcopy(img, src, "/top.bin");
            byte[] pristine = File.ReadAllBytes(img);
            // The metadata: boot sector, FATs, root directory and the first data clusters.
            var b = new Rump.Fs.Msdosfs.Wire.Bpb();
            Assert.That(Rump.Fs.Msdosfs.Wire.Bpb.Parse(pristine, out b), Is.EqualTo(0));
            int metaEnd = (int)Math.Min(pristine.Length, (long)(b.FirstDataSector + 16 * b.SectorsPerCluster) * b.BytesPerSector);
            var rng = new System.Random(bits);
            int mounted = 0;
            int mutations = bits == 32 ? 70 : 65;
            for (int i = 0; i < mutations; i++)
            {
                byte[] m = (byte[])pristine.Clone();
                string what;
                switch (i % 5)
                {
                    case 0: // bit flips anywhere in the metadata
                        for (int j = 0; j < 8; j++) { int o = rng.Next(metaEnd); m[o] ^= (byte)(1 << rng.Next(8)); }
                        what = "bit flips";
                        break;
                    case 1: // random bytes in the FAT: loops, out-of-range links, free links
                    {
                        int fat0 = b.ReservedSectors * b.BytesPerSector;
                        for (int j = 0; j < 6; j++) m[fat0 + rng.Next(64)] = (byte)rng.Next(256);
                        what = "FAT bytes";
                        break;
                    }
                    case 2: // a chain that loops onto itself (every cluster links to cluster 3)
                    {
                        int fat0 = b.ReservedSectors * b.BytesPerSector;
                        for (int c = 2; c < 12; c++)
                        {
                            if (bits == 16) { m[fat0 + 2 * c] = 3; m[fat0 + 2 * c + 1] = 0; }
                            else if (bits == 32) { m[fat0 + 4 * c] = 3; m[fat0 + 4 * c + 1] = 0; m[fat0 + 4 * c + 2] = 0; m[fat0 + 4 * c + 3] = 0; }
                            else { m[fat0 + c + c / 2] = 3; m[fat0 + c + c / 2 + 1] = (byte)(c % 2 == 0 ? 0x30 : 0); }
                        }
                        what = "looping chain";
                        break;
                    }
                    case 3: // directory entries with random bytes (sizes, clusters, attributes)
                    {
                        int root = bits == 32 ? (int)(b.FirstDataSector * b.BytesPerSector) : (int)(b.FirstRootDirSector * b.BytesPerSector);
                        for (int j = 0; j < 10; j++) m[root + rng.Next(256)] = (byte)rng.Next(256);
                        what = "directory bytes";
                        break;
                    }
                    default: // truncated image
                        Array.Resize(ref m, (int)(m.Length * rng.NextDouble() / 512) * 512 + 512);
                        what = "truncated";
                        break;
                }
                string himg = Path.Combine(_dir, "hostile.img");
                File.WriteAllBytes(himg, m);
                Exception? err = null;
                bool done = RunWithin(TimeSpan.FromSeconds(20), () =>
                {
                    var k = RumpKernel.Boot();
                    try { if (Walk(k, himg, writable: i % 2 == 0)) mounted++; }
                    finally { k.LwprocSwitch(null); }
                }, out err);
                Assert.That(done, Is.True, $"FAT{bits} mutation {i} ({what}) hung");
                Assert.That(err, Is.Null, $"FAT{bits} mutation {i} ({what}) threw: {err}");
            }
            // Most mutations leave a mountable image: the walk must really run over corrupt data.
            Assert.That(mounted, Is.GreaterThan(mutations / 3), $"FAT{bits}: only {mounted} of {mutations} mutated images mounted");
        }
    }

    /// <summary>Mounts, walks every directory, reads every file, writes a little; every result is a count or an errno.</summary>
    private unsafe bool Walk(RumpKernel k, string img, bool writable)
    {
        if (k.EtfsRegister(Dev, img) != 0) return false;
        k.Mkdir("/mnt", 0x1ed);
        int r;
        fixed (byte* p = Encoding.UTF8.GetBytes(Dev + "\0"))
            r = k.Mount("msdos", "/mnt", writable ? 0 : Abi.MNT_RDONLY, new RumpMsdosfsArgs { fspec = (nint)p });
        if (r != 0) { Assert.That(r, Is.LessThan(0)); return false; }
        var stack = new Stack<(string path, int depth)>();
        stack.Push(("/mnt", 0));
        int visited = 0;
        var buf = new byte[65536];
        while (stack.Count > 0 && visited < 2000)
        {
            var (dir, depth) = stack.Pop();
            var l = new List<(string name, byte type, ulong ino)>();
            if (k.ReadDir(dir, l) < 0) continue;
            foreach (var (name, type, _) in l)
            {
                if (name is "." or ".." || visited++ > 2000) continue;
                string p = dir + "/" + name;
                k.Stat(p, out _);
                if (type == Abi.DT_DIR) { if (depth < 20) stack.Push((p, depth + 1)); continue; }
                int fd = k.Open(p, Abi.O_RDONLY);
                if (fd < 0) continue;
                for (int n = 0; n < 64 && k.Read(fd, buf) > 0; n++) { }
                k.Close(fd);
            }
            if (writable)
            {
                int fd = k.Open(dir + "/new file.txt", Abi.O_RDWR | Abi.O_CREAT, 0x1a4);
                if (fd >= 0) { k.Write(fd, buf.AsSpan(0, 5000)); k.Close(fd); }
                k.Mkdir(dir + "/newdir", 0x1ed);
                k.Rename(dir + "/new file.txt", dir + "/newdir/renamed");
                k.Unlink(dir + "/newdir/renamed");
                k.Rmdir(dir + "/newdir");
            }
        }
        k.Statvfs("/mnt", out _);
        k.Unmount("/mnt", Abi.MNT_FORCE);
        return true;
    }
}
