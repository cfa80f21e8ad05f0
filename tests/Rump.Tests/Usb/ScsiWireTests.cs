using System;
using NUnit.Framework;
using Rump.Dev.Scsipi.Wire;
using Rump.Kern;

namespace Rump.Tests.Usb;

/// <summary>
/// SCSI CDBs as SBC-3/SPC-4 lay them out, and the data devices return: QEMU's INQUIRY data, READ
/// CAPACITY(10/16), MODE SENSE headers with the write-protect bit, fixed and descriptor sense.
/// Hostile bytes give errors, never exceptions.
/// </summary>
public class ScsiWireTests
{
    [Test]
    public void CommandBlocks()
    {
        Span<byte> c = stackalloc byte[16];
        Assert.That(Cdb.TestUnitReady(c), Is.EqualTo(6));
        Assert.That(c.Slice(0, 6).ToArray(), Is.EqualTo(new byte[6]));
        Assert.That(Cdb.Inquiry(c, 36), Is.EqualTo(6));
        Assert.That(c.Slice(0, 6).ToArray(), Is.EqualTo(new byte[] { 0x12, 0, 0, 0, 36, 0 }));
        Assert.That(Cdb.RequestSense(c, 18), Is.EqualTo(6));
        Assert.That(c.Slice(0, 6).ToArray(), Is.EqualTo(new byte[] { 0x03, 0, 0, 0, 18, 0 }));
        Assert.That(Cdb.ModeSense6(c, 0x3f, 192), Is.EqualTo(6));
        Assert.That(c.Slice(0, 6).ToArray(), Is.EqualTo(new byte[] { 0x1a, 0x08, 0x3f, 0, 192, 0 }));
        Assert.That(Cdb.ModeSense10(c, 0x3f, 512), Is.EqualTo(10));
        Assert.That(c.Slice(0, 10).ToArray(), Is.EqualTo(new byte[] { 0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0x02, 0x00, 0 }));
        Assert.That(Cdb.ReadCapacity10(c), Is.EqualTo(10));
        Assert.That(c[0], Is.EqualTo(0x25));
        Assert.That(Cdb.ReadCapacity16(c), Is.EqualTo(16));
        Assert.That(c.Slice(0, 16).ToArray(), Is.EqualTo(new byte[] { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 }));
        Assert.That(Cdb.ReadWrite(c, false, 0x12345678, 0x80, fua: false), Is.EqualTo(10));
        Assert.That(c.Slice(0, 10).ToArray(), Is.EqualTo(new byte[] { 0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x00, 0x80, 0 }));
        Assert.That(Cdb.ReadWrite(c, true, 0x1_0000_0000, 8, fua: true), Is.EqualTo(16), "an LBA beyond 32 bits needs WRITE(16)");
        Assert.That(c.Slice(0, 16).ToArray(), Is.EqualTo(new byte[] { 0x8a, 0x08, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0 }));
        Assert.That(Cdb.ReadWrite(c, false, 0, 0x10000, fua: false), Is.EqualTo(16), "65536 blocks need READ(16)");
        Assert.That(Cdb.ReadWrite(c, false, 0, 0, fua: false), Is.EqualTo(-Abi.EINVAL));
        Assert.That(Cdb.TryDecodeReadWrite(c.Slice(0, 16), out _, out _, out _), Is.False, "the failed build wrote nothing usable");
        Cdb.ReadWrite(c, true, 77, 3, fua: false);
        Assert.That(Cdb.TryDecodeReadWrite(c, out bool w, out ulong lba, out uint n) && w && lba == 77 && n == 3, Is.True);
        Assert.That(Cdb.SynchronizeCache(c), Is.EqualTo(10));
        Assert.That(c[0], Is.EqualTo(0x35));
        Assert.That(Cdb.LengthOf(0x28), Is.EqualTo(10));
        Assert.That(Cdb.LengthOf(0x88), Is.EqualTo(16));
    }

    [Test]
    public void InquiryOfQemuDisk()
    {
        byte[] d = new byte[36];
        InquiryData.Emit(d, ScsiDeviceType.DirectAccess, true, "QEMU", "QEMU HARDDISK", "2.5+");
        Assert.That(InquiryData.Parse(d, out InquiryData q), Is.EqualTo(0));
        Assert.That((q.DeviceType, q.Removable, q.Vendor, q.Product, q.Revision), Is.EqualTo((ScsiDeviceType.DirectAccess, true, "QEMU", "QEMU HARDDISK", "2.5+")));
        Assert.That(InquiryData.Parse(d.AsSpan(0, 20), out q), Is.EqualTo(0), "short data: strings cut");
        Assert.That((q.Vendor, q.Product), Is.EqualTo(("QEMU", "QEMU")));
        d[4] = 3; // additional length says 8 bytes in all
        Assert.That(InquiryData.Parse(d, out q), Is.EqualTo(0));
        Assert.That(q.Vendor, Is.EqualTo(""), "strings beyond the additional length are not read");
        d[9] = 0x07;
        Assert.That(InquiryData.Parse(new byte[4], out _), Is.EqualTo(Abi.EINVAL));
    }

    [Test]
    public void Capacity()
    {
        byte[] r10 = { 0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00 };
        Assert.That(ReadCapacity.Parse10(r10, out ulong blocks, out uint bl, out bool need16), Is.EqualTo(0));
        Assert.That((blocks, bl, need16), Is.EqualTo((0x20000UL, 512u, false)), "64 MiB of 512-byte blocks");
        byte[] big = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00 };
        Assert.That(ReadCapacity.Parse10(big, out _, out _, out need16), Is.EqualTo(0));
        Assert.That(need16, Is.True);
        byte[] r16 = new byte[32];
        ReadCapacity.Emit16(r16, 0x2_0000_0000, 4096);
        Assert.That(ReadCapacity.Parse16(r16, out blocks, out bl), Is.EqualTo(0));
        Assert.That((blocks, bl), Is.EqualTo((0x2_0000_0000UL, 4096u)));
        byte[] odd = { 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02, 0x01 };
        Assert.That(ReadCapacity.Parse10(odd, out _, out _, out _), Is.EqualTo(Abi.EINVAL), "a block length of 513");
        byte[] huge = new byte[32];
        ReadCapacity.Emit16(huge, ulong.MaxValue, 512);
        Assert.That(ReadCapacity.Parse16(huge, out _, out _), Is.EqualTo(Abi.EINVAL), "a size that overflows");
    }

    [Test]
    public void ModeSenseWriteProtect()
    {
        Assert.That(ModeHeader.Parse6(new byte[] { 0x03, 0x00, 0x80, 0x00 }, out bool wp, out int len), Is.EqualTo(0));
        Assert.That((wp, len), Is.EqualTo((true, 4)));
        Assert.That(ModeHeader.Parse6(new byte[] { 0x0b, 0x00, 0x00, 0x08 }, out wp, out _), Is.EqualTo(0));
        Assert.That(wp, Is.False);
        Assert.That(ModeHeader.Parse10(new byte[] { 0x00, 0x06, 0x00, 0x80, 0, 0, 0, 0 }, out wp, out len), Is.EqualTo(0));
        Assert.That((wp, len), Is.EqualTo((true, 8)));
        Assert.That(ModeHeader.Parse6(new byte[3], out _, out _), Is.EqualTo(Abi.EINVAL));
    }

    [Test]
    public void SenseFormats()
    {
        // Fixed: ILLEGAL REQUEST, INVALID FIELD IN CDB (24h/00h).
        byte[] fixedSense = { 0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0, 0, 0 };
        Assert.That(SenseData.Parse(fixedSense, out SenseData s), Is.EqualTo(0));
        Assert.That((s.Key, s.Asc, s.Ascq, s.InfoValid, s.Deferred), Is.EqualTo((SenseKey.IllegalRequest, (byte)0x24, (byte)0, false, false)));
        // Fixed with a valid information field: MEDIUM ERROR at LBA 0x1234.
        byte[] medium = { 0xf0, 0x00, 0x03, 0x00, 0x00, 0x12, 0x34, 0x0a, 0, 0, 0, 0, 0x11, 0x00, 0, 0, 0, 0 };
        Assert.That(SenseData.Parse(medium, out s), Is.EqualTo(0));
        Assert.That((s.Key, s.InfoValid, s.Information), Is.EqualTo((SenseKey.MediumError, true, 0x1234UL)));
        // Descriptor: UNIT ATTENTION, POWER ON (29h/00h), an information descriptor of 0x42.
        byte[] desc = { 0x72, 0x06, 0x29, 0x00, 0, 0, 0, 0x0c, 0x00, 0x0a, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x42 };
        Assert.That(SenseData.Parse(desc, out s), Is.EqualTo(0));
        Assert.That((s.Key, s.Asc, s.InfoValid, s.Information), Is.EqualTo((SenseKey.UnitAttention, (byte)0x29, true, 0x42UL)));
        Assert.That(s.ToString(), Does.Contain("unit attention"));
        // A short fixed sense from a cheap stick: 8 bytes, key only.
        Assert.That(SenseData.Parse(fixedSense.AsSpan(0, 8), out s), Is.EqualTo(0));
        Assert.That((s.Key, s.Asc), Is.EqualTo((SenseKey.IllegalRequest, (byte)0)));
        Assert.That(SenseData.Parse(new byte[] { 0x7f, 0x00, 0x00 }, out _), Is.EqualTo(Abi.EINVAL), "vendor response code");
        Assert.That(SenseData.Parse(new byte[] { 0x70 }, out _), Is.EqualTo(Abi.EINVAL));
    }

    [Test]
    public void HostileBytesNeverThrow()
    {
        var rnd = new Random(13);
        byte[] b = new byte[64];
        for (int i = 0; i < 20000; i++)
        {
            int n = rnd.Next(0, 64);
            rnd.NextBytes(b);
            if (i % 3 == 0) b[0] = (byte)(0x70 + i % 4);
            ReadOnlySpan<byte> s = b.AsSpan(0, n);
            InquiryData.Parse(s, out _);
            ReadCapacity.Parse10(s, out _, out _, out _);
            ReadCapacity.Parse16(s, out _, out _);
            ModeHeader.Parse6(s, out _, out _);
            ModeHeader.Parse10(s, out _, out _);
            SenseData.Parse(s, out _);
            Cdb.TryDecodeReadWrite(s, out _, out _, out _);
        }
    }
}
