namespace Rump.Kern;

/// <summary>
/// Memory a device moves data into and out of without a copy (NetBSD's bus_dmamem_alloc(9)): a
/// driver lends it for transfer buffers, and a transfer whose buffer lies in it goes to the
/// hardware (here: the host) as it is. A buffer that is not such memory costs the driver a copy
/// through a bounce buffer of its own, so a consumer that keeps data around (a read-ahead window)
/// asks for this memory to save that copy.
///
/// The holder gives it back once with <see cref="Release"/>, after its last transfer into it has
/// ended, from thread context. It stays mapped until then even when the device goes away in
/// between: the driver defers tearing the memory down (transfers into it then fail, reading what
/// is already there stays safe).
/// </summary>
public abstract unsafe class DmaMem
{
    public byte* Pointer { get; protected set; }
    public int Length { get; protected set; }

    /// <summary>Gives the memory back to the device. Thread context; once per loan.</summary>
    public abstract void Release();
}
