using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Usb.Wire;

/// <summary>
/// USB Mass Storage Class Bulk-Only Transport 1.0: the 31-byte Command Block Wrapper (5.1), the
/// 13-byte Command Status Wrapper (5.2), and the two class requests (3.1 reset, 3.2 Get Max LUN).
/// </summary>
public static class BulkOnly
{
    public const int CbwSize = 31, CswSize = 13;
    public const uint CbwSignature = 0x43425355; // "USBC"
    public const uint CswSignature = 0x53425355; // "USBS"
    public const byte CbwFlagIn = 0x80;
    public const byte StatusPassed = 0, StatusFailed = 1, StatusPhaseError = 2;
    public const int MaxCdb = 16;

    public const byte ReqReset = 0xFF, ReqGetMaxLun = 0xFE;
    public static SetupPacket ResetRequest(byte iface) => new(0x21, ReqReset, 0, iface, 0);
    public static SetupPacket GetMaxLunRequest(byte iface) => new(0xA1, ReqGetMaxLun, 0, iface, 1);

    /// <summary>Writes a CBW; EINVAL for a CDB of 0 or more than 16 bytes or a LUN above 15.</summary>
    public static int EmitCbw(Span<byte> s, uint tag, uint dataLength, bool dataIn, byte lun, ReadOnlySpan<byte> cdb)
    {
        if (s.Length < CbwSize || cdb.Length is 0 or > MaxCdb || lun > 15) return Abi.EINVAL;
        s.Slice(0, CbwSize).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(s, CbwSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(4), tag);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(8), dataLength);
        s[12] = dataIn ? CbwFlagIn : (byte)0;
        s[13] = lun;
        s[14] = (byte)cdb.Length;
        cdb.CopyTo(s.Slice(15));
        return 0;
    }

    /// <summary>A CBW as a device reads it (tests and emulated devices): EINVAL unless it is valid and meaningful (6.2).</summary>
    public static int ParseCbw(ReadOnlySpan<byte> s, out uint tag, out uint dataLength, out bool dataIn, out byte lun, out int cdbLength)
    {
        tag = dataLength = 0; dataIn = false; lun = 0; cdbLength = 0;
        if (s.Length != CbwSize || BinaryPrimitives.ReadUInt32LittleEndian(s) != CbwSignature) return Abi.EINVAL;
        tag = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(4));
        dataLength = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(8));
        dataIn = (s[12] & CbwFlagIn) != 0;
        lun = (byte)(s[13] & 0x0f);
        cdbLength = s[14] & 0x1f;
        if ((s[12] & 0x7f) != 0 || (s[13] & 0xf0) != 0 || cdbLength is 0 or > MaxCdb) return Abi.EINVAL;
        return 0;
    }

    public static void EmitCsw(Span<byte> s, uint tag, uint residue, byte status)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, CswSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(4), tag);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(8), residue);
        s[12] = status;
    }

    /// <summary>What a received CSW means (6.3).</summary>
    public enum CswCheck
    {
        /// <summary>Valid and meaningful: status and residue can be used.</summary>
        Good,
        /// <summary>Not 13 bytes, wrong signature or wrong tag: the device needs reset recovery.</summary>
        Invalid,
        /// <summary>Valid but not meaningful (status above 2, or residue above the requested length): reset recovery too.</summary>
        NotMeaningful,
    }

    public static CswCheck ParseCsw(ReadOnlySpan<byte> s, uint expectTag, uint requested, out uint residue, out byte status)
    {
        residue = 0; status = StatusPhaseError;
        if (s.Length != CswSize || BinaryPrimitives.ReadUInt32LittleEndian(s) != CswSignature) return CswCheck.Invalid;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(4)) != expectTag) return CswCheck.Invalid;
        residue = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(8));
        status = s[12];
        if (status > StatusPhaseError) return CswCheck.NotMeaningful;
        // A phase error's residue is meaningless anyway; otherwise it cannot exceed what was asked.
        if (status != StatusPhaseError && residue > requested) return CswCheck.NotMeaningful;
        return CswCheck.Good;
    }
}
