namespace Rump.Kern;

/// <summary>
/// Permission decisions (NetBSD kauth(9) with the secmodel_suser and secmodel_bsd44 policies):
/// the superuser passes every check except executing a file with no execute bit at all; everyone
/// else is checked against the owner, group or other bits, whichever class they fall in first.
/// </summary>
public static class Kauth
{
    public const int VREAD = 0x4, VWRITE = 0x2, VEXEC = 0x1;

    /// <summary>
    /// Access check for an object with the given owner, group and permission bits (NetBSD
    /// genfs_can_access). <paramref name="acc"/> is a mask of VREAD/VWRITE/VEXEC. Returns 0 or EACCES.
    /// </summary>
    public static int Access(Cred cred, uint mode, uint uid, uint gid, int acc, bool isDir = false)
    {
        if (cred.IsRoot)
        {
            // Root may search any directory but exec only if some x bit is set.
            if ((acc & VEXEC) != 0 && !isDir && (mode & 0x49) == 0)
                return Abi.EACCES;
            return 0;
        }
        int bits;
        if (cred.Euid == uid)
            bits = (int)(mode >> 6) & 7;
        else if (cred.IsMember(gid))
            bits = (int)(mode >> 3) & 7;
        else
            bits = (int)mode & 7;
        return (bits & acc) == acc ? 0 : Abi.EACCES;
    }

    /// <summary>May <paramref name="cred"/> change attributes of an object owned by <paramref name="owner"/>? (EPERM if not)</summary>
    public static int Owner(Cred cred, uint owner) => cred.IsRoot || cred.Euid == owner ? 0 : Abi.EPERM;

    /// <summary>Privileged operation (mount, reboot, set ids, sysctl writes).</summary>
    public static int Privileged(Cred cred) => cred.IsRoot ? 0 : Abi.EPERM;
}
