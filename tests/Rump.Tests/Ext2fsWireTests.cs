using System;
using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using Rump.Fs.Ext2fs;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>ext2fs's on-disk formats as byte fixtures: parse, emit, checksums, and rejection of malformed input.</summary>
public class Ext2fsWireTests
{
    [Test]
    public void Crc32cMatchesTheCheckValues()
    {
        // The published CRC-32C check value, and RFC 3720's all-zero and all-ones 32-byte vectors.
        Assert.That(Crc32c.Compute("123456789"u8), Is.EqualTo(0xE3069283u));
        Assert.That(Crc32c.Compute(new byte[32]), Is.EqualTo(0x8A9136AAu));
        byte[] ones = new byte[32];
        Array.Fill(ones, (byte)0xff);
        Assert.That(Crc32c.Compute(ones), Is.EqualTo(0x62A8AB43u));
        // Chaining: the raw register form continues across pieces (odd lengths exercise the tail loop).
        byte[] msg = Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog");
        uint whole = Crc32c.Update(~0u, msg);
        Assert.That(Crc32c.Update(Crc32c.Update(~0u, msg.AsSpan(0, 7)), msg.AsSpan(7)), Is.EqualTo(whole));
    }

    /// <summary>A consistent 8 MiB, 1 KiB-block superblock.</summary>
    private static byte[] Sb(uint blocks = 8192, uint log = 0, uint incompat = Features.IncompatFiletype, uint ro = Features.RoSparseSuper)
    {
        var b = new byte[1024];
        void W(int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
        void H(int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
        uint bs = 1024u << (int)log;
        uint bpg = 8 * bs;
        uint groups = (blocks - (log == 0 ? 1u : 0u) + bpg - 1) / bpg;
        W(0x00, groups * 512); W(0x04, blocks); W(0x08, blocks / 20); W(0x0C, blocks / 2); W(0x10, groups * 500);
        W(0x14, log == 0 ? 1u : 0u); W(0x18, log); W(0x1C, log); W(0x20, bpg); W(0x24, bpg); W(0x28, 512);
        H(0x38, 0xEF53); H(0x3A, 1); W(0x4C, 1); W(0x54, 11); H(0x58, 256);
        W(0x5C, Features.CompatExtAttr); W(0x60, incompat); W(0x64, ro);
        for (int i = 0; i < 16; i++) b[0x68 + i] = (byte)(i * 17);
        return b;
    }

    [Test]
    public void SuperblockParsesAndRoundTrips()
    {
        byte[] raw = Sb();
        Assert.That(Superblock.Parse(raw, 8L << 20, out Superblock? sb), Is.EqualTo(0));
        Assert.That(sb!.BlockSize, Is.EqualTo(1024));
        Assert.That(sb.BlocksCount, Is.EqualTo(8192UL));
        Assert.That(sb.GroupCount, Is.EqualTo(1u));
        Assert.That(sb.InodeSize, Is.EqualTo(256));
        Assert.That(sb.FirstIno, Is.EqualTo(11u));
        Assert.That(sb.DescSize, Is.EqualTo(32));
        var outb = new byte[1024];
        sb.Emit(outb);
        Assert.That(outb, Is.EqualTo(raw), "emit without changes gives the same bytes");
        sb.FreeBlocksCount = 1234;
        sb.FreeInodesCount = 77;
        sb.Emit(outb);
        Assert.That(Superblock.Parse(outb, 8L << 20, out Superblock? sb2), Is.EqualTo(0));
        Assert.That(sb2!.FreeBlocksCount, Is.EqualTo(1234UL));
        Assert.That(sb2.FreeInodesCount, Is.EqualTo(77u));
    }

    [Test]
    public void SuperblockChecksumIsCrc32cOfTheFirst1020Bytes()
    {
        byte[] raw = Sb(ro: Features.RoSparseSuper | Features.RoMetadataCsum);
        raw[0x175] = 1; // crc32c
        Assert.That(Superblock.Parse(raw, 8L << 20, out Superblock? sb), Is.EqualTo(0));
        Assert.That(sb!.ChecksumOk, Is.False, "no checksum stored yet");
        var outb = new byte[1024];
        sb.Emit(outb);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(outb.AsSpan(0x3FC)), Is.EqualTo(Crc32c.Update(~0u, outb.AsSpan(0, 0x3FC))));
        Assert.That(Superblock.Parse(outb, 8L << 20, out Superblock? sb2), Is.EqualTo(0));
        Assert.That(sb2!.ChecksumOk, Is.True);
        Assert.That(sb2.CsumSeed, Is.EqualTo(Crc32c.Update(~0u, outb.AsSpan(0x68, 16))), "seed from the UUID");
    }

    [Test]
    public void SuperblockRejectsInconsistentGeometry()
    {
        byte[] b = Sb(); b[0x38] = 0;
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "magic");
        b = Sb(); b[0x18] = 7;
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "block size over 64 KiB");
        Assert.That(Superblock.Parse(Sb(), 4L << 20, out _), Is.EqualTo(Abi.EINVAL), "more blocks than the device");
        b = Sb(); BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0x00), 999);
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "inode count not groups * per-group");
        b = Sb(); BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(0x58), 100);
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "inode size not a power of two");
        b = Sb(); BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0x20), 0);
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "zero blocks per group");
        b = Sb(incompat: Features.IncompatFiletype | Features.Incompat64bit);
        Assert.That(Superblock.Parse(b, 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "64bit with a 0 descriptor size");
        Assert.That(Superblock.Parse(new byte[100], 8L << 20, out _), Is.EqualTo(Abi.EINVAL), "short");
    }

    [TestCase(32)]
    [TestCase(64)]
    public void GroupDescriptorsRoundTrip(int size)
    {
        var g = new GroupDesc
        {
            BlockBitmap = size == 64 ? 0x1_0000_0010UL : 0x10, InodeBitmap = 0x11, InodeTable = 0x12,
            FreeBlocks = size == 64 ? 70000u : 7000u, FreeInodes = 500, UsedDirs = 3, Flags = GroupDesc.FlagInodeZeroed, ItableUnused = 9,
        };
        var b = new byte[size];
        g.Emit(b, size);
        GroupDesc p = GroupDesc.Parse(b, size);
        Assert.That(p.BlockBitmap, Is.EqualTo(g.BlockBitmap));
        Assert.That(p.FreeBlocks, Is.EqualTo(g.FreeBlocks));
        Assert.That((p.InodeBitmap, p.InodeTable, p.FreeInodes, p.UsedDirs, p.Flags, p.ItableUnused),
            Is.EqualTo((g.InodeBitmap, g.InodeTable, g.FreeInodes, g.UsedDirs, g.Flags, g.ItableUnused)));
        // The checksum ignores its own field.
        ushort c1 = GroupDesc.ComputeChecksum(0x1234, 5, b);
        b[0x1E] ^= 0xff;
        Assert.That(GroupDesc.ComputeChecksum(0x1234, 5, b), Is.EqualTo(c1));
        Assert.That(GroupDesc.ComputeChecksum(0x1234, 6, b), Is.Not.EqualTo(c1), "the group number is covered");
    }

    [Test]
    public void InodeRoundTripsWithExtraFields()
    {
        var raw = new byte[256];
        var ino = new Inode
        {
            Mode = Inode.IfReg | 0x1a4, Uid = 0x12345, Gid = 0x23456, Size = 5L << 30, LinksCount = 3, Blocks = 80,
            Flags = Inode.FlagExtents, Generation = 0xdeadbeef, ExtraIsize = 32,
            Atime = new RumpTimespec { tv_sec = (1L << 32) + 5, tv_nsec = 999_999_999 },
            Mtime = new RumpTimespec { tv_sec = -100, tv_nsec = 1 },
            Ctime = new RumpTimespec { tv_sec = 1_700_000_000, tv_nsec = 123 },
            Crtime = new RumpTimespec { tv_sec = 1, tv_nsec = 2 },
        };
        ino.Emit(raw, hugeFile: true);
        Assert.That(Inode.Parse(raw, true, out Inode p), Is.EqualTo(0));
        Assert.That((p.Mode, p.Uid, p.Gid, p.Size, p.LinksCount, p.Blocks, p.Flags, p.Generation),
            Is.EqualTo((ino.Mode, ino.Uid, ino.Gid, ino.Size, ino.LinksCount, ino.Blocks, ino.Flags, ino.Generation)));
        Assert.That(p.Atime, Is.EqualTo(ino.Atime), "epoch bits and nanoseconds");
        Assert.That(p.Mtime, Is.EqualTo(ino.Mtime), "pre-1970");
        Assert.That(p.Ctime, Is.EqualTo(ino.Ctime));
        Assert.That(p.HasCrtime, Is.True);
        Assert.That(p.Crtime, Is.EqualTo(ino.Crtime));

        // A 128-byte inode has no extra fields: whole seconds only, 32-bit signed.
        var small = new byte[128];
        ino.Emit(small, hugeFile: false);
        Assert.That(Inode.Parse(small, false, out Inode q), Is.EqualTo(0));
        Assert.That(q.Atime.tv_nsec, Is.EqualTo(0));
        Assert.That(q.HasCrtime, Is.False);
        // An extra size past the inode is malformed.
        BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x80), 200);
        Assert.That(Inode.Parse(raw, true, out _), Is.EqualTo(Abi.EIO));
    }

    [Test]
    public void InodeChecksumCoversEverythingButItself()
    {
        var raw = new byte[256];
        new Inode { Mode = Inode.IfDir | 0x1ed, LinksCount = 2, ExtraIsize = 32, Generation = 7 }.Emit(raw, false);
        uint c = Inode.ComputeChecksum(0xabcdef, 12, raw);
        BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x7C), (ushort)c);
        BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x82), (ushort)(c >> 16));
        Assert.That(Inode.ChecksumOk(0xabcdef, 12, raw), Is.True);
        Assert.That(Inode.ChecksumOk(0xabcdef, 13, raw), Is.False, "the inode number is covered");
        raw[0xA0] ^= 1;
        Assert.That(Inode.ChecksumOk(0xabcdef, 12, raw), Is.False, "the large part is covered");
    }

    [Test]
    public void ExtentNodesParseAndFind()
    {
        var b = new byte[60];
        ExtentNode.EmitHeader(b, 3, 4, 0);
        ExtentNode.EmitLeaf(b, 0, 0, 10, false, 1000);
        ExtentNode.EmitLeaf(b, 1, 20, 5, true, 0x1_0000_0000UL);
        ExtentNode.EmitLeaf(b, 2, 100, 32768, false, 5000);
        Assert.That(ExtentNode.TryParse(b, out ExtentNode n), Is.True);
        Assert.That((n.Entries, n.Max, n.Depth), Is.EqualTo((3, 4, 0)));
        Assert.That(n.Find(0), Is.EqualTo(0));
        Assert.That(n.Find(15), Is.EqualTo(0), "in the gap after extent 0 (the caller sees it is past its end)");
        Assert.That(n.Find(22), Is.EqualTo(1));
        Assert.That(n.Find(1_000_000), Is.EqualTo(2));
        n.Leaf(1, out int len, out bool uninit, out ulong start);
        Assert.That((len, uninit, start), Is.EqualTo((5, true, 0x1_0000_0000UL)));
        n.Leaf(2, out len, out uninit, out _);
        Assert.That((len, uninit), Is.EqualTo((32768, false)), "32768 is the longest initialised extent");

        var idx = new byte[60];
        ExtentNode.EmitHeader(idx, 1, 4, 2);
        ExtentNode.EmitIndex(idx, 0, 0, 0x2_0000_0001UL);
        Assert.That(ExtentNode.TryParse(idx, out ExtentNode ni), Is.True);
        Assert.That(ni.IndexChild(0), Is.EqualTo(0x2_0000_0001UL));

        ExtentNode.EmitHeader(b, 5, 4, 0);
        Assert.That(ExtentNode.TryParse(b, out _), Is.False, "more entries than room");
        ExtentNode.EmitHeader(b, 1, 5, 0);
        Assert.That(ExtentNode.TryParse(b, out _), Is.False, "max beyond the space");
        ExtentNode.EmitHeader(b, 1, 4, 6);
        Assert.That(ExtentNode.TryParse(b, out _), Is.False, "deeper than ext4 allows");
        b[0] = 0;
        Assert.That(ExtentNode.TryParse(b, out _), Is.False, "magic");

        var blk = new byte[1024];
        ExtentNode.EmitHeader(blk, 1, (1024 - 12) / 12, 0);
        ExtentNode.TryParse(blk, out ExtentNode nb);
        uint c = Crc32c.Update(99, blk.AsSpan(0, nb.TailOffset));
        BinaryPrimitives.WriteUInt32LittleEndian(blk.AsSpan(nb.TailOffset), c);
        Assert.That(ExtentNode.ChecksumOk(99, blk, nb.TailOffset), Is.True);
        Assert.That(ExtentNode.ChecksumOk(98, blk, nb.TailOffset), Is.False);
    }

    [Test]
    public void DirectoryRecordsParseAndRejectBadRecLen()
    {
        var blk = new byte[1024];
        DirEntry.Write(blk, 0, 2, 12, "."u8, DirEntry.FtDir);
        DirEntry.Write(blk, 12, 2, 12, ".."u8, DirEntry.FtDir);
        DirEntry.Write(blk, 24, 15, 1000, "héllo"u8.ToArray(), DirEntry.FtReg);
        int off = 0, n = 0;
        while (off < blk.Length)
        {
            Assert.That(DirEntry.TryRead(blk, off, out _, out int rl, out _, out _), Is.True);
            off += rl; n++;
        }
        Assert.That(n, Is.EqualTo(3));
        Assert.That(DirEntry.TryRead(blk, 24, out uint ino, out int recLen, out int nl, out byte t), Is.True);
        Assert.That((ino, recLen, nl, t), Is.EqualTo((15u, 1000, 6, DirEntry.FtReg)));
        Assert.That(DirEntry.RecLen(6), Is.EqualTo(16));

        DirEntry.SetRecLen(blk, 24, 1002);
        Assert.That(DirEntry.TryRead(blk, 24, out _, out _, out _, out _), Is.False, "not a multiple of 4");
        DirEntry.SetRecLen(blk, 24, 4);
        Assert.That(DirEntry.TryRead(blk, 24, out _, out _, out _, out _), Is.False, "shorter than a header");
        DirEntry.SetRecLen(blk, 24, 1004);
        Assert.That(DirEntry.TryRead(blk, 24, out _, out _, out _, out _), Is.False, "past the block");
        DirEntry.SetRecLen(blk, 24, 12);
        Assert.That(DirEntry.TryRead(blk, 24, out _, out _, out _, out _), Is.False, "name longer than the record");
        Assert.That(DirEntry.TryRead(blk, 1020, out _, out _, out _, out _), Is.False, "header past the block");
    }

    [Test]
    public void DirectoryTailChecksumAndLargeBlockRecLen()
    {
        var blk = new byte[4096];
        DirEntry.Write(blk, 0, 11, 4096 - 12, "f"u8, DirEntry.FtReg);
        Assert.That(DirEntry.HasTail(blk), Is.False);
        DirEntry.Write(blk, 4096 - 12, 0, 12, ReadOnlySpan<byte>.Empty, DirEntry.TailType);
        Assert.That(DirEntry.HasTail(blk), Is.True);
        BinaryPrimitives.WriteUInt32LittleEndian(blk.AsSpan(4092), Crc32c.Update(5, blk.AsSpan(0, 4096 - 12)));
        Assert.That(DirEntry.TailChecksumOk(5, blk), Is.True);
        blk[9] ^= 1;
        Assert.That(DirEntry.TailChecksumOk(5, blk), Is.False);

        // 64 KiB blocks: a whole-block record is stored as 65535 (or 0).
        var big = new byte[65536];
        DirEntry.Write(big, 0, 11, 65536, "x"u8, DirEntry.FtReg);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(big.AsSpan(4)), Is.EqualTo(65535));
        Assert.That(DirEntry.TryRead(big, 0, out _, out int rl, out _, out _), Is.True);
        Assert.That(rl, Is.EqualTo(65536));
    }

    [Test]
    public void BitmapSearchFindsTheFirstClearBit()
    {
        var map = new byte[128];
        Array.Fill(map, (byte)0xff);
        Assert.That(Alloc.FindZero(map, 0, 1024), Is.EqualTo(-1));
        map[77] = 0b1110_1111;
        Assert.That(Alloc.FindZero(map, 0, 1024), Is.EqualTo(77 * 8 + 4));
        Assert.That(Alloc.FindZero(map, 77 * 8 + 5, 1024), Is.EqualTo(-1));
        Assert.That(Alloc.FindZero(map, 3, 77 * 8 + 4), Is.EqualTo(-1), "limit excludes the bit");
        map[0] = 0b0111_1111;
        Assert.That(Alloc.FindZero(map, 3, 1024), Is.EqualTo(7), "an unaligned start");
    }
}
