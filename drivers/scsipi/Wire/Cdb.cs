using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Dev.Scsipi.Wire;

/// <summary>Operation codes (SPC-4, SBC-3).</summary>
public static class ScsiOp
{
    public const byte TestUnitReady = 0x00, RequestSense = 0x03, Inquiry = 0x12, ModeSense6 = 0x1A, StartStopUnit = 0x1B;
    public const byte PreventAllowRemoval = 0x1E, ReadCapacity10 = 0x25, Read10 = 0x28, Write10 = 0x2A;
    public const byte SynchronizeCache10 = 0x35, ModeSense10 = 0x5A, Read16 = 0x88, Write16 = 0x8A;
    public const byte SynchronizeCache16 = 0x91, ServiceActionIn16 = 0x9E;
    /// <summary>SERVICE ACTION IN(16) service action of READ CAPACITY(16).</summary>
    public const byte SaReadCapacity16 = 0x10;
}

/// <summary>
/// Command descriptor blocks (SPC-4 4.2, SBC-3 5): each builder writes the CDB into
/// <paramref name="c"/> and returns its length. The caller's span must hold 16 bytes.
/// </summary>
public static class Cdb
{
    public const int MaxLength = 16;

    /// <summary>The CDB length an operation code implies by its group (SPC-4 4.2.5.1), 0 for vendor groups.</summary>
    public static int LengthOf(byte op) => (op >> 5) switch { 0 => 6, 1 or 2 => 10, 4 => 16, 5 => 12, _ => 0 };

    private static int Six(Span<byte> c, byte op, byte b1 = 0, byte b2 = 0, byte b3 = 0, byte b4 = 0)
    {
        c.Slice(0, 6).Clear();
        c[0] = op; c[1] = b1; c[2] = b2; c[3] = b3; c[4] = b4;
        return 6;
    }

    public static int TestUnitReady(Span<byte> c) => Six(c, ScsiOp.TestUnitReady);

    /// <summary>REQUEST SENSE; <paramref name="alloc"/> up to 252 (SPC-4 says 252 holds all sense data).</summary>
    public static int RequestSense(Span<byte> c, byte alloc, bool descriptor = false) => Six(c, ScsiOp.RequestSense, descriptor ? (byte)1 : (byte)0, 0, 0, alloc);

    /// <summary>INQUIRY (standard data, or a vital product data page when <paramref name="evpd"/>).</summary>
    public static int Inquiry(Span<byte> c, ushort alloc, bool evpd = false, byte page = 0)
    {
        Six(c, ScsiOp.Inquiry, evpd ? (byte)1 : (byte)0, page);
        BinaryPrimitives.WriteUInt16BigEndian(c.Slice(3), alloc);
        return 6;
    }

    /// <summary>MODE SENSE(6): page control in bits 6–7 of byte 2 (0: current values), DBD disables block descriptors.</summary>
    public static int ModeSense6(Span<byte> c, byte page, byte alloc, bool dbd = true, byte pageControl = 0, byte subpage = 0)
        => Six(c, ScsiOp.ModeSense6, dbd ? (byte)0x08 : (byte)0, (byte)(pageControl << 6 | (page & 0x3f)), subpage, alloc);

    public static int ModeSense10(Span<byte> c, byte page, ushort alloc, bool dbd = true, byte pageControl = 0, byte subpage = 0)
    {
        c.Slice(0, 10).Clear();
        c[0] = ScsiOp.ModeSense10;
        c[1] = dbd ? (byte)0x08 : (byte)0;
        c[2] = (byte)(pageControl << 6 | (page & 0x3f));
        c[3] = subpage;
        BinaryPrimitives.WriteUInt16BigEndian(c.Slice(7), alloc);
        return 10;
    }

    public static int StartStopUnit(Span<byte> c, bool start, bool loadEject) => Six(c, ScsiOp.StartStopUnit, 0, 0, 0, (byte)((start ? 1 : 0) | (loadEject ? 2 : 0)));
    public static int PreventAllowRemoval(Span<byte> c, bool prevent) => Six(c, ScsiOp.PreventAllowRemoval, 0, 0, 0, prevent ? (byte)1 : (byte)0);

    public static int ReadCapacity10(Span<byte> c)
    {
        c.Slice(0, 10).Clear();
        c[0] = ScsiOp.ReadCapacity10;
        return 10;
    }

    public static int ReadCapacity16(Span<byte> c, uint alloc = ReadCapacity.Data16Size)
    {
        c.Slice(0, 16).Clear();
        c[0] = ScsiOp.ServiceActionIn16;
        c[1] = ScsiOp.SaReadCapacity16;
        BinaryPrimitives.WriteUInt32BigEndian(c.Slice(10), alloc);
        return 16;
    }

    /// <summary>
    /// READ or WRITE of <paramref name="blocks"/> blocks at <paramref name="lba"/>: the 10-byte
    /// form when both fit (32-bit LBA, 16-bit count), the 16-byte form otherwise (SBC-3 5.8, 5.10,
    /// 5.29, 5.31). <paramref name="fua"/> forces the data to the medium. -EINVAL for a count of 0
    /// or beyond 32 bits, with the CDB cleared.
    /// </summary>
    public static int ReadWrite(Span<byte> c, bool write, ulong lba, uint blocks, bool fua, bool force16 = false)
    {
        // A refused request leaves no stale command behind that a caller could send by mistake.
        if (blocks == 0) { c.Slice(0, Math.Min(c.Length, 16)).Clear(); return -Abi.EINVAL; }
        byte flags = fua ? (byte)0x08 : (byte)0;
        if (!force16 && lba <= uint.MaxValue && blocks <= ushort.MaxValue)
        {
            c.Slice(0, 10).Clear();
            c[0] = write ? ScsiOp.Write10 : ScsiOp.Read10;
            c[1] = flags;
            BinaryPrimitives.WriteUInt32BigEndian(c.Slice(2), (uint)lba);
            BinaryPrimitives.WriteUInt16BigEndian(c.Slice(7), (ushort)blocks);
            return 10;
        }
        c.Slice(0, 16).Clear();
        c[0] = write ? ScsiOp.Write16 : ScsiOp.Read16;
        c[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(c.Slice(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.Slice(10), blocks);
        return 16;
    }

    /// <summary>SYNCHRONIZE CACHE of the whole medium (LBA 0, 0 blocks: "to the end").</summary>
    public static int SynchronizeCache(Span<byte> c, bool use16 = false)
    {
        int n = use16 ? 16 : 10;
        c.Slice(0, n).Clear();
        c[0] = use16 ? ScsiOp.SynchronizeCache16 : ScsiOp.SynchronizeCache10;
        return n;
    }

    /// <summary>Decodes a READ/WRITE CDB of any of the 10/16 forms (emulated disks in tests): false for anything else.</summary>
    public static bool TryDecodeReadWrite(ReadOnlySpan<byte> c, out bool write, out ulong lba, out uint blocks)
    {
        write = false; lba = 0; blocks = 0;
        if (c.Length < 1) return false;
        switch (c[0])
        {
            case ScsiOp.Read10: case ScsiOp.Write10:
                if (c.Length < 10) return false;
                write = c[0] == ScsiOp.Write10;
                lba = BinaryPrimitives.ReadUInt32BigEndian(c.Slice(2));
                blocks = BinaryPrimitives.ReadUInt16BigEndian(c.Slice(7));
                return true;
            case ScsiOp.Read16: case ScsiOp.Write16:
                if (c.Length < 16) return false;
                write = c[0] == ScsiOp.Write16;
                lba = BinaryPrimitives.ReadUInt64BigEndian(c.Slice(2));
                blocks = BinaryPrimitives.ReadUInt32BigEndian(c.Slice(10));
                return true;
            default:
                return false;
        }
    }
}
