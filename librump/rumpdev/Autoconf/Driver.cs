using System;

namespace Rump.Dev;

/// <summary>config_detach flags (NetBSD sys/device.h DETACH_*).</summary>
[Flags]
public enum DetachFlags
{
    None = 0,
    /// <summary>The device is going whether the driver likes it or not (hot-unplug, shutdown): the driver must not refuse.</summary>
    Force = 0x01,
    /// <summary>No "xx0 detached" message.</summary>
    Quiet = 0x02,
    /// <summary>The kernel is halting.</summary>
    Shutdown = 0x04,
    Poweroff = 0x08,
}

/// <summary>
/// A device driver as autoconfiguration sees it: NetBSD's cfdriver (the name devices get, "umass"
/// for umass0, umass1, ...) and cfattach (match, attach, detach) in one object. One instance
/// serves every device of the driver; per-device state goes in <see cref="Device.Softc"/>.
///
/// Context: every entry point runs in thread context with the autoconfiguration lock held (see
/// <see cref="Autoconf"/>), so attach and detach of one tree never interleave. Attach and detach may
/// sleep (wait for a transfer, take locks) and may configure or detach other devices, which is how
/// a bus attaches its children. They must not wait for another thread that itself configures
/// devices, nor for an interrupt handler that does: interrupts hand such work to
/// <see cref="Autoconf.Defer"/>.
/// </summary>
public abstract class Driver
{
    /// <summary>The device name prefix (NetBSD cd_name): letters, no digits at the end.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// How well this driver fits the device <paramref name="parent"/> found, described by
    /// <paramref name="aux"/> (the bus's attach arguments): 0 for not at all, otherwise a priority;
    /// the highest wins, the driver registered first on a tie (NetBSD's match functions and their
    /// UMATCH_* levels). Called for every registered driver on every device found: no side effects.
    /// </summary>
    public abstract int Match(Device parent, object aux);

    /// <summary>
    /// Optional text for the attach line after the locators: "umass0 at uhub0 port 1: SanDisk Cruzer".
    /// Asked before <see cref="Attach"/>, so that the line comes before whatever attach prints.
    /// </summary>
    public virtual string? Describe(Device parent, object aux) => null;

    /// <summary>Configures <paramref name="self"/>, the device just named for this driver, from <paramref name="aux"/>.</summary>
    public abstract void Attach(Device self, Device parent, object aux);

    /// <summary>
    /// Releases <paramref name="self"/>; its children are already detached. Returns 0, or an errno
    /// (EBUSY: in use) to refuse, which a <see cref="DetachFlags.Force"/> detach does not allow
    /// (NetBSD panics then, and so does this kernel). The default accepts.
    /// </summary>
    public virtual int Detach(Device self, DetachFlags flags) => 0;

    /// <summary>A child of <paramref name="self"/> has been detached (NetBSD ca_childdetached).</summary>
    public virtual void ChildDetached(Device self, Device child) { }
}
