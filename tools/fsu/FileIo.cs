using System;
using System.Buffers;
using System.IO;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>Moving file bytes between the image and host streams in 1 MiB pieces.</summary>
internal static class FileIo
{
    private const int Chunk = 1 << 20;

    /// <summary>Reads the image file at <paramref name="kpath"/> into <paramref name="dst"/>; 0 or -errno.</summary>
    public static int ReadInto(ImageSession s, string kpath, Stream dst, Progress? progress)
    {
        int fd = s.K.Open(kpath, Abi.O_RDONLY);
        if (fd < 0) return fd;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            while (true)
            {
                long n = s.K.Read(fd, buf.AsSpan(0, Chunk));
                if (n < 0) return (int)n;
                if (n == 0) return 0;
                dst.Write(buf, 0, (int)n);
                progress?.Add(n);
            }
        }
        finally { s.K.Close(fd); ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>Creates (or truncates) the image file at <paramref name="kpath"/> with the bytes of <paramref name="src"/>; 0 or -errno.</summary>
    public static int WriteFrom(ImageSession s, string kpath, Stream src, uint mode, Progress? progress)
    {
        int fd = s.K.Open(kpath, Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, mode);
        if (fd < 0) return fd;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Chunk);
        int r = 0;
        int got;
        while (r == 0 && (got = src.Read(buf, 0, Chunk)) > 0)
        {
            int off = 0;
            while (off < got)
            {
                long w = s.K.Write(fd, buf.AsSpan(off, got - off));
                if (w <= 0) { r = w < 0 ? (int)w : -Abi.EIO; break; }
                off += (int)w;
            }
            progress?.Add(off);
        }
        ArrayPool<byte>.Shared.Return(buf);
        int c = s.K.Close(fd);
        return r != 0 ? r : c;
    }
}
