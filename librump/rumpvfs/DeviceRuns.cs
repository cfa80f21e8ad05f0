using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A reader that moves a file's bytes from its device by itself, given where they lie
/// (<see cref="VnodeOps.Bmap"/>, after NetBSD's VOP_BMAP). rumpfuse is one: it has the host
/// splice the image's pages into the FUSE reply, so the bytes never pass through the kernel.
///
/// The file system calls <see cref="Add"/> for each run of the range in file order, then
/// <see cref="Transfer"/> once, all with its own locks held: until Transfer returns, no block of
/// the range can be written, freed or given to another file, and the buffer cache was found to
/// hold nothing newer than the device for any of them. (NetBSD's callers hold the vnode lock
/// across VOP_BMAP and the I/O; here each file system takes its locks inside its operations, so
/// the I/O is a call made under them.) A sink is used by one thread at a time.
/// </summary>
public abstract class DeviceRunSink
{
    /// <summary>
    /// The next <paramref name="length"/> bytes of the range are at byte <paramref name="offset"/>
    /// of <paramref name="dev"/>. False when the sink cannot take them (too many runs, a device it
    /// cannot reach): the file system stops and answers EOPNOTSUPP, nothing having moved.
    /// </summary>
    public abstract bool Add(BlockDevice dev, long offset, int length);

    /// <summary>
    /// Moves the runs added (the whole range, cut at the end of the file), under the file system's
    /// locks. Blocking work gives up the virtual CPU as a hypercall does. An errno; EOPNOTSUPP
    /// only if nothing moved (the caller then reads with VOP_READ).
    /// </summary>
    public abstract int Transfer(Lwp l);
}
