// struct rumpuser_iovec: one scatter-gather element, laid out like the
// host's struct iovec.

using System.Runtime.InteropServices;

namespace Rump.Hypercall;

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpUserIovec
{
    public void* iov_base;
    public nuint iov_len;
}
