namespace Rump.Bench;

/// <summary>
/// The operations both sides of a pair run: the same code, through the given kernel's entry
/// points. Results are checked (one compare per call on both sides) so that a failing call
/// cannot pass for a fast one.
/// </summary>
internal static unsafe class Ops
{
    public const int GetdentsBuf = 64 * 1024;

    public static void NullCall(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.NullCall() <= 0) Kern.Fail("null call");
    }

    public static void Getpid(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.Getpid(k.GetpidArg) <= 0) Kern.Fail("getpid");
    }

    public static void OpenClose(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
        {
            int fd = k.Open(k.File4K, k.ORdonly, 0);
            if (fd < 0) Kern.Fail("open");
            k.Close(fd);
        }
    }

    public static void Stat(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.Stat(k.File4K, k.StatBuf) != 0) Kern.Fail("stat");
    }

    public static void Fstat(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.Fstat(k.Fd4K, k.StatBuf) != 0) Kern.Fail("fstat");
    }

    public static void Pread(Kern k, int fd, int size, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.Pread(fd, k.Buf, (nuint)size, 0) != size) Kern.Fail("pread");
    }

    public static void Pwrite(Kern k, int fd, int size, int n)
    {
        for (int i = 0; i < n; i++)
            if (k.Pwrite(fd, k.Buf, (nuint)size, 0) != size) Kern.Fail("pwrite");
    }

    public static void CreateUnlink(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
        {
            int fd = k.Open(k.NewFile, k.OCreat | k.OExcl | k.ORdwr, 0x1a4);
            if (fd < 0) Kern.Fail("create");
            k.Close(fd);
            if (k.Unlink(k.NewFile) != 0) Kern.Fail("unlink");
        }
    }

    public static void MkdirRmdir(Kern k, int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (k.Mkdir(k.NewDir, 0x1ed) != 0) Kern.Fail("mkdir");
            if (k.Rmdir(k.NewDir) != 0) Kern.Fail("rmdir");
        }
    }

    /// <summary>Opens the 1,000-entry directory and reads it to the end; returns the bytes read.</summary>
    public static int Getdents(Kern k)
    {
        int fd = k.Open(k.Dir1000, k.ORdonly | k.ODirectory, 0);
        if (fd < 0) Kern.Fail("open dir");
        int total = 0, got;
        while ((got = k.Getdents(fd, k.Buf, GetdentsBuf)) > 0) total += got;
        if (got < 0) Kern.Fail("getdents");
        k.Close(fd);
        return total;
    }

    /// <summary>Writes 256 MiB in 1 MiB calls to a truncated file, then reads it back.</summary>
    public static void Sequential256M(Kern k)
    {
        int fd = k.Open(k.Big, k.OCreat | k.OTrunc | k.ORdwr, 0x1a4);
        if (fd < 0) Kern.Fail("create big");
        int chunks = (int)(Kern.Size256M / Kern.Size1M);
        for (int i = 0; i < chunks; i++)
            if (k.Write(fd, k.Buf, Kern.Size1M) != Kern.Size1M) Kern.Fail("write big");
        for (int i = 0; i < chunks; i++)
            if (k.Pread(fd, k.Buf, Kern.Size1M, (long)i * Kern.Size1M) != Kern.Size1M) Kern.Fail("read big");
        k.Close(fd);
    }

    /// <summary>The scaling loop body: open a 4 KiB file, read it, close it (thread t's own file and buffer).</summary>
    public static void OpenReadClose(Kern k, int t, int n)
    {
        byte* path = k.ScaleFile[t], buf = k.ThreadBuf[t];
        for (int i = 0; i < n; i++)
        {
            int fd = k.Open(path, k.ORdonly, 0);
            if (fd < 0) Kern.Fail("open");
            if (k.Read(fd, buf, Kern.Size4K) != Kern.Size4K) Kern.Fail("read");
            k.Close(fd);
        }
    }
}
