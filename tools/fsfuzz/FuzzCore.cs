using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.FsFuzz;

// The fuzz harness's whole logic in one file, so that the NUnit sample (tests/Rump.Tests) compiles
// the same code the long run uses. Pieces, in order:
//   FuzzTarget  - a file system variant and how the real tool makes its image
//   ImageMaker  - the test tree (files filled with a marker pattern) and the image made from it
//   Layout      - which 512-byte sectors of the image are metadata (not zero, not file data)
//   Mutator     - generic and targeted corruptions (FAT chains, ext2 dirs/extents, ISO CE loops),
//                 and the known ones that once found bugs, tried in every run (negative iterations)
//   Walker      - mount + full walk: readdir, lstat, readlink, read every file; optional writes;
//                 a directory that is its own ancestor is a failure (drivers must refuse cycles)
//   FuzzRun     - iterations from (seed, iteration) under a watchdog, with the host-side checks;
//                 the known cases also run every fsu command, which must end with a status
//
// A kernel panic ends the process (by design): the run prints "@iter N" before each iteration so a
// parent process (Program.cs --fs all) can name the iteration that killed its child.

/// <summary>A file system variant: the kernel's type name and the tool command that formats it.</summary>
public sealed record FuzzTarget(string Name, string FsType, bool Writable, string Description)
{
    public static readonly FuzzTarget[] All =
    {
        new("msdos", "msdos", true, "FAT12, 2 MiB, mkfs.fat + mcopy (VFAT long names)"),
        new("fat16", "msdos", true, "FAT16, 4 MiB, one sector per cluster, mkfs.fat -F 16 -s 1 + mcopy"),
        new("ext2fs", "ext2fs", true, "ext2 rev 1, 1 KiB blocks (block maps, indirect blocks), mke2fs -d"),
        new("ext4", "ext2fs", true, "ext4 without journal (extents, 64bit, metadata_csum), mke2fs -d"),
        new("cd9660", "cd9660", false, "ISO 9660 with Rock Ridge and Joliet, xorriso"),
    };

    public static FuzzTarget? Find(string name) => Array.Find(All, t => t.Name == name);
}

/// <summary>Builds the seed image of a target from a fixed tree with the real tools (deterministic contents).</summary>
public static class ImageMaker
{
    /// <summary>File bytes are this pattern repeated, so that a sector of it is recognisably data.</summary>
    public static ReadOnlySpan<byte> Marker => "FzData!\n"u8;

    public static readonly DateTime TreeTime = new(2020, 2, 29, 12, 34, 56, DateTimeKind.Utc);

    /// <summary>Makes the tree under <paramref name="dir"/>; FAT gets no symbolic links.</summary>
    public static void MakeTree(string dir, bool symlinks)
    {
        Directory.CreateDirectory(dir);
        void F(string rel, int size)
        {
            string p = Path.Combine(dir, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            byte[] b = new byte[size];
            for (int i = 0; i < size; i++) b[i] = Marker[i % Marker.Length];
            File.WriteAllBytes(p, b);
        }
        F("readme.txt", 100);
        F("empty", 0);
        F("big.bin", 200 * 1024);
        F("sub/deeper/deepest/leaf.txt", 3000);
        F("a very long file name that needs several long-name entries and more.txt", 700);
        F("naïve café ünïcödé.txt", 50);
        for (int i = 0; i < 40; i++) F("many/file-number-" + i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture) + ".dat", 40 + i * 37);
        F("many/" + new string('n', 180) + ".txt", 10);
        if (symlinks)
        {
            File.CreateSymbolicLink(Path.Combine(dir, "link"), "readme.txt");
            File.CreateSymbolicLink(Path.Combine(dir, "dirlink"), "sub/deeper");
            File.CreateSymbolicLink(Path.Combine(dir, "longlink"), string.Concat(System.Linq.Enumerable.Repeat("../x/", 30)) + "target");
            File.CreateSymbolicLink(Path.Combine(dir, "sub/dangling"), "/nonexistent/path");
        }
        foreach (string p in Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories))
            if (new FileInfo(p).LinkTarget == null) File.SetLastWriteTimeUtc(p, TreeTime);
    }

    /// <summary>Formats <paramref name="image"/> for the target and fills it from <paramref name="tree"/>; null or the tool's complaint.</summary>
    public static string? Make(FuzzTarget t, string tree, string image)
    {
        var env = new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = "1582979696", ["E2FSPROGS_FAKE_TIME"] = "1582979696", ["MTOOLS_SKIP_CHECK"] = "1" };
        switch (t.Name)
        {
            case "msdos":
            case "fat16":
            {
                int kb = t.Name == "msdos" ? 2048 : 4096;
                string? e = Tool("mkfs.fat", (t.Name == "fat16" ? "-F 16 -s 1 " : "-F 12 ") + "--invariant -i 12345678 -n FUZZ -C " + Q(image) + " " + kb, env);
                if (e != null) return e;
                var args = new StringBuilder("-s -p -m -i " + Q(image));
                foreach (string p in Directory.GetFileSystemEntries(tree)) args.Append(' ').Append(Q(p));
                args.Append(" ::/");
                return Tool("mcopy", args.ToString(), env);
            }
            case "ext2fs":
                return Tool("mke2fs", "-q -F -t ext2 -b 1024 -N 128 -U 0b7e2a5c-9d4e-4f70-8d35-1c2a3b4c5d6e -E hash_seed=0b7e2a5c-9d4e-4f70-8d35-1c2a3b4c5d6f -d " + Q(tree) + " " + Q(image) + " 1536", env);
            case "ext4":
                return Tool("mke2fs", "-q -F -t ext4 -O ^has_journal,64bit,metadata_csum -b 1024 -N 128 -U 0b7e2a5c-9d4e-4f70-8d35-1c2a3b4c5d6e -E hash_seed=0b7e2a5c-9d4e-4f70-8d35-1c2a3b4c5d6f -d " + Q(tree) + " " + Q(image) + " 2048", env);
            case "cd9660":
                return Tool("xorriso", "-as mkisofs -quiet -R -J -joliet-long -V FUZZ -o " + Q(image) + " " + Q(tree), env);
        }
        return "unknown target " + t.Name;
    }

    private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>Runs a tool through sh (for the quoting); null on success, else its stderr.</summary>
    private static string? Tool(string name, string args, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("/bin/sh", new[] { "-c", name + " " + args })
        { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode == 127) return name + " is not installed (tools/setup-debian.sh installs it)";
        return p.ExitCode == 0 ? null : name + " failed (" + p.ExitCode + "): " + err.Trim();
    }

    public static bool ToolExists(string name)
    {
        foreach (string d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat2("/sbin", "/usr/sbin"))
            if (d.Length > 0 && File.Exists(Path.Combine(d, name))) return true;
        return false;
    }

    private static IEnumerable<string> Concat2(this string[] a, params string[] b) { foreach (var x in a) yield return x; foreach (var x in b) yield return x; }

    public static string ToolFor(FuzzTarget t) => t.FsType switch { "msdos" => "mkfs.fat", "ext2fs" => "mke2fs", _ => "xorriso" };
}

/// <summary>The sectors of an image that hold metadata: not all zero and not the marker pattern of file data.</summary>
public sealed class Layout
{
    public const int Sector = 512;
    public readonly int[] MetaSectors;

    public Layout(byte[] img)
    {
        var l = new List<int>();
        for (int s = 0; s + Sector <= img.Length; s += Sector)
            if (!IsZeroOrData(img.AsSpan(s, Sector))) l.Add(s / Sector);
        MetaSectors = l.ToArray();
    }

    private static bool IsZeroOrData(ReadOnlySpan<byte> sec)
    {
        ReadOnlySpan<byte> m = ImageMaker.Marker;
        int i = 0;
        while (i < sec.Length && sec[i] == m[i % m.Length]) i++;
        return sec.Slice(i).IndexOfAnyExcept((byte)0) < 0;
    }
}

/// <summary>
/// Corruptions. Every choice comes from the iteration's Random, so (seed, iteration) names the
/// image exactly. Each method returns a short description for the failure report.
/// </summary>
public static class Mutator
{
    private static readonly uint[] Interesting = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff };

    /// <summary>
    /// Mutations that found bugs, tried in every run before the random ones (as iterations -N..-1):
    /// an entry naming an ancestor directory (fsu walked it forever; drivers now refuse it) and a
    /// NUL in a symbolic link's target (fsu cp aborted). Each returns what it changed, or null if
    /// the seed image had nothing to change (a harness error: the case would test nothing).
    /// </summary>
    public static (string Name, Func<byte[], string?> Apply)[] Known(FuzzTarget t) => t.FsType switch
    {
        "msdos" => new (string, Func<byte[], string?>)[]
        {
            ("directory entry naming an ancestor", Fat.AncestorEntry),
        },
        "ext2fs" => new (string, Func<byte[], string?>)[]
        {
            ("the root's \"..\" renamed (an entry naming its own directory)", Ext2.RootDotDotRenamed),
            ("directory entry naming an ancestor", Ext2.AncestorEntry),
            ("NUL in a symbolic link's target", Ext2.NulInLinkTarget),
        },
        _ => new (string, Func<byte[], string?>)[]
        {
            ("directory record naming an ancestor", Iso.AncestorRecord),
            ("NUL in a Rock Ridge symbolic link's target", Iso.NulInSlTarget),
        },
    };

    /// <summary>Mutates <paramref name="img"/> (possibly returning a shorter array) and describes what was done.</summary>
    public static byte[] Mutate(FuzzTarget t, byte[] img, Layout layout, Random r, out string what)
    {
        var d = new StringBuilder();
        int ops = 1 + r.Next(3);
        for (int i = 0; i < ops; i++)
        {
            int k = r.Next(100);
            if (i > 0) d.Append("; ");
            if (k < 30) d.Append(FlipBits(img, layout, r));
            else if (k < 55) d.Append(Overwrite(img, layout, r));
            else if (k < 92) d.Append(t.FsType switch
            {
                "msdos" => Fat.Targeted(img, r),
                "ext2fs" => Ext2.Targeted(img, r),
                _ => Iso.Targeted(img, r),
            });
            else
            {
                int len = r.Next(2) == 0 ? r.Next(img.Length) : img.Length - 1 - r.Next(Math.Min(img.Length - 1, 64 * 1024));
                img = img.AsSpan(0, len).ToArray();
                d.Append("truncate to " + len);
            }
        }
        what = d.ToString();
        return img;
    }

    private static int PickOffset(byte[] img, Layout layout, Random r)
    {
        if (layout.MetaSectors.Length > 0 && r.Next(10) != 0)
            return Math.Min(img.Length - 1, layout.MetaSectors[r.Next(layout.MetaSectors.Length)] * Layout.Sector + r.Next(Layout.Sector));
        return r.Next(img.Length);
    }

    private static string FlipBits(byte[] img, Layout layout, Random r)
    {
        int n = 1 + r.Next(16);
        int at = PickOffset(img, layout, r);
        for (int i = 0; i < n; i++)
        {
            int o = Math.Clamp(at + r.Next(-64, 64), 0, img.Length - 1);
            img[o] ^= (byte)(1 << r.Next(8));
        }
        return n + " bit flips near " + at;
    }

    private static string Overwrite(byte[] img, Layout layout, Random r)
    {
        int at = PickOffset(img, layout, r);
        uint v = r.Next(2) == 0 ? Interesting[r.Next(Interesting.Length)] : (uint)r.Next();
        int w = new[] { 1, 2, 4 }[r.Next(3)];
        if (at + w > img.Length) at = img.Length - w;
        Put(img, at, w, v);
        return "write " + w + "-byte 0x" + v.ToString("x") + " at " + at;
    }

    internal static void Put(byte[] img, int at, int width, uint v)
    {
        if (at < 0 || at + width > img.Length) return;
        if (width == 1) img[at] = (byte)v;
        else if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(img.AsSpan(at), (ushort)v);
        else BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(at), v);
    }

    internal static uint U16(byte[] b, long o) => o >= 0 && o + 2 <= b.Length ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan((int)o)) : 0u;
    internal static uint U32(byte[] b, long o) => o >= 0 && o + 4 <= b.Length ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)o)) : 0;

    // ---- FAT ----------------------------------------------------------------------------------

    private static class Fat
    {
        public static string Targeted(byte[] img, Random r)
        {
            uint bps = U16(img, 11), spc = img.Length > 13 ? img[13] : 0u, rsvd = U16(img, 14), nfats = img.Length > 16 ? img[16] : 0u;
            uint rootEnt = U16(img, 17), fatsz = U16(img, 22) != 0 ? U16(img, 22) : U32(img, 36);
            uint tot = U16(img, 19) != 0 ? U16(img, 19) : U32(img, 32);
            if (bps is not (512 or 1024 or 2048 or 4096) || spc == 0 || nfats == 0 || fatsz == 0) return BpbField(img, r);
            long fatOff = rsvd * bps;
            long rootOff = fatOff + nfats * fatsz * bps;
            long dataOff = rootOff + ((rootEnt * 32 + bps - 1) / bps) * bps;
            long clusters = (tot * bps - dataOff) / (spc * bps);
            int bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
            var entries = DirEntries(img, rootOff, dataOff, bits == 32 ? dataOff : rootOff);
            switch (r.Next(7))
            {
                case 0: return BpbField(img, r);
                case 1:
                {
                    // A chain that loops: an allocated cluster pointing at itself or back at an earlier one.
                    uint c = 2 + (uint)r.Next((int)Math.Max(1, Math.Min(clusters, 400)));
                    uint to = r.Next(2) == 0 ? c : 2 + (uint)r.Next((int)Math.Max(1, c - 1));
                    for (uint f = 0; f < nfats; f++) SetFat(img, fatOff + f * fatsz * bps, bits, c, to);
                    return "FAT loop " + c + " -> " + to;
                }
                case 2:
                {
                    uint c = 2 + (uint)r.Next((int)Math.Max(1, Math.Min(clusters, 400)));
                    uint to = new uint[] { 0, 1, (uint)clusters + 2, (uint)clusters + 100, 0x0ffffff7, 0x0ffffff0, 0xffffffff }[r.Next(7)];
                    for (uint f = 0; f < nfats; f++) SetFat(img, fatOff + f * fatsz * bps, bits, c, to);
                    return "FAT entry " + c + " = 0x" + to.ToString("x");
                }
                case 3:
                    if (entries.Count == 0) return BpbField(img, r);
                    else
                    {
                        int e = entries[r.Next(entries.Count)];
                        uint size = new uint[] { 0xffffffff, 0x7fffffff, 0x80000000, (uint)img.Length * 4 }[r.Next(4)];
                        Put(img, e + 28, 4, size);
                        return "dirent at " + e + " size 0x" + size.ToString("x");
                    }
                case 4:
                {
                    // A directory whose entry points at itself (from its "." record), at the root (0) or out of range.
                    var dirs = entries.FindAll(e => (img[e + 11] & 0x10) != 0 && img[e] != '.');
                    if (dirs.Count == 0) return BpbField(img, r);
                    int de = dirs[r.Next(dirs.Count)];
                    uint self = U16(img, de + 26) | (U16(img, de + 20) << 16);
                    uint to = r.Next(3) switch { 0 => 0, 1 => ParentOf(img, de) ?? 0, _ => self == 0 ? 0 : (uint)clusters + 7 };
                    Put(img, de + 26, 2, to & 0xffff);
                    Put(img, de + 20, 2, to >> 16);
                    return "dir entry at " + de + " cluster " + self + " -> " + to;
                }
                case 5:
                {
                    if (entries.Count == 0) return BpbField(img, r);
                    int e = entries[r.Next(entries.Count)];
                    img[e + 11] = (byte)new[] { 0x10, 0x0f, 0x08, 0x3f, 0x00, 0x40 | 0x10 }[r.Next(6)];
                    return "dirent at " + e + " attributes 0x" + img[e + 11].ToString("x");
                }
                default:
                {
                    // A file's first cluster moved into the FAT's free region or made equal to another file's (cross-link).
                    if (entries.Count < 2) return BpbField(img, r);
                    int a = entries[r.Next(entries.Count)], b = entries[r.Next(entries.Count)];
                    Put(img, a + 26, 2, U16(img, b + 26));
                    Put(img, a + 20, 2, U16(img, b + 20));
                    return "cross-link dirent " + a + " to the chain of " + b;
                }
            }
        }

        /// <summary>Known case: the entry of sub/deeper/deepest gets the first cluster of sub.</summary>
        public static string? AncestorEntry(byte[] img)
        {
            uint bps = U16(img, 11), rsvd = U16(img, 14), nfats = img.Length > 16 ? img[16] : 0u;
            uint rootEnt = U16(img, 17), fatsz = U16(img, 22) != 0 ? U16(img, 22) : U32(img, 36);
            if (bps == 0 || nfats == 0 || fatsz == 0) return null;
            long rootOff = rsvd * bps + nfats * fatsz * bps;
            long dataOff = rootOff + ((rootEnt * 32 + bps - 1) / bps) * bps;
            int deepest = -1, sub = -1;
            foreach (int e in DirEntries(img, rootOff, dataOff, rootEnt == 0 ? dataOff : rootOff))
            {
                if ((img[e + 11] & 0x10) == 0) continue;
                string n = Encoding.ASCII.GetString(img, e, 11);
                if (n == "DEEPEST    ") deepest = e;
                else if (n == "SUB        ") sub = e;
            }
            if (deepest < 0 || sub < 0) return null;
            Put(img, deepest + 26, 2, U16(img, sub + 26));
            Put(img, deepest + 20, 2, U16(img, sub + 20));
            return "entry 'deepest' at " + deepest + " -> the clusters of its grandparent 'sub'";
        }

        /// <summary>The cluster of the directory that holds entry <paramref name="de"/> (its "." record when in a cluster).</summary>
        private static uint? ParentOf(byte[] img, int de)
        {
            int sec = de / 512 * 512;
            if (img[sec] == '.' && img[sec + 1] == ' ') return U16(img, sec + 26) | (U16(img, sec + 20) << 16);
            return null;
        }

        private static void SetFat(byte[] img, long fat, int bits, uint c, uint v)
        {
            if (bits == 16) Put(img, (int)(fat + c * 2), 2, v);
            else if (bits == 32) Put(img, (int)(fat + c * 4), 4, v & 0x0fffffff);
            else
            {
                long o = fat + c * 3 / 2;
                uint w = U16(img, o);
                w = (c & 1) != 0 ? (w & 0x000f) | ((v & 0xfff) << 4) : (w & 0xf000) | (v & 0xfff);
                Put(img, (int)o, 2, w);
            }
        }

        /// <summary>Offsets of plausible short directory entries in the root directory and the data area.</summary>
        private static List<int> DirEntries(byte[] img, long rootOff, long dataOff, long from)
        {
            var l = new List<int>();
            for (long o = Math.Max(from, 0); o + 32 <= img.Length && l.Count < 4096; o += 32)
            {
                byte a = img[o + 11];
                if (img[o] is 0 or 0xe5 || a == 0x0f || (a & 0xc0) != 0) continue;
                bool ok = true;
                for (int i = 0; i < 11 && ok; i++) ok = img[o + i] >= 0x20 && img[o + i] != 0x7f && !(img[o + i] >= 'a' && img[o + i] <= 'z');
                if (ok && img[o + 12] is 0 or 0x08 or 0x10 or 0x18) l.Add((int)o);
            }
            return l;
        }

        private static string BpbField(byte[] img, Random r)
        {
            (int off, int w, string name)[] f =
            {
                (11, 2, "bytes/sector"), (13, 1, "sectors/cluster"), (14, 2, "reserved"), (16, 1, "FATs"), (17, 2, "root entries"),
                (19, 2, "total16"), (22, 2, "FAT size16"), (32, 4, "total32"), (36, 4, "FAT size32"), (44, 4, "root cluster"), (510, 2, "signature"),
            };
            var (off, w, name) = f[r.Next(f.Length)];
            uint v = r.Next(3) == 0 ? (uint)r.Next() : Interesting[r.Next(Interesting.Length)];
            Put(img, off, w, v);
            return "BPB " + name + " = 0x" + v.ToString("x");
        }
    }

    // ---- ext2 ---------------------------------------------------------------------------------

    private static class Ext2
    {
        private const int Sb = 1024;

        private sealed class Geo
        {
            public long Bs; public uint Ipg, Isz, Groups, FirstData; public bool Is64; public uint DescSz;
            public long InodeOff(byte[] img, uint ino)
            {
                if (ino == 0 || Ipg == 0) return -1;
                uint g = (ino - 1) / Ipg, idx = (ino - 1) % Ipg;
                long gd = (FirstData + 1) * Bs + g * DescSz;
                long table = U32(img, gd + 8) | (Is64 ? (long)U32(img, gd + 0x28) << 32 : 0);
                long o = table * Bs + idx * Isz;
                return o + Isz <= img.Length ? o : -1;
            }
        }

        private static Geo? Parse(byte[] img)
        {
            if (U16(img, Sb + 56) != 0xef53) return null;
            uint log = U32(img, Sb + 24);
            if (log > 6) return null;
            var g = new Geo { Bs = 1024L << (int)log, Ipg = U32(img, Sb + 40), FirstData = U32(img, Sb + 20) };
            g.Isz = U32(img, Sb + 76) == 0 ? 128 : U16(img, Sb + 88);
            g.Is64 = (U32(img, Sb + 96) & 0x80) != 0;
            g.DescSz = g.Is64 ? Math.Max(32, U16(img, Sb + 254)) : 32;
            uint bpg = U32(img, Sb + 32);
            g.Groups = bpg == 0 ? 0 : (U32(img, Sb + 4) - g.FirstData + bpg - 1) / bpg;
            if (g.Isz < 128 || g.Ipg == 0) return null;
            return g;
        }

        /// <summary>The data blocks of an inode we can find cheaply: direct pointers, or depth-0 extents.</summary>
        private static List<long> Blocks(byte[] img, long io, Geo g)
        {
            var l = new List<long>();
            long ib = io + 40;
            if (U16(img, ib) == 0xf30a)
            {
                if (U16(img, ib + 6) != 0) return l;
                int n = (int)Math.Min(4, U16(img, ib + 2));
                for (int i = 0; i < n; i++)
                {
                    long e = ib + 12 + i * 12;
                    long start = U32(img, e + 8) | ((long)U16(img, e + 6) << 32);
                    uint len = U16(img, e + 4);
                    for (uint j = 0; j < Math.Min(len, 64u); j++) l.Add(start + j);
                }
            }
            else for (int i = 0; i < 12; i++) { long b = U32(img, ib + i * 4); if (b != 0) l.Add(b); }
            return l;
        }

        private readonly record struct DirEnt(long Offset, uint Ino, int Type, string Name, uint DirIno);

        /// <summary>Entries of every directory reachable from the root (bounded).</summary>
        private static List<DirEnt> Walk(byte[] img, Geo g)
        {
            var res = new List<DirEnt>();
            var todo = new Queue<uint>();
            var seen = new HashSet<uint>();
            todo.Enqueue(2);
            while (todo.Count > 0 && seen.Count < 64)
            {
                uint dino = todo.Dequeue();
                if (!seen.Add(dino)) continue;
                long io = g.InodeOff(img, dino);
                if (io < 0 || (U16(img, io) & 0xf000) != 0x4000) continue;
                foreach (long b in Blocks(img, io, g))
                {
                    long off = b * g.Bs, end = off + g.Bs;
                    if (end > img.Length) break;
                    while (off + 8 <= end)
                    {
                        uint ino = U32(img, off);
                        int rec = (int)U16(img, off + 4), nl = img[off + 6], ft = img[off + 7];
                        if (rec < 8 || off + rec > end) break;
                        if (ino != 0 && nl > 0 && off + 8 + nl <= end)
                        {
                            string name = Encoding.Latin1.GetString(img, (int)off + 8, nl);
                            res.Add(new DirEnt(off, ino, ft, name, dino));
                            if (ft == 2 && name != "." && name != "..") todo.Enqueue(ino);
                        }
                        off += rec;
                    }
                }
            }
            return res;
        }

        public static string Targeted(byte[] img, Random r)
        {
            Geo? g = Parse(img);
            if (g == null) return SbField(img, r);
            var ents = Walk(img, g);
            var dirs = ents.FindAll(e => e.Type == 2 && e.Name != "." && e.Name != "..");
            var files = ents.FindAll(e => e.Name != "." && e.Name != "..");
            switch (r.Next(9))
            {
                case 0: case 1: return SbField(img, r);
                case 2:
                {
                    // A directory entry naming its own directory, or a subdirectory's ".." naming itself.
                    if (dirs.Count == 0) return SbField(img, r);
                    DirEnt d = dirs[r.Next(dirs.Count)];
                    if (r.Next(2) == 0) { Put(img, (int)d.Offset, 4, d.DirIno); return "dir entry '" + d.Name + "' -> its parent inode " + d.DirIno; }
                    var dotdot = ents.Find(e => e.DirIno == d.Ino && e.Name == "..");
                    if (dotdot.Offset == 0) { Put(img, (int)d.Offset, 4, 2); return "dir entry '" + d.Name + "' -> root"; }
                    Put(img, (int)dotdot.Offset, 4, d.Ino);
                    return "'..' of inode " + d.Ino + " -> itself";
                }
                case 3:
                {
                    if (files.Count == 0) return SbField(img, r);
                    DirEnt f = files[r.Next(files.Count)];
                    long io = g.InodeOff(img, f.Ino);
                    if (io < 0) return SbField(img, r);
                    Put(img, (int)io + 4, 4, 0xffffffff);
                    Put(img, (int)io + 108, 4, (uint)r.Next(3) switch { 0 => 0, 1 => 0x7fffffff, _ => 0xffffffff });
                    return "inode " + f.Ino + " ('" + f.Name + "') huge size";
                }
                case 4:
                {
                    // Block pointers: beyond the device, at the superblock, or an indirect block pointing at itself.
                    if (files.Count == 0) return SbField(img, r);
                    DirEnt f = files[r.Next(files.Count)];
                    long io = g.InodeOff(img, f.Ino);
                    if (io < 0) return SbField(img, r);
                    int slot = r.Next(15);
                    uint ind = U32(img, io + 40 + 12 * 4);
                    uint v = r.Next(3) switch { 0 => 0xfffffff0u, 1 => (uint)(img.Length / g.Bs) + (uint)r.Next(1000), _ => ind != 0 ? ind : 1 };
                    if (U16(img, io + 40) == 0xf30a) return Extent(img, io, g, r, f);
                    Put(img, (int)(io + 40 + slot * 4), 4, v);
                    if (ind != 0 && ind * g.Bs + 4 <= img.Length && r.Next(2) == 0) Put(img, (int)(ind * g.Bs), 4, ind);
                    return "inode " + f.Ino + " i_block[" + slot + "] = " + v;
                }
                case 5:
                {
                    if (files.Count == 0) return SbField(img, r);
                    DirEnt f = files[r.Next(files.Count)];
                    long io = g.InodeOff(img, f.Ino);
                    if (io < 0) return SbField(img, r);
                    if (U16(img, io + 40) == 0xf30a || r.Next(2) == 0) return Extent(img, io, g, r, f);
                    uint mode = new uint[] { 0x41ed, 0xa1ff, 0x81a4, 0x0000, 0xf1ff, 0x61b6 }[r.Next(6)];
                    Put(img, (int)io, 2, mode);
                    return "inode " + f.Ino + " mode 0" + Convert.ToString(mode, 8);
                }
                case 6:
                {
                    // Directory records: rec_len 0 / past the block / name_len past rec_len.
                    if (ents.Count == 0) return SbField(img, r);
                    DirEnt e = ents[r.Next(ents.Count)];
                    int which = r.Next(4);
                    if (which == 0) Put(img, (int)e.Offset + 4, 2, 0);
                    else if (which == 1) Put(img, (int)e.Offset + 4, 2, 0xfffc);
                    else if (which == 2) img[e.Offset + 6] = 0xff;
                    else Put(img, (int)e.Offset, 4, new uint[] { 0, 1, 0xffffffff, 129, 3 }[r.Next(5)]);
                    return "dirent '" + e.Name + "' field " + which;
                }
                case 7:
                {
                    // Group descriptors: inode table / bitmaps elsewhere.
                    long gd = (g.FirstData + 1) * g.Bs + r.Next((int)Math.Max(1, g.Groups)) * g.DescSz;
                    int field = new[] { 0, 4, 8, 12, 14, 16 }[r.Next(6)];
                    uint v = Interesting[r.Next(Interesting.Length)];
                    Put(img, (int)gd + field, field >= 12 ? 2 : 4, v);
                    return "group descriptor +" + field + " = 0x" + v.ToString("x");
                }
                default:
                {
                    if (files.Count == 0) return SbField(img, r);
                    DirEnt f = files[r.Next(files.Count)];
                    long io = g.InodeOff(img, f.Ino);
                    if (io < 0) return SbField(img, r);
                    uint flags = U32(img, io + 32) ^ new uint[] { 0x80000, 0x1000, 0x10000000, 0x4000 }[r.Next(4)];
                    Put(img, (int)io + 32, 4, flags);
                    Put(img, (int)io + 26, 2, (uint)r.Next(3));
                    return "inode " + f.Ino + " flags 0x" + flags.ToString("x") + " and link count";
                }
            }
        }

        /// <summary>Known case: the root's ".." record renamed "xx" (two bytes), an entry of the root naming the root.</summary>
        public static string? RootDotDotRenamed(byte[] img)
        {
            Geo? g = Parse(img);
            long io = g?.InodeOff(img, 2) ?? -1;
            if (g == null || io < 0) return null;
            var blocks = Blocks(img, io, g);
            if (blocks.Count == 0) return null;
            long rec = blocks[0] * g.Bs + U16(img, blocks[0] * g.Bs + 4);
            if (rec + 10 > img.Length || img[rec + 6] != 2 || img[rec + 8] != '.' || img[rec + 9] != '.') return null;
            img[rec + 8] = (byte)'x';
            img[rec + 9] = (byte)'x';
            return "root's \"..\" at " + rec + " renamed \"xx\"";
        }

        /// <summary>Known case: the entry of sub/deeper/deepest names sub.</summary>
        public static string? AncestorEntry(byte[] img)
        {
            Geo? g = Parse(img);
            if (g == null) return null;
            var ents = Walk(img, g);
            DirEnt deepest = ents.Find(e => e.Name == "deepest" && e.Type == 2), sub = ents.Find(e => e.Name == "sub" && e.DirIno == 2);
            if (deepest.Offset == 0 || sub.Offset == 0) return null;
            Put(img, (int)deepest.Offset, 4, sub.Ino);
            return "entry 'deepest' at " + deepest.Offset + " -> inode " + sub.Ino + " (its grandparent 'sub')";
        }

        /// <summary>Known case: a NUL in the fast symbolic link "link" ("readme.txt", kept in the inode).</summary>
        public static string? NulInLinkTarget(byte[] img)
        {
            Geo? g = Parse(img);
            if (g == null) return null;
            DirEnt link = Walk(img, g).Find(e => e.Name == "link" && e.DirIno == 2);
            long io = link.Offset == 0 ? -1 : g.InodeOff(img, link.Ino);
            if (io < 0 || Encoding.ASCII.GetString(img, (int)io + 40, 10) != "readme.txt") return null;
            img[io + 40 + 2] = 0;
            return "inode " + link.Ino + " ('link') target \"re\\0dme.txt\"";
        }

        /// <summary>Extent trees: absurd depth, an index node whose child is itself, entries past the device.</summary>
        private static string Extent(byte[] img, long io, Geo g, Random r, DirEnt f)
        {
            long ib = io + 40;
            var blocks = Blocks(img, io, g);
            int kind = r.Next(4);
            if (kind == 0 || blocks.Count == 0)
            {
                uint depth = new uint[] { 1, 2, 5, 0x7fff, 0xffff }[r.Next(5)];
                Put(img, (int)ib, 2, 0xf30a);
                Put(img, (int)ib + 6, 2, depth);
                return "inode " + f.Ino + " extent depth " + depth;
            }
            if (kind == 1)
            {
                // Root: depth d, one index -> block B; B: a header of the same depth whose index -> B.
                long b = blocks[0];
                uint depth = (uint)(1 + r.Next(5));
                Put(img, (int)ib, 2, 0xf30a); Put(img, (int)ib + 2, 2, 1); Put(img, (int)ib + 4, 2, 4); Put(img, (int)ib + 6, 2, depth);
                Put(img, (int)ib + 12, 4, 0); Put(img, (int)ib + 16, 4, (uint)b); Put(img, (int)ib + 20, 2, 0);
                long bo = b * g.Bs;
                if (bo + 24 <= img.Length)
                {
                    Put(img, (int)bo, 2, 0xf30a); Put(img, (int)bo + 2, 2, 1); Put(img, (int)bo + 4, 2, (uint)((g.Bs - 12) / 12));
                    Put(img, (int)bo + 6, 2, r.Next(2) == 0 ? depth : depth - 1);
                    Put(img, (int)bo + 12, 4, 0); Put(img, (int)bo + 16, 4, (uint)b); Put(img, (int)bo + 20, 2, 0);
                }
                return "inode " + f.Ino + " extent index loop through block " + b + " (depth " + depth + ")";
            }
            if (kind == 2)
            {
                Put(img, (int)ib + 2, 2, (uint)r.Next(2) == 0 ? 0xffffu : 5u);
                return "inode " + f.Ino + " extent entry count";
            }
            Put(img, (int)ib + 12 + 4, 2, new uint[] { 0, 0x8000, 0xffff, 32768 + 100 }[r.Next(4)]);
            Put(img, (int)ib + 12 + 8, 4, (uint)r.Next());
            return "inode " + f.Ino + " first extent length/start";
        }

        private static string SbField(byte[] img, Random r)
        {
            (int off, int w, string name)[] f =
            {
                (0, 4, "inodes"), (4, 4, "blocks"), (20, 4, "first data block"), (24, 4, "log block size"), (32, 4, "blocks/group"),
                (40, 4, "inodes/group"), (76, 4, "rev"), (84, 4, "first inode"), (88, 2, "inode size"), (92, 4, "compat"),
                (96, 4, "incompat"), (100, 4, "ro_compat"), (254, 2, "desc size"), (0x15c, 4, "min extra isize"),
            };
            var (off, w, name) = f[r.Next(f.Length)];
            uint v = r.Next(3) == 0 ? (uint)r.Next() : Interesting[r.Next(Interesting.Length)];
            if (name == "incompat" || name == "ro_compat" || name == "compat") v = U32(img, Sb + off) ^ (1u << r.Next(32));
            Put(img, Sb + off, w, v);
            return "superblock " + name + " = 0x" + v.ToString("x");
        }
    }

    // ---- ISO 9660 -----------------------------------------------------------------------------

    private static class Iso
    {
        private const int Bs = 2048;

        private readonly record struct Rec(int Offset, int Len, uint Extent, uint Size, bool Dir, int SuOffset, int SuLen, uint ParentExtent);

        /// <summary>Directory records reachable from the PVD's root (and the Joliet SVD's), bounded.</summary>
        private static List<Rec> Records(byte[] img)
        {
            var res = new List<Rec>();
            var todo = new Queue<(uint ext, uint size)>();
            for (int vd = 16; vd < 32 && (vd + 1) * Bs <= img.Length; vd++)
            {
                int o = vd * Bs;
                if (img[o] == 255) break;
                if (img[o] is 1 or 2) todo.Enqueue((U32(img, o + 156 + 2), U32(img, o + 156 + 10)));
            }
            var seen = new HashSet<uint>();
            while (todo.Count > 0 && seen.Count < 128)
            {
                var (ext, size) = todo.Dequeue();
                if (!seen.Add(ext)) continue;
                long start = (long)ext * Bs, end = Math.Min(start + Math.Min(size, 64 * Bs), img.Length);
                long p = start;
                while (p < end)
                {
                    int len = img[p];
                    if (len == 0) { p = (p / Bs + 1) * Bs; continue; }
                    if (len < 34 || p + len > end) break;
                    int nl = img[p + 32];
                    int su = 33 + nl + ((nl & 1) == 0 ? 1 : 0);
                    bool dir = (img[p + 25] & 2) != 0;
                    var rec = new Rec((int)p, len, U32(img, p + 2), U32(img, p + 10), dir, (int)p + su, Math.Max(0, len - su), ext);
                    res.Add(rec);
                    bool dot = nl == 1 && img[p + 33] is 0 or 1;
                    if (dir && !dot) todo.Enqueue((rec.Extent, rec.Size));
                    p += len;
                }
            }
            return res;
        }

        private static string Identifier(byte[] img, Rec r) => Encoding.ASCII.GetString(img, r.Offset + 33, img[r.Offset + 32]);

        /// <summary>Known case: the primary tree's record of sub/deeper/deepest names sub's extent.</summary>
        public static string? AncestorRecord(byte[] img)
        {
            var recs = Records(img);
            Rec deepest = recs.Find(r => r.Dir && Identifier(img, r) == "DEEPEST"), sub = recs.Find(r => r.Dir && Identifier(img, r) == "SUB");
            if (deepest.Offset == 0 || sub.Offset == 0) return null;
            Both32(img, deepest.Offset + 2, sub.Extent);
            Both32(img, deepest.Offset + 10, sub.Size);
            return "record 'deepest' at " + deepest.Offset + " -> extent " + sub.Extent + " (its grandparent 'sub')";
        }

        /// <summary>Known case: a NUL in the SL component of "link" ("readme.txt").</summary>
        public static string? NulInSlTarget(byte[] img)
        {
            foreach (Rec r in Records(img))
                for (int p = r.SuOffset, end = r.SuOffset + r.SuLen; p + 17 <= end; p++)
                    if (img[p] == 'S' && img[p + 1] == 'L' && img[p + 3] == 1 && Encoding.ASCII.GetString(img, p + 7, 10) == "readme.txt")
                    {
                        img[p + 7 + 2] = 0;
                        return "SL entry at " + p + " target \"re\\0dme.txt\"";
                    }
            return null;
        }

        private static void Both32(byte[] img, int at, uint v)
        {
            Put(img, at, 4, v);
            if (at + 8 <= img.Length) BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(at + 4), v);
        }

        public static string Targeted(byte[] img, Random r)
        {
            var recs = Records(img);
            var dirs = recs.FindAll(x => x.Dir && !(img[x.Offset + 32] == 1 && img[x.Offset + 33] is 0 or 1));
            var withSu = recs.FindAll(x => x.SuLen >= 28);
            switch (r.Next(8))
            {
                case 0: case 1: return VdField(img, r);
                case 2:
                {
                    if (dirs.Count == 0) return VdField(img, r);
                    Rec d = dirs[r.Next(dirs.Count)];
                    uint to = r.Next(2) == 0 ? d.ParentExtent : U32(img, 16 * Bs + 156 + 2);
                    Both32(img, d.Offset + 2, to);
                    return "directory record at " + d.Offset + " extent -> " + to + " (a cycle)";
                }
                case 3:
                {
                    if (recs.Count == 0) return VdField(img, r);
                    Rec x = recs[r.Next(recs.Count)];
                    uint v = new uint[] { 0xffffffff, 0x7fffffff, 0x80000000, (uint)img.Length * 8, 1 }[r.Next(5)];
                    Both32(img, x.Offset + 10, v);
                    return "record at " + x.Offset + " data length 0x" + v.ToString("x");
                }
                case 4:
                {
                    if (recs.Count == 0) return VdField(img, r);
                    Rec x = recs[r.Next(recs.Count)];
                    uint v = r.Next(2) == 0 ? (uint)(img.Length / Bs) + (uint)r.Next(100) : 0xfffffff0;
                    Both32(img, x.Offset + 2, v);
                    return "record at " + x.Offset + " extent " + v;
                }
                case 5:
                {
                    // A SUSP continuation (CE) that continues into itself.
                    if (withSu.Count == 0) return VdField(img, r);
                    Rec x = withSu[r.Next(withSu.Count)];
                    int at = x.SuOffset;
                    img[at] = (byte)'C'; img[at + 1] = (byte)'E'; img[at + 2] = 28; img[at + 3] = 1;
                    Both32(img, at + 4, (uint)(at / Bs));
                    Both32(img, at + 12, (uint)(at % Bs));
                    Both32(img, at + 20, r.Next(2) == 0 ? 28u : 0xffffffffu);
                    return "CE loop at " + at;
                }
                case 6:
                {
                    // SUSP entries with lengths 0, 3 or past the area; NM/SL fragments with bad flags.
                    if (withSu.Count == 0) return VdField(img, r);
                    Rec x = withSu[r.Next(withSu.Count)];
                    int at = x.SuOffset + (r.Next(2) == 0 ? 0 : Math.Min(x.SuLen - 4, r.Next(x.SuLen)));
                    if (r.Next(2) == 0) img[at + 2] = (byte)new[] { 0, 1, 3, 4, 255 }[r.Next(5)];
                    else { string sig = new[] { "NM", "SL", "PX", "TF", "SP", "ST", "RE", "CL", "PL" }[r.Next(9)]; img[at] = (byte)sig[0]; img[at + 1] = (byte)sig[1]; img[at + 4] = (byte)r.Next(256); }
                    return "SUSP entry at " + at + " mangled";
                }
                default:
                {
                    if (recs.Count == 0) return VdField(img, r);
                    Rec x = recs[r.Next(recs.Count)];
                    int which = r.Next(3);
                    if (which == 0) img[x.Offset + 32] = (byte)(r.Next(2) == 0 ? 0 : 255);
                    else if (which == 1) img[x.Offset] = (byte)new[] { 1, 33, 34, 255 }[r.Next(4)];
                    else img[x.Offset + 1] = (byte)r.Next(256);
                    return "record at " + x.Offset + " length field " + which;
                }
            }
        }

        private static string VdField(byte[] img, Random r)
        {
            int vd = 16 + r.Next(3);
            (int off, int w, string name)[] f =
            {
                (0, 1, "type"), (80, 4, "volume space size"), (120, 2, "set size"), (128, 2, "logical block size"), (132, 4, "path table size"),
                (140, 4, "L path table"), (156 + 2, 4, "root extent"), (156 + 10, 4, "root size"), (156, 1, "root record length"), (156 + 25, 1, "root flags"),
            };
            var (off, w, name) = f[r.Next(f.Length)];
            uint v = r.Next(3) == 0 ? (uint)r.Next() : Interesting[r.Next(Interesting.Length)];
            Put(img, vd * Bs + off, w, v);
            return "volume descriptor " + vd + " " + name + " = 0x" + v.ToString("x");
        }
    }
}

/// <summary>What one iteration saw (for statistics), filled by <see cref="Walker"/>.</summary>
public sealed class IterationStats
{
    public bool Mounted, Wrote;
    public int Entries, FilesRead, Errors;
    public long BytesRead;
    public string? UnmountError;
    /// <summary>A directory the walk met inside itself: the driver let a cycle through.</summary>
    public string? Cycle;
}

/// <summary>Mount + full walk through the managed API. Every call must return (a value or -errno).</summary>
public static unsafe class Walker
{
    public const string MountPoint = "/mnt";
    private const int MaxDepth = 48, MaxEntries = 4000;
    private const long MaxFileBytes = 8L << 20;

    /// <summary>Mounts <paramref name="fspec"/> (probing first, then as the target's type), walks, optionally writes, unmounts.</summary>
    public static IterationStats Run(RumpKernel k, FuzzTarget t, string fspec, bool write)
    {
        var st = new IterationStats();
        int flags = write ? 0 : Abi.MNT_RDONLY;
        int e = k.MountAuto(fspec, MountPoint, flags, out string? fstype, out _);
        if (e < 0 && fstype == null) e = k.MountAs(t.FsType, fspec, MountPoint, flags);
        if (e < 0) return st;
        st.Mounted = true;
        byte[] buf = new byte[64 * 1024];
        int budget = MaxEntries;
        var inside = new HashSet<(ulong, ulong)>();
        if (k.Lstat(MountPoint, out RumpStat root) == 0) inside.Add((root.st_dev, root.st_ino));
        WalkDir(k, MountPoint, 0, ref budget, buf, st, inside);
        k.Statvfs(MountPoint, out _);
        if (write)
        {
            st.Wrote = true;
            Writes(k, st);
        }
        e = k.Unmount(MountPoint);
        if (e < 0)
        {
            st.UnmountError = "unmount: error " + (-e);
            k.Unmount(MountPoint, Abi.MNT_FORCE);
        }
        return st;
    }

    private static void WalkDir(RumpKernel k, string dir, int depth, ref int budget, byte[] buf, IterationStats st, HashSet<(ulong, ulong)> inside)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        if (k.ReadDir(dir, l) < 0) st.Errors++;
        foreach (var (name, _, _) in l)
        {
            if (name == "." || name == ".." || --budget < 0) continue;
            st.Entries++;
            string p = dir + "/" + name;
            if (p.Length > 900) { st.Errors++; continue; }
            if (k.Lstat(p, out RumpStat s) < 0) { st.Errors++; continue; }
            switch ((int)(s.st_mode & Abi.S_IFMT))
            {
                case Abi.S_IFDIR:
                    // Directories form a tree: one that is its own ancestor would make every walk endless.
                    if (!inside.Add((s.st_dev, s.st_ino))) { st.Cycle ??= p + " is one of its own ancestors (inode " + s.st_ino + ")"; break; }
                    if (depth < MaxDepth) WalkDir(k, p, depth + 1, ref budget, buf, st, inside);
                    inside.Remove((s.st_dev, s.st_ino));
                    break;
                case Abi.S_IFLNK:
                    if (k.Readlink(p, out _) == null) st.Errors++;
                    k.Stat(p, out _);
                    break;
                case Abi.S_IFREG:
                    ReadFile(k, p, s.st_size, buf, st);
                    break;
            }
        }
    }

    private static void ReadFile(RumpKernel k, string p, long size, byte[] buf, IterationStats st)
    {
        int fd = k.Open(p, Abi.O_RDONLY);
        if (fd < 0) { st.Errors++; return; }
        st.FilesRead++;
        long total = 0;
        while (total < MaxFileBytes)
        {
            long n = k.Read(fd, buf);
            if (n < 0) { st.Errors++; break; }
            if (n == 0) break;
            total += n;
        }
        st.BytesRead += total;
        // The far end of a (possibly absurd) size, and past it.
        if (size > 0) k.Pread(fd, buf.AsSpan(0, 4096), Math.Max(0, size - 100));
        k.Pread(fd, buf.AsSpan(0, 512), long.MaxValue / 2);
        k.Fstat(fd, out _);
        k.Close(fd);
    }

    /// <summary>A little of everything that allocates and frees on a possibly corrupt volume.</summary>
    private static void Writes(RumpKernel k, IterationStats st)
    {
        byte[] data = new byte[20000];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 7);
        int fd = k.Open(MountPoint + "/fuzz-new.bin", Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, 0x1a4);
        if (fd >= 0) { k.Write(fd, data); k.Pwrite(fd, data.AsSpan(0, 100), 1 << 20); k.Ftruncate(fd, 5000); k.Close(fd); }
        k.Mkdir(MountPoint + "/fuzz-dir", 0x1ed);
        k.Rename(MountPoint + "/fuzz-new.bin", MountPoint + "/fuzz-dir/moved.bin");
        k.Rename(MountPoint + "/readme.txt", MountPoint + "/sub/readme-moved.txt");
        k.Unlink(MountPoint + "/big.bin");
        k.Rmdir(MountPoint + "/sub/deeper/deepest");
        fd = k.Open(MountPoint + "/many/file-number-003.dat", Abi.O_WRONLY | Abi.O_APPEND);
        if (fd >= 0) { k.Write(fd, data.AsSpan(0, 3000)); k.Close(fd); }
        k.Symlink("readme.txt", MountPoint + "/fuzz-link");
        k.Chmod(MountPoint + "/empty", 0x1ff);
        k.Sync();
    }
}

/// <summary>A failure: a hang, a harness error, or a host-side check that did not hold.</summary>
public sealed record FuzzFailure(string Target, long Seed, int Iteration, string Kind, string Mutation, string Message)
{
    public override string ToString() =>
        Kind + " in " + Target + " at seed " + Seed + " iteration " + Iteration + ": " + Message + " [mutation: " + Mutation + "]" +
        " (reproduce: --fs " + Target + " --seed " + Seed + " --only " + Iteration + ")";
}

public sealed class FuzzSummary
{
    public int Iterations, Mounted, Wrote;
    public long Entries, FilesRead, Errors;
    public readonly List<FuzzFailure> Failures = new();
    public readonly List<string> Notes = new();
    public override string ToString() =>
        Iterations + " iterations, " + Mounted + " mounted (" + Wrote + " written), " + Entries + " entries, " + FilesRead + " files read, " + Errors + " errnos; " + Failures.Count + " failures";
}

/// <summary>
/// One target's fuzzing: the seed image is made once in a fresh temp directory beside a canary
/// file; each iteration writes the mutated copy there, registers it with etfs in this run's kernel,
/// mounts and walks it, and removes it. The iterations run on a worker thread; the caller's thread
/// is the watchdog.
/// </summary>
public sealed class FuzzRun : IDisposable
{
    public readonly FuzzTarget Target;
    public readonly string Dir;
    private readonly byte[] _base;
    private readonly Layout _layout;
    private readonly string _work, _canary;
    private readonly Dictionary<string, (long len, DateTime mtime)> _listing;
    private RumpKernel? _k;

    /// <summary>Prints progress lines ("@iter N") when set: a parent process reads them to name a crash.</summary>
    public Action<string>? Log;

    public FuzzRun(FuzzTarget t, string? tempRoot = null)
    {
        Target = t;
        Dir = Path.Combine(tempRoot ?? Path.GetTempPath(), "rump-fsfuzz-" + t.Name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        string tree = Path.Combine(Dir, "tree");
        ImageMaker.MakeTree(tree, symlinks: t.FsType != "msdos");
        string seedImg = Path.Combine(Dir, "seed.img");
        string? err = ImageMaker.Make(t, tree, seedImg);
        Directory.Delete(tree, true);
        if (err != null)
        {
            Directory.Delete(Dir, true);
            throw new InvalidOperationException("cannot make the " + t.Name + " image: " + err);
        }
        _base = File.ReadAllBytes(seedImg);
        _layout = new Layout(_base);
        _work = Path.Combine(Dir, "work.img");
        _canary = Path.Combine(Dir, "canary.txt");
        File.WriteAllText(_canary, "nothing may touch this file\n");
        File.WriteAllBytes(_work, _base);
        _listing = Listing();
    }

    public int MetadataSectors => _layout.MetaSectors.Length;
    public int ImageSize => _base.Length;

    /// <summary>Known cases of a target (<see cref="Mutator.Known"/>): iterations -N..-1 of every run.</summary>
    public static int KnownCases(FuzzTarget t) => Mutator.Known(t).Length;

    /// <summary>The Random of one iteration: a function of (seed, iteration) only.</summary>
    public static Random IterationRandom(long seed, int iteration)
    {
        ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)iteration + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return new Random((int)(z ^ (z >> 31)) & int.MaxValue);
    }

    /// <summary>The image of an iteration and what was done to it; a negative iteration is a known case.</summary>
    public byte[] MutatedImage(long seed, int iteration, out string what)
    {
        if (iteration < 0)
        {
            var known = Mutator.Known(Target);
            int k = known.Length + iteration;
            if (k < 0) throw new ArgumentOutOfRangeException(nameof(iteration), Target.Name + " has " + known.Length + " known cases (-" + known.Length + "..-1)");
            byte[] img = (byte[])_base.Clone();
            string? did = known[k].Apply(img);
            if (did == null) throw new InvalidOperationException("known case '" + known[k].Name + "' found nothing to change in the " + Target.Name + " seed image");
            what = "known case: " + known[k].Name + ": " + did;
            return img;
        }
        Random r = IterationRandom(seed, iteration);
        return Mutator.Mutate(Target, (byte[])_base.Clone(), _layout, r, out what);
    }

    /// <summary>
    /// Runs iterations [start, start + count) under the watchdog. A hang stops the run (the stuck
    /// kernel thread cannot be reclaimed) and is returned as a failure.
    /// </summary>
    public FuzzSummary Run(long seed, int start, int count, TimeSpan perIteration)
    {
        var sum = new FuzzSummary();
        int current = -1;
        string currentWhat = "";
        long startedAt = 0;
        bool done = false;
        Exception? harnessError = null;
        var worker = new Thread(() =>
        {
            try
            {
                _k ??= RumpKernel.Boot();
                if (_k.Mkdir(Walker.MountPoint, 0x1ed) is < 0 and not -Abi.EEXIST) throw new InvalidOperationException("mkdir /mnt");
                for (int i = start; i < start + count; i++)
                {
                    byte[] img = MutatedImage(seed, i, out string what);
                    Volatile.Write(ref currentWhat, what);
                    Volatile.Write(ref startedAt, Stopwatch.GetTimestamp());
                    Volatile.Write(ref current, i);
                    Log?.Invoke("@iter " + i);
                    FuzzFailure? f = One(seed, i, img, what, sum);
                    if (f != null) lock (sum) sum.Failures.Add(f);
                }
            }
            catch (Exception ex) { harnessError = ex; }
            finally { _k?.LwprocSwitch(null); Volatile.Write(ref done, true); }
        }) { IsBackground = true, Name = "fsfuzz-" + Target.Name };
        worker.Start();
        while (!Volatile.Read(ref done))
        {
            Thread.Sleep(50);
            long t0 = Volatile.Read(ref startedAt);
            if (t0 != 0 && !Volatile.Read(ref done) && Stopwatch.GetElapsedTime(t0) > perIteration)
            {
                lock (sum) sum.Failures.Add(new FuzzFailure(Target.Name, seed, Volatile.Read(ref current), "HANG", Volatile.Read(ref currentWhat),
                    "the iteration did not finish within " + perIteration.TotalSeconds + " s"));
                return sum;
            }
        }
        if (harnessError != null)
            sum.Failures.Add(new FuzzFailure(Target.Name, seed, current, "HARNESS", currentWhat, harnessError.ToString()));
        return sum;
    }

    private FuzzFailure? One(long seed, int i, byte[] img, string what, FuzzSummary sum)
    {
        RumpKernel k = _k!;
        File.WriteAllBytes(_work, img);
        string key = "/dev/fz" + i;
        int e = k.EtfsRegister(key, _work, Abi.ETFS_BLK);
        if (e < 0) return new FuzzFailure(Target.Name, seed, i, "ETFS", what, "etfs register: error " + (-e));
        // Read-write on a quarter of the iterations where the file system writes.
        bool write = Target.Writable && IterationRandom(seed ^ 0x5eed, i).Next(4) == 0;
        IterationStats st = Walker.Run(k, Target, key, write);
        e = k.EtfsRemove(key);
        sum.Iterations++;
        if (st.Mounted) sum.Mounted++;
        if (st.Wrote) sum.Wrote++;
        sum.Entries += st.Entries; sum.FilesRead += st.FilesRead; sum.Errors += st.Errors;
        if (st.UnmountError != null) sum.Notes.Add("seed " + seed + " iteration " + i + ": " + st.UnmountError + " [" + what + "]");
        if (e < 0) return new FuzzFailure(Target.Name, seed, i, "ETFS", what, "etfs remove: error " + (-e) + " (a device still mounted?)");
        if (st.Cycle != null) return new FuzzFailure(Target.Name, seed, i, "CYCLE", what, st.Cycle);
        if (i < 0 && FsuChecks() is string fsuBad) return new FuzzFailure(Target.Name, seed, i, "FSU", what, fsuBad);
        string? bad = CheckHost(i % 64 == 0);
        return bad == null ? null : new FuzzFailure(Target.Name, seed, i, "HOST", what, bad);
    }

    /// <summary>
    /// Every fsu command on the image of a known case: each must end with status 0 or 1, and no
    /// exception may reach fsu's guards (one that does is printed with its type). cp writes beside
    /// the run's directory, so the host check of the directory is not disturbed; rm runs last.
    /// </summary>
    private string? FsuChecks()
    {
        string outDir = Dir + "-out";
        var cmds = new List<string[]>
        {
            new[] { "ls", "-laR", _work, "/" },
            new[] { "find", _work, "/" },
            new[] { "stat", _work, "/link", "/sub/deeper/deepest", "/readme.txt" },
            new[] { "cat", _work, "/readme.txt", "/link" },
            new[] { "cp", "-rp", _work, "/", outDir },
            new[] { "df", _work },
        };
        if (Target.Writable) cmds.Add(new[] { "rm", "-r", _work, "/sub" });
        try
        {
            Directory.CreateDirectory(outDir);
            foreach (string[] cmd in cmds)
            {
                var o = new StringWriter();
                var e = new StringWriter();
                int rc;
                try { rc = Rump.Fsu.Fsu.Run(cmd, o, e); }
                catch (Exception ex) { return "fsu " + cmd[0] + " threw " + ex.GetType().Name + ": " + ex.Message; }
                string err = e.ToString();
                if (rc is not (0 or 1)) return "fsu " + string.Join(' ', cmd) + " exited " + rc + ": " + err.Trim();
                foreach (string line in err.Split('\n'))
                    if (line.Contains("Exception", StringComparison.Ordinal))
                        return "fsu " + cmd[0] + ": an exception reached a guard: " + line.Trim();
            }
            return null;
        }
        finally { RemoveTree(outDir); }
    }

    /// <summary>Deletes a copied tree even where cp -p kept a mode without write permission.</summary>
    private static void RemoveTree(string dir)
    {
        if (!Directory.Exists(dir)) return;
        try
        {
            MakeWritable(dir);
            Directory.Delete(dir, true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static void MakeWritable(string dir)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (string d in Directory.GetDirectories(dir))
            if (new FileInfo(d).LinkTarget == null) MakeWritable(d);
    }

    /// <summary>Files beside the image copy stay as they were (the seed image byte for byte every so often).</summary>
    private string? CheckHost(bool full)
    {
        var now = Listing();
        foreach (var kv in now)
        {
            if (kv.Key == "work.img") continue;
            if (!_listing.TryGetValue(kv.Key, out var was)) return "a file appeared beside the image: " + kv.Key;
            if (was != kv.Value) return kv.Key + " changed (size or time)";
        }
        foreach (var kv in _listing)
            if (!now.ContainsKey(kv.Key)) return kv.Key + " disappeared";
        if (full && !File.ReadAllBytes(Path.Combine(Dir, "seed.img")).AsSpan().SequenceEqual(_base)) return "the seed image changed";
        return null;
    }

    private Dictionary<string, (long, DateTime)> Listing()
    {
        var d = new Dictionary<string, (long, DateTime)>();
        foreach (string p in Directory.EnumerateFileSystemEntries(Dir, "*", SearchOption.AllDirectories))
        {
            var fi = new FileInfo(p);
            d[Path.GetRelativePath(Dir, p)] = (fi.Exists ? fi.Length : -1, fi.LastWriteTimeUtc);
        }
        return d;
    }

    /// <summary>Removes the temp directory (kept when a crash needs its work.img).</summary>
    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
