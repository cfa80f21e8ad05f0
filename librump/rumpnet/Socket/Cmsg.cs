using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// Control messages between the caller and a <see cref="Control"/> (NetBSD's sockargs for
/// MT_CONTROL, unp_internalize and unp_externalize). Records are struct cmsghdr, each padded
/// to 8 bytes (CMSG_ALIGN). SCM_RIGHTS at SOL_SOCKET carries descriptors: sent ones become file
/// references, received ones new descriptors; other records pass through as bytes.
/// </summary>
internal static class Cmsg
{
    /// <summary>NetBSD's limit on control data (MCLBYTES).</summary>
    private const int MaxControl = 2048;

    /// <summary>Reads the caller's control data (EINVAL if malformed or too long, EBADF for a bad descriptor in SCM_RIGHTS).</summary>
    public static int CopyIn(Lwp l, UserPtr p, uint len, out Control? control)
    {
        control = null;
        if (len > MaxControl || len < 12) return Abi.EINVAL;
        Span<byte> buf = stackalloc byte[(int)len];
        int e = l.Proc.Vmspace.CopyIn(p, buf);
        if (e != 0) return e;
        var c = new Control();
        var other = new System.Collections.Generic.List<byte>();
        int off = 0;
        while (off + 12 <= buf.Length)
        {
            var h = MemoryMarshal.Read<RumpCmsghdr>(buf.Slice(off));
            if (h.cmsg_len < 12 || off + h.cmsg_len > buf.Length) { c.Dispose(l); return Abi.EINVAL; }
            ReadOnlySpan<byte> rec = buf.Slice(off, (int)h.cmsg_len);
            if (h.cmsg_level == Abi.SOL_SOCKET && h.cmsg_type == Abi.SCM_RIGHTS)
            {
                if (rec.Length < RumpCmsghdr.DataOffset) { c.Dispose(l); return Abi.EINVAL; }
                ReadOnlySpan<int> fds = MemoryMarshal.Cast<byte, int>(rec.Slice(RumpCmsghdr.DataOffset));
                int have = c.Rights?.Length ?? 0;
                var files = new File?[have + fds.Length];
                if (c.Rights != null) Array.Copy(c.Rights, files, have);
                c.Rights = files;
                for (int i = 0; i < fds.Length; i++)
                {
                    File? f = l.Proc.Fd.Get(fds[i]);
                    if (f == null) { c.Dispose(l); return Abi.EBADF; }
                    files[have + i] = f;
                }
            }
            else
            {
                foreach (byte b in rec) other.Add(b);
                for (int pad = RumpCmsghdr.Align(rec.Length) - rec.Length; pad > 0; pad--) other.Add(0);
            }
            off += RumpCmsghdr.Align((int)h.cmsg_len);
        }
        c.Bytes = other.ToArray();
        control = c;
        return 0;
    }

    /// <summary>
    /// Writes <paramref name="c"/> to the caller's buffer of <paramref name="max"/> bytes: the
    /// SCM_RIGHTS files as new descriptors (as many as fit; the rest stay in <paramref name="c"/>
    /// to be released), then the other records. <paramref name="ctrunc"/>: something did not fit.
    /// </summary>
    public static int CopyOut(Lwp l, Control c, UserPtr p, uint max, bool cloexec, out uint written, out bool ctrunc)
    {
        written = 0;
        ctrunc = false;
        int off = 0;
        int room = p.IsNull ? 0 : (int)Math.Min(max, int.MaxValue);
        File?[]? rights = c.Rights;
        if (rights != null && rights.Length > 0)
        {
            int fit = Math.Max(0, (room - RumpCmsghdr.DataOffset) / 4);
            int n = Math.Min(fit, rights.Length);
            if (n < rights.Length) ctrunc = true;
            if (n > 0)
            {
                int rlen = RumpCmsghdr.DataOffset + 4 * n;
                byte[] rec = new byte[rlen];
                var h = new RumpCmsghdr { cmsg_len = (uint)rlen, cmsg_level = Abi.SOL_SOCKET, cmsg_type = Abi.SCM_RIGHTS };
                MemoryMarshal.Write(rec, h);
                Span<int> fds = MemoryMarshal.Cast<byte, int>(rec.AsSpan(RumpCmsghdr.DataOffset));
                for (int i = 0; i < n; i++)
                {
                    int e = l.Proc.Fd.Alloc(rights[i]!, cloexec, out int fd);
                    if (e != 0)
                    {
                        // Out of descriptors: those installed so far stay, the rest are dropped (NetBSD fails the same way).
                        for (int j = 0; j < i; j++) l.Proc.Fd.Close(l, fds[j]);
                        return e;
                    }
                    rights[i] = null;
                    fds[i] = fd;
                }
                int wr = l.Proc.Vmspace.CopyOut(rec, p);
                if (wr != 0) return wr;
                off = Math.Min(RumpCmsghdr.Align(rlen), room);
            }
        }
        if (c.Bytes.Length > 0)
        {
            int n = Math.Min(c.Bytes.Length, room - off);
            if (n < c.Bytes.Length) ctrunc = true;
            if (n > 0)
            {
                int wr = l.Proc.Vmspace.CopyOut(c.Bytes.AsSpan(0, n), p.Add(off));
                if (wr != 0) return wr;
                off += n;
            }
        }
        written = (uint)off;
        return 0;
    }
}
