using System;
using System.Text;
using NUnit.Framework;
using Rump.Fs.Cd9660.Wire;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// cd9660's wire layer: byte-fixture round trips and hostile inputs for every on-disk format it
/// parses (both-endian numbers, dates, volume descriptors, directory records, SUSP, Rock Ridge,
/// ISO/Joliet name translation).
/// </summary>
public class Cd9660WireTests
{
    private static string Chars(ReadOnlySpan<char> s) => new string(s);
    /// <summary>A one-char-per-byte name as the UTF-8 string it encodes.</summary>
    private static string Utf8(ReadOnlySpan<char> s)
    {
        var b = new byte[s.Length];
        for (int i = 0; i < s.Length; i++) b[i] = (byte)s[i];
        return Encoding.UTF8.GetString(b);
    }

    [Test]
    public void BothEndianNumbers_RoundTrip_ReadTheLittleEndianHalf()
    {
        var b = new byte[8];
        IsoNum.Write733(b, 0x12345678);
        Assert.That(b, Is.EqualTo(new byte[] { 0x78, 0x56, 0x34, 0x12, 0x12, 0x34, 0x56, 0x78 }));
        Assert.That(IsoNum.Read733(b), Is.EqualTo(0x12345678u));
        IsoNum.Write723(b, 0x0800);
        Assert.That(b.AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x00, 0x08, 0x08, 0x00 }));
        Assert.That(IsoNum.Read723(b), Is.EqualTo(0x800));
    }

    [Test]
    public void ShortDate_KnownFixture_WithGmtOffset()
    {
        // 2001-02-03 04:05:06 at GMT+1 (4 quarter hours) is 03:05:06 UTC: 981169506.
        byte[] d = { 101, 2, 3, 4, 5, 6, 4 };
        Assert.That(IsoTime.DecodeShort(d).tv_sec, Is.EqualTo(981169506L));
        var e = new byte[7];
        IsoTime.EncodeShort(e, 981169506L, 4);
        Assert.That(e, Is.EqualTo(d));
        Assert.That(IsoTime.DecodeShort(new byte[7]).tv_sec, Is.EqualTo(0), "all zeros is unset");
        Assert.That(IsoTime.DecodeShort(new byte[] { 101, 13, 3, 4, 5, 6, 0 }).tv_sec, Is.EqualTo(0), "month 13");
        Assert.That(IsoTime.DecodeShort(new byte[] { 101, 2, 3, 4, 5, 6, 100 }).tv_sec, Is.EqualTo(0), "offset out of range");
    }

    [Test]
    public void LongDate_RoundTrip_Centiseconds_AndGarbage()
    {
        var d = new byte[17];
        IsoTime.EncodeLong(d, 1700000000L, centi: 42, gmtoff15: -20);
        Assert.That(Encoding.ASCII.GetString(d, 0, 16), Is.EqualTo("2023111417132042"), "local time at GMT-5");
        RumpTimespec t = IsoTime.DecodeLong(d);
        Assert.That(t.tv_sec, Is.EqualTo(1700000000L));
        Assert.That(t.tv_nsec, Is.EqualTo(420_000_000));
        Assert.That(IsoTime.DecodeLong("0000000000000000\0"u8).tv_sec, Is.EqualTo(0));
        Assert.That(IsoTime.DecodeLong("20x3111416531342\0"u8).tv_sec, Is.EqualTo(0), "non-digit");
        Assert.That(IsoTime.DecodeLong("2023"u8).tv_sec, Is.EqualTo(0), "truncated");
    }

    [Test]
    public void VolumeDescriptor_PrimaryAndJolietSupplementary_RoundTrip()
    {
        var s = new byte[2048];
        var pvd = new VolumeDescriptor { Type = VdType.Primary, LogicalBlockSize = 2048, VolumeSpaceSize = 1234, RootExtent = 20, RootSize = 4096 };
        VolumeDescriptor.Emit(s, pvd);
        Assert.That(VolumeDescriptor.Parse(s, out VolumeDescriptor p), Is.EqualTo(0));
        Assert.That((p.Type, p.LogicalBlockSize, p.VolumeSpaceSize, p.RootExtent, p.RootSize, p.JolietLevel),
            Is.EqualTo((VdType.Primary, (ushort)2048, 1234u, 20u, 4096u, 0)));
        foreach (int level in new[] { 1, 2, 3 })
        {
            VolumeDescriptor.Emit(s, new VolumeDescriptor { Type = VdType.Supplementary, LogicalBlockSize = 2048, RootExtent = 30, RootSize = 2048, JolietLevel = level });
            Assert.That(VolumeDescriptor.Parse(s, out VolumeDescriptor j), Is.EqualTo(0));
            Assert.That(j.JolietLevel, Is.EqualTo(level), "escape sequence of level " + level);
        }
        VolumeDescriptor.Emit(s, new VolumeDescriptor { Type = VdType.Terminator });
        Assert.That(VolumeDescriptor.Parse(s, out VolumeDescriptor t), Is.EqualTo(0));
        Assert.That(t.Type, Is.EqualTo(VdType.Terminator));
    }

    [Test]
    public void VolumeDescriptor_Hostile()
    {
        var s = new byte[2048];
        Assert.That(VolumeDescriptor.Parse(s, out _), Is.EqualTo(Abi.EINVAL), "no CD001");
        Assert.That(VolumeDescriptor.Parse(new byte[100], out _), Is.EqualTo(Abi.EINVAL), "short");
        VolumeDescriptor.Emit(s, new VolumeDescriptor { Type = VdType.Primary, LogicalBlockSize = 2048, RootExtent = 20, RootSize = 2048 });
        IsoNum.Write723(s.AsSpan(128), 4096);
        Assert.That(VolumeDescriptor.Parse(s, out _), Is.EqualTo(Abi.EFTYPE), "block size 4096");
        IsoNum.Write723(s.AsSpan(128), 0);
        Assert.That(VolumeDescriptor.Parse(s, out _), Is.EqualTo(Abi.EFTYPE), "block size 0");
        IsoNum.Write723(s.AsSpan(128), 2048);
        s[156] = 0;
        Assert.That(VolumeDescriptor.Parse(s, out _), Is.EqualTo(Abi.EFTYPE), "root record length 0");
        s[156] = 34;
        s[156 + 25] = 0;
        Assert.That(VolumeDescriptor.Parse(s, out _), Is.EqualTo(Abi.EFTYPE), "root not a directory");
    }

    [Test]
    public void DirRecord_RoundTrip_OddAndEvenNames()
    {
        var b = new byte[255];
        var date = new byte[7];
        IsoTime.EncodeShort(date, 981169506L);
        byte[] sua = { (byte)'P', (byte)'X', 4, 1 };
        foreach (string name in new[] { "A.TXT;1", "AB.TX;1" })
        {
            int len = DirRecord.Emit(b, 77, 12345, date, DirRecord.FlagMultiExtent, Encoding.ASCII.GetBytes(name), sua, xattrLen: 2);
            Assert.That(len % 2, Is.EqualTo(0));
            Assert.That(DirRecord.Parse(b.AsSpan(0, len), out DirRecord r), Is.EqualTo(0));
            Assert.That(r.Length, Is.EqualTo(len));
            Assert.That(r.Extent, Is.EqualTo(77u));
            Assert.That(r.DataLength, Is.EqualTo(12345u));
            Assert.That(r.XattrLength, Is.EqualTo(2));
            Assert.That(r.IsMultiExtent && !r.IsDirectory && !r.IsDot && !r.IsDotDot, Is.True);
            Assert.That(Encoding.ASCII.GetString(r.Name), Is.EqualTo(name));
            Assert.That(r.SystemUse.Slice(0, 4).ToArray(), Is.EqualTo(sua), "SUA after the pad byte for " + name);
            Assert.That(IsoTime.DecodeShort(r.Date).tv_sec, Is.EqualTo(981169506L));
        }
        int dl = DirRecord.Emit(b, 20, 2048, date, DirRecord.FlagDirectory, [0], default);
        Assert.That(dl, Is.EqualTo(34));
        Assert.That(DirRecord.Parse(b.AsSpan(0, dl), out DirRecord dot), Is.EqualTo(0));
        Assert.That(dot.IsDot && dot.IsDirectory, Is.True);
    }

    [Test]
    public void DirRecord_Hostile_LengthsAreChecked()
    {
        var b = new byte[64];
        int len = DirRecord.Emit(b, 1, 1, new byte[7], 0, "ABCDEFGH"u8, default);
        Assert.That(DirRecord.Parse(b.AsSpan(0, len - 1), out _), Is.EqualTo(Abi.EIO), "record runs past the block");
        b[0] = 0;
        Assert.That(DirRecord.Parse(b, out _), Is.EqualTo(Abi.EIO), "length 0");
        b[0] = 33;
        Assert.That(DirRecord.Parse(b, out _), Is.EqualTo(Abi.EIO), "length below the minimum");
        b[0] = (byte)len;
        b[32] = 200;
        Assert.That(DirRecord.Parse(b, out _), Is.EqualTo(Abi.EIO), "name longer than the record");
        b[32] = 0;
        Assert.That(DirRecord.Parse(b, out _), Is.EqualTo(Abi.EIO), "empty name");
    }

    [Test]
    public void Susp_ReaderStopsAtDamage_AndAtST()
    {
        var a = new byte[64];
        int n = Susp.EmitSp(a, 3);
        n += RockRidge.EmitNm(a.AsSpan(n), 0, "x"u8);
        int stAt = n;
        n += SuspEntry.Emit(a.AsSpan(n), Susp.ST, default);
        RockRidge.EmitNm(a.AsSpan(n), 0, "after"u8);
        Assert.That(Susp.ParseSp(a, out int skip), Is.True);
        Assert.That(skip, Is.EqualTo(3));
        var r = new SuspReader(a);
        Assert.That(r.Next(out SuspEntry e) && e.Signature == Susp.SP, Is.True);
        Assert.That(r.Next(out e) && e.Signature == RockRidge.NM, Is.True);
        Assert.That(r.Next(out _), Is.False, "ST ends the area");

        a[stAt + 2] = 2; // a length below the header
        r = new SuspReader(a);
        r.Next(out _); r.Next(out _);
        Assert.That(r.Next(out _), Is.False, "length 2 stops the walk");
        a[stAt + 2] = 250; // past the end
        r = new SuspReader(a);
        r.Next(out _); r.Next(out _);
        Assert.That(r.Next(out _), Is.False, "length past the area stops the walk");
        a[4] = 0;
        Assert.That(Susp.ParseSp(a, out _), Is.False, "bad check bytes");
    }

    [Test]
    public void Susp_CeAndEr_RoundTrip()
    {
        var a = new byte[64];
        int n = Susp.EmitCe(a, 99, 100, 300);
        Assert.That(n, Is.EqualTo(28));
        var r = new SuspReader(a.AsSpan(0, n));
        Assert.That(r.Next(out SuspEntry e), Is.True);
        Assert.That(Susp.ParseCe(e.Data, out uint blk, out uint off, out uint len), Is.True);
        Assert.That((blk, off, len), Is.EqualTo((99u, 100u, 300u)));
        n = Susp.EmitEr(a, "RRIP_1991A"u8);
        r = new SuspReader(a.AsSpan(0, n));
        Assert.That(r.Next(out e) && Susp.ParseErId(e.Data, out ReadOnlySpan<byte> id) && id.SequenceEqual("RRIP_1991A"u8), Is.True);
    }

    [Test]
    public void RockRidge_PxPnTfNm_RoundTrip()
    {
        var a = new byte[128];
        int n = RockRidge.EmitPx(a, 0x81a4, 3, 1000, 100, serial: 7);
        var r = new SuspReader(a.AsSpan(0, n));
        Assert.That(r.Next(out SuspEntry e), Is.True);
        Assert.That(RockRidge.ParsePx(e.Data, out uint mode, out uint nlink, out uint uid, out uint gid, out uint serial, out bool hasSerial), Is.True);
        Assert.That((mode, nlink, uid, gid, serial, hasSerial), Is.EqualTo((0x81a4u, 3u, 1000u, 100u, 7u, true)));
        Assert.That(RockRidge.ParsePx(e.Data.Slice(0, 20), out _, out _, out _, out _, out _, out _), Is.False, "short PX");

        n = RockRidge.EmitPn(a, 0, 0x0103);
        r = new SuspReader(a.AsSpan(0, n));
        r.Next(out e);
        Assert.That(RockRidge.ParsePn(e.Data, out uint hi, out uint lo) && hi == 0 && lo == 0x103, Is.True);

        n = RockRidge.EmitTf(a, 1000000000L, 1100000000L, 1200000000L);
        r = new SuspReader(a.AsSpan(0, n));
        r.Next(out e);
        var times = new RumpTimespec[7];
        Assert.That(RockRidge.ParseTf(e.Data, times, out byte present), Is.True);
        Assert.That(present, Is.EqualTo(RockRidge.TfModify | RockRidge.TfAccess | RockRidge.TfAttributes));
        Assert.That((times[1].tv_sec, times[2].tv_sec, times[3].tv_sec), Is.EqualTo((1000000000L, 1100000000L, 1200000000L)));
        // A TF that promises more stamps than it holds keeps the ones that are there.
        Assert.That(RockRidge.ParseTf(e.Data.Slice(0, 10), times, out present), Is.True);
        Assert.That(present, Is.EqualTo(RockRidge.TfModify));

        n = RockRidge.EmitNm(a, RockRidge.Continue, "part"u8);
        r = new SuspReader(a.AsSpan(0, n));
        r.Next(out e);
        Assert.That(RockRidge.ParseNm(e.Data, out byte f, out ReadOnlySpan<byte> part) && f == RockRidge.Continue && part.SequenceEqual("part"u8), Is.True);
    }

    private static string Link(params (byte flags, string content)[][] entries)
    {
        var buf = new byte[64];
        var sl = new SymlinkBuilder(buf);
        var comp = new byte[300];
        foreach (var entry in entries)
        {
            int n = 0;
            foreach (var (flags, content) in entry) n += RockRidge.EmitSlComponent(comp.AsSpan(n), flags, Encoding.UTF8.GetBytes(content));
            Assert.That(sl.AddComponents(comp.AsSpan(0, n)), Is.True);
        }
        return sl.Overflow ? "<overflow>" : Encoding.UTF8.GetString(sl.Target);
    }

    [Test]
    public void SymlinkComponents_RootDotDotContinue()
    {
        Assert.That(Link([(RockRidge.Root, ""), (0, "usr"), (0, "lib")]), Is.EqualTo("/usr/lib"));
        Assert.That(Link([(RockRidge.Parent, ""), (RockRidge.Current, ""), (0, "a")]), Is.EqualTo(".././a"));
        // A component split over two SL entries with CONTINUE.
        Assert.That(Link([(0, "dir"), (RockRidge.Continue, "long")], [(0, "name"), (0, "x")]), Is.EqualTo("dir/longname/x"));
        Assert.That(Link([(0, "a"), (RockRidge.Root, ""), (0, "b")]), Is.EqualTo("/b"), "ROOT restarts");
        Assert.That(Link([(0, new string('x', 40)), (0, new string('y', 40))]), Is.EqualTo("<overflow>"));
        var sl = new SymlinkBuilder(new byte[16]);
        Assert.That(sl.AddComponents(new byte[] { 0, 5, (byte)'a' }), Is.False, "component longer than the entry");
    }

    [Test]
    public void IsoNames_VersionDotAndCase()
    {
        var d = new char[IsoName.MaxTranslated];
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateIso("HELLO.TXT;1"u8, true, d))), Is.EqualTo("hello.txt"));
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateIso("README.;1"u8, true, d))), Is.EqualTo("readme"));
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateIso("README."u8, true, d))), Is.EqualTo("readme"));
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateIso("DIR_1"u8, true, d))), Is.EqualTo("dir_1"));
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateIso("HELLO.TXT;1"u8, false, d))), Is.EqualTo("HELLO.TXT"));
    }

    [Test]
    public void JolietNames_Utf16ToUtf8()
    {
        var d = new char[IsoName.MaxTranslated];
        byte[] raw = Encoding.BigEndianUnicode.GetBytes("Ünï 名前 😀.txt;1");
        Assert.That(Utf8(d.AsSpan(0, IsoName.TranslateJoliet(raw, d))), Is.EqualTo("Ünï 名前 😀.txt"));
        byte[] lone = { 0xD8, 0x00, 0x00, (byte)'a' };
        Assert.That(Utf8(d.AsSpan(0, IsoName.TranslateJoliet(lone, d))), Is.EqualTo("\uFFFDa"), "unpaired surrogate");
        Assert.That(Chars(d.AsSpan(0, IsoName.TranslateJoliet("x"u8, d))), Is.EqualTo(""), "odd length: the stray byte is dropped");
        byte[] longest = Encoding.BigEndianUnicode.GetBytes(new string('名', 127));
        Assert.That(IsoName.TranslateJoliet(longest, d), Is.EqualTo(381));
    }

    [Test]
    public void Assembly_ReachesTheHostOnlyThroughTheKernel()
    {
        // The driver's type references, checked against what the kernel forbids (see HostAccessRuleTests).
        string[] banned = { "System.IO.File", "System.IO.Directory", "System.IO.FileStream", "System.IO.RandomAccess",
            "System.Threading.Thread", "System.Threading.Timer", "System.Threading.ThreadPool", "System.Threading.Tasks.Task",
            "System.Threading.Monitor", "System.Threading.Lock", "System.Threading.SemaphoreSlim", "System.Threading.Mutex",
            "System.Threading.ManualResetEventSlim", "System.Threading.ReaderWriterLockSlim", "System.Console", "System.Environment",
            "System.Diagnostics.Process", "System.Diagnostics.Stopwatch", "System.DateTime", "System.DateTimeOffset" };
        var asm = typeof(Rump.Fs.Cd9660.Cd9660Component).Assembly;
        using var pe = new System.Reflection.PortableExecutable.PEReader(System.IO.File.OpenRead(asm.Location));
        var md = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        foreach (var h in md.TypeReferences)
        {
            var t = md.GetTypeReference(h);
            string name = md.GetString(t.Namespace) + "." + md.GetString(t.Name);
            Assert.That(banned, Does.Not.Contain(name), "cd9660 references " + name);
        }
    }

    [Test]
    public void Names_Validity()
    {
        Assert.That(IsoName.IsValid("a"), Is.True);
        Assert.That(IsoName.IsValid(""), Is.False);
        Assert.That(IsoName.IsValid("."), Is.False);
        Assert.That(IsoName.IsValid(".."), Is.False);
        Assert.That(IsoName.IsValid("a/b"), Is.False);
        Assert.That(IsoName.IsValid("a\0"), Is.False);
        Assert.That(IsoName.IsValid(new string('a', 512)), Is.False);
    }
}
