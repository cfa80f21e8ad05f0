using System;
using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using Rump.Fs.Msdosfs.Wire;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>Byte-fixture round trips of the FAT on-disk formats (Rump.Fs.Msdosfs.Wire).</summary>
public class MsdosfsWireTests
{
    /// <summary>A FAT16 boot sector as mkfs.fat writes it for a 16 MiB image (mkfs.fat -F 16 -C img 16384).</summary>
    private static byte[] Fat16Boot()
    {
        var b = new Bpb
        {
            BytesPerSector = 512, SectorsPerCluster = 4, ReservedSectors = 4, NumFats = 2, RootEntries = 512,
            TotalSectors = 32768, Media = 0xF8, FatSectors = 32, SectorsPerTrack = 32, Heads = 2,
            DriveNumber = 0x80, BootSignature = 0x29, VolumeId = 0x12345678, Type = FatType.Fat16,
        };
        var s = new byte[512];
        b.Emit(s);
        return s;
    }

    [Test]
    public void Bpb_Fat16_ParsesLayout()
    {
        byte[] s = Fat16Boot();
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(s.AsSpan(11)), Is.EqualTo(512));
        Assert.That(s[510], Is.EqualTo(0x55));
        Assert.That(Bpb.Parse(s, out Bpb b), Is.EqualTo(0));
        Assert.That(b.Type, Is.EqualTo(FatType.Fat16));
        Assert.That(b.RootDirSectors, Is.EqualTo(32u));
        Assert.That(b.FirstRootDirSector, Is.EqualTo(4u + 2 * 32));
        Assert.That(b.FirstDataSector, Is.EqualTo(4u + 64 + 32));
        Assert.That(b.ClusterCount, Is.EqualTo((32768u - 100) / 4));
        Assert.That(b.VolumeId, Is.EqualTo(0x12345678u));
        var again = new byte[512];
        b.Emit(again);
        Assert.That(again.AsSpan(11, 51).SequenceEqual(s.AsSpan(11, 51)), "emit(parse(x)) == x for the BPB");
    }

    [Test]
    public void Bpb_Fat32_ParsesRootClusterAndFsInfo()
    {
        var b = new Bpb
        {
            BytesPerSector = 512, SectorsPerCluster = 1, ReservedSectors = 32, NumFats = 2, TotalSectors = 131072,
            Media = 0xF8, FatSectors = 1016, RootCluster = 2, FsInfoSector = 1, BackupBootSector = 6, Type = FatType.Fat32,
        };
        var s = new byte[512];
        b.Emit(s);
        Assert.That(Bpb.Parse(s, out Bpb p), Is.EqualTo(0));
        Assert.That(p.Type, Is.EqualTo(FatType.Fat32));
        Assert.That(p.RootCluster, Is.EqualTo(2u));
        Assert.That(p.FsInfoSector, Is.EqualTo(1));
        Assert.That(p.FirstDataSector, Is.EqualTo(32u + 2 * 1016));
        Assert.That(p.ClusterCount, Is.EqualTo(131072u - 2064));
    }

    [Test]
    public void Bpb_FatTypeFollowsClusterCountBoundaries()
    {
        // 4084 clusters is FAT12, 4085 FAT16 (spec 3.5), whatever the BPB's type string says.
        foreach (var (clusters, type) in new[] { (4084u, FatType.Fat12), (4085u, FatType.Fat16), (65524u, FatType.Fat16) })
        {
            uint fatSectors = 256;
            var b = new Bpb
            {
                BytesPerSector = 512, SectorsPerCluster = 1, ReservedSectors = 1, NumFats = 2, RootEntries = 16,
                FatSectors = fatSectors, Media = 0xF8, Type = FatType.Fat16,
            };
            b.TotalSectors = 1 + 2 * fatSectors + 1 + clusters;
            var s = new byte[512];
            b.Emit(s);
            Assert.That(Bpb.Parse(s, out Bpb p), Is.EqualTo(0), clusters + " clusters");
            Assert.That(p.Type, Is.EqualTo(type), clusters + " clusters");
            Assert.That(p.ClusterCount, Is.EqualTo(clusters));
        }
    }

    [Test]
    public void Bpb_RejectsBadValues()
    {
        void Expect(Action<byte[]> mutate, int errno, string what)
        {
            byte[] s = Fat16Boot();
            mutate(s);
            Assert.That(Bpb.Parse(s, out _), Is.EqualTo(errno), what);
        }
        Expect(s => s[510] = 0, Abi.EFTYPE, "no boot signature");
        Expect(s => BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(11), 500), Abi.EFTYPE, "bytes per sector 500");
        Expect(s => BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(11), 8192), Abi.EFTYPE, "bytes per sector 8192");
        Expect(s => s[13] = 3, Abi.EINVAL, "sectors per cluster not a power of 2");
        Expect(s => s[13] = 0, Abi.EINVAL, "sectors per cluster 0");
        Expect(s => BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(14), 0), Abi.EINVAL, "no reserved sectors");
        Expect(s => s[16] = 0, Abi.EINVAL, "no FATs");
        Expect(s => { BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(19), 0); BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(32), 0); }, Abi.EINVAL, "no sectors");
        Expect(s => BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(22), 0xFFFF), Abi.EINVAL, "FATs larger than the volume");
        Expect(s => BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(17), 0), Abi.EINVAL, "FAT16 without a root directory");
        Assert.That(Bpb.Parse(new byte[100], out _), Is.EqualTo(Abi.EINVAL), "short sector");
        // Wildly hostile: every byte 0xFF except the signature.
        byte[] ff = new byte[512];
        ff.AsSpan().Fill(0xFF);
        ff[510] = 0x55; ff[511] = 0xAA;
        Assert.That(Bpb.Parse(ff, out _), Is.Not.EqualTo(0));
    }

    [Test]
    public void FsInfo_RoundTrip()
    {
        var s = new byte[512];
        new FsInfo { FreeCount = 1234, NextFree = 77 }.Emit(s);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(s), Is.EqualTo(0x41615252u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(s.AsSpan(484)), Is.EqualTo(0x61417272u));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(s.AsSpan(508)), Is.EqualTo(0xAA550000u));
        Assert.That(FsInfo.TryParse(s, out FsInfo fi), Is.True);
        Assert.That((fi.FreeCount, fi.NextFree), Is.EqualTo((1234u, 77u)));
        s[0] ^= 1;
        Assert.That(FsInfo.TryParse(s, out _), Is.False);
    }

    [Test]
    public void DirEntry_ByteFixtureRoundTrip()
    {
        // "README  TXT", archive, NT lower base, created 2024-03-15 12:34:56.78, cluster 0x00012345, 1000 bytes.
        byte[] fx = Convert.FromHexString(
            "524541444D45202054585420" + "08" + "4E" + "DC64" + "6F58" + "6F58" + "0100" + "DC64" + "6F58" + "4523" + "E8030000");
        fx[11] = 0x20;
        DirEntry d = DirEntry.Parse(fx, fat32: true);
        Assert.That(Encoding.ASCII.GetString(((ReadOnlySpan<byte>)d.Name).ToArray()), Is.EqualTo("README  TXT"));
        Assert.That(d.Attr, Is.EqualTo(0x20));
        Assert.That(d.NtRes, Is.EqualTo(0x08));
        Assert.That(d.CTimeTenth, Is.EqualTo(0x4E));
        Assert.That(d.FirstCluster, Is.EqualTo(0x00012345u));
        Assert.That(d.FileSize, Is.EqualTo(1000u));
        var back = new byte[32];
        d.Emit(back);
        Assert.That(back, Is.EqualTo(fx));
        // FAT12/16 ignore the high cluster word.
        Assert.That(DirEntry.Parse(fx, fat32: false).FirstCluster, Is.EqualTo(0x2345u));
        Span<char> name = stackalloc char[12];
        int n = ShortName.Display(d.Name, d.NtRes, name);
        Assert.That(name.Slice(0, n).ToString(), Is.EqualTo("readme.TXT"));
    }

    [Test]
    public void Lfn_EmitAndReadBack_WithChecksum()
    {
        string name = "A long name that needs slots.txt"; // 32 chars: 3 slots
        Span<byte> s11 = stackalloc byte[11];
        bool lossy = ShortName.Basis(name, s11, out int baseLen);
        Assert.That(lossy, Is.True);
        Span<byte> alias = stackalloc byte[11];
        ShortName.ApplyTail(s11, baseLen, 1, alias);
        Assert.That(Encoding.ASCII.GetString(alias), Is.EqualTo("ALONGN~1TXT"));
        byte sum = ShortName.Checksum(alias);
        int slots = LfnSlot.SlotsFor(name.Length);
        Assert.That(slots, Is.EqualTo(3));
        var raw = new byte[slots * 32];
        for (int k = 0; k < slots; k++) LfnSlot.Emit(raw.AsSpan(k * 32), name, slots - k, k == 0, sum);
        Assert.That(raw[0], Is.EqualTo(0x43), "last slot first, with 0x40");
        Assert.That(raw[11], Is.EqualTo(0x0F));
        Assert.That(raw[13], Is.EqualTo(sum));
        var chars = new char[slots * 13];
        for (int k = 0; k < slots; k++)
        {
            int ord = raw[k * 32] & 0x1f;
            LfnSlot.ReadChars(raw.AsSpan(k * 32), chars.AsSpan((ord - 1) * 13, 13));
        }
        Assert.That(new string(chars, 0, name.Length), Is.EqualTo(name));
        Assert.That(chars[name.Length], Is.EqualTo('\0'), "NUL after the name");
        Assert.That(chars[name.Length + 1], Is.EqualTo('\uffff'), "0xFFFF padding");
    }

    [Test]
    public void Checksum_KnownValue()
    {
        // Computed by hand with the spec's algorithm for "FOO     BAR".
        byte sum = 0;
        foreach (byte c in "FOO     BAR"u8) sum = (byte)(((sum & 1) << 7) + (sum >> 1) + c);
        Assert.That(ShortName.Checksum("FOO     BAR"u8), Is.EqualTo(sum));
        Assert.That(ShortName.Checksum("FOO     BAR"u8), Is.Not.EqualTo(ShortName.Checksum("FOO     BAS"u8)));
    }

    [TestCase("readme.txt", "README  TXT", 0x18)]
    [TestCase("README.TXT", "README  TXT", 0x00)]
    [TestCase("readme.TXT", "README  TXT", 0x08)]
    [TestCase("Makefile", null, 0)]
    [TestCase("a.b.c", null, 0)]
    [TestCase("toolongname.txt", null, 0)]
    [TestCase("x.long", null, 0)]
    [TestCase("sp ace", null, 0)]
    [TestCase("ümlaut", null, 0)]
    [TestCase("NOEXT", "NOEXT      ", 0)]
    public void ShortName_TryExact(string name, string? stored, int nt)
    {
        Span<byte> s11 = stackalloc byte[11];
        bool ok = ShortName.TryExact(name, s11, out byte ntRes);
        Assert.That(ok, Is.EqualTo(stored != null));
        if (stored == null) return;
        Assert.That(Encoding.ASCII.GetString(s11), Is.EqualTo(stored));
        Assert.That(ntRes, Is.EqualTo(nt));
    }

    [TestCase("The quick brown fox.jpeg", "THEQUICKJPE", true)]
    [TestCase(".bashrc", "BASHRC     ", true)]
    [TestCase("Foo.txt", "FOO     TXT", false)]
    [TestCase("a+b=c.tar.gz", "A_B_CTARGZ ", true)]
    [TestCase("日本語.txt", "___     TXT", true)]
    public void ShortName_Basis(string name, string basis, bool lossy)
    {
        Span<byte> s11 = stackalloc byte[11];
        Assert.That(ShortName.Basis(name, s11, out _), Is.EqualTo(lossy));
        Assert.That(Encoding.ASCII.GetString(s11), Is.EqualTo(basis));
    }

    [Test]
    public void ShortName_TailShortensBase()
    {
        Span<byte> basis = stackalloc byte[11];
        ShortName.Basis("verylongbasename.txt", basis, out int bl);
        Span<byte> o = stackalloc byte[11];
        ShortName.ApplyTail(basis, bl, 1, o);
        Assert.That(Encoding.ASCII.GetString(o), Is.EqualTo("VERYLO~1TXT"));
        ShortName.ApplyTail(basis, bl, 12345, o);
        Assert.That(Encoding.ASCII.GetString(o), Is.EqualTo("VE~12345TXT"));
        ShortName.Basis("ab", basis, out bl);
        ShortName.ApplyTail(basis, bl, 3, o);
        Assert.That(Encoding.ASCII.GetString(o), Is.EqualTo("AB~3       "));
    }

    [Test]
    public void DosTime_KnownValuesAndRoundTrip()
    {
        // 2024-03-15 12:34:56 UTC.
        long t = 1710506096;
        DosTime.FromUnix(t, 780_000_000, 0, out ushort date, out ushort time, out byte tenths);
        Assert.That(date, Is.EqualTo((ushort)(((2024 - 1980) << 9) | (3 << 5) | 15)));
        Assert.That(time, Is.EqualTo((ushort)((12 << 11) | (34 << 5) | 28)));
        Assert.That(tenths, Is.EqualTo(78));
        Assert.That(DosTime.ToUnix(date, time, 0), Is.EqualTo(t));
        RumpTimespec ts = DosTime.ToTimespec(date, time, 0, tenths);
        Assert.That((ts.tv_sec, (long)ts.tv_nsec), Is.EqualTo((t, 780_000_000L)));
        // An offset east of UTC: the stored local time is later, the Unix time the same.
        DosTime.FromUnix(t, 0, 3600, out date, out time, out _);
        Assert.That(time >> 11, Is.EqualTo(13));
        Assert.That(DosTime.ToUnix(date, time, 3600), Is.EqualTo(t));
        // Clamped to the DOS range; garbage fields do not throw.
        DosTime.FromUnix(0, 0, 0, out date, out time, out _);
        Assert.That((date, time), Is.EqualTo(((ushort)0x21, (ushort)0)));
        Assert.That(DosTime.ToUnix(0, 0, 0), Is.EqualTo(DosTime.DosEpoch));
        Assert.DoesNotThrow(() => DosTime.ToUnix(0xFFFF, 0xFFFF, 0));
    }

    [Test]
    public void Names_Utf8RoundTripAndFolding()
    {
        string utf16 = "Grüße 日本 🎉";
        string vfs = Names.ToVfs(utf16);
        Assert.That(Encoding.Latin1.GetBytes(vfs), Is.EqualTo(Encoding.UTF8.GetBytes(utf16)));
        Span<char> back = stackalloc char[256];
        Assert.That(Names.FromVfs(vfs, back, out int len, out _), Is.True);
        Assert.That(back.Slice(0, len).ToString(), Is.EqualTo(utf16));
        Assert.That(Names.FromVfs("\u00ff\u00fe", back, out _, out bool tooLong), Is.False, "invalid UTF-8");
        Assert.That(tooLong, Is.False);
        Assert.That(Names.FoldedKey("Grüße.Txt"), Is.EqualTo(Names.FoldedKey("GRÜSSE.TXT".Replace("SS", "ß").ToLowerInvariant())));
    }
}
