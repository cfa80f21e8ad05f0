using Rump.Kern;

namespace Rump.Vfs;

/// <summary>Vnode types, NetBSD's enum vtype values.</summary>
public enum VType : byte { VNON = 0, VREG = 1, VDIR = 2, VBLK = 3, VCHR = 4, VLNK = 5, VSOCK = 6, VFIFO = 7, VBAD = 8 }

/// <summary>Which attributes a setattr changes (NetBSD uses VNOVAL; a mask is explicit).</summary>
[System.Flags]
public enum VaMask : ushort
{
    None = 0, Mode = 1, Uid = 2, Gid = 4, Size = 8, Atime = 16, Mtime = 32, Ctime = 64, Flags = 128,
}

/// <summary>Vnode attributes (NetBSD struct vattr).</summary>
public struct Vattr
{
    public VType Type;
    /// <summary>Permission bits only (no S_IFMT); the type is <see cref="Type"/>.</summary>
    public uint Mode;
    public uint Nlink;
    public uint Uid, Gid;
    public ulong Fsid;
    public ulong Fileid;
    public long Size;
    public long Bytes;
    public uint Blocksize;
    public RumpTimespec Atime, Mtime, Ctime, Birthtime;
    public ulong Rdev;
    public uint Flags;
    public uint Gen;
    /// <summary>For setattr: the fields to change.</summary>
    public VaMask Mask;

    public static uint TypeToMode(VType t) => t switch
    {
        VType.VREG => (uint)Abi.S_IFREG,
        VType.VDIR => (uint)Abi.S_IFDIR,
        VType.VLNK => (uint)Abi.S_IFLNK,
        VType.VBLK => (uint)Abi.S_IFBLK,
        VType.VCHR => (uint)Abi.S_IFCHR,
        VType.VFIFO => (uint)Abi.S_IFIFO,
        VType.VSOCK => (uint)Abi.S_IFSOCK,
        _ => 0,
    };

    public static byte TypeToDirentType(VType t) => t switch
    {
        VType.VREG => (byte)Abi.DT_REG,
        VType.VDIR => (byte)Abi.DT_DIR,
        VType.VLNK => (byte)Abi.DT_LNK,
        VType.VBLK => (byte)Abi.DT_BLK,
        VType.VCHR => (byte)Abi.DT_CHR,
        VType.VFIFO => (byte)Abi.DT_FIFO,
        VType.VSOCK => (byte)Abi.DT_SOCK,
        _ => (byte)Abi.DT_UNKNOWN,
    };

    /// <summary>The struct stat a client sees (NetBSD vn_stat).</summary>
    public readonly void ToStat(out RumpStat st)
    {
        st = default;
        st.st_dev = Fsid;
        st.st_ino = Fileid;
        st.st_mode = TypeToMode(Type) | (Mode & 0xfff);
        st.st_nlink = Nlink;
        st.st_uid = Uid;
        st.st_gid = Gid;
        st.st_rdev = Rdev;
        st.st_atim = Atime;
        st.st_mtim = Mtime;
        st.st_ctim = Ctime;
        st.st_birthtim = Birthtime;
        st.st_size = Size;
        st.st_blocks = (Bytes + 511) / 512;
        st.st_blksize = (int)Blocksize;
        st.st_flags = Flags;
        st.st_gen = Gen;
    }
}
