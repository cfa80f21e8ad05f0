namespace Rump.Net.Wire;

/// <summary>
/// Why a parser refused bytes. Hostile and broken frames are ordinary input: parsers return one
/// of these and never throw. The protocol layers count them (netstat's "bad header", "bad
/// checksum") and drop the packet.
/// </summary>
public enum WireError : byte
{
    Ok = 0,
    /// <summary>Shorter than a header, or than a length field inside it says.</summary>
    Truncated,
    /// <summary>A field holds a value the format forbids (version, header length, option length).</summary>
    Malformed,
    /// <summary>Well-formed but not something this stack handles (802.3 length frames, QinQ, ARP for other hardware).</summary>
    Unsupported,
    /// <summary>The checksum does not verify.</summary>
    BadChecksum,
}
