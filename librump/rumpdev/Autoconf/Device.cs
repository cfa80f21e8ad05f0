using System.Collections.Generic;

namespace Rump.Dev;

/// <summary>Where a device is in its life (NetBSD keeps these as DVF_* flags and dv_pending).</summary>
public enum DeviceState : byte
{
    /// <summary>Named and linked into the tree; its driver's attach is running.</summary>
    Attaching,
    Attached,
    /// <summary>config_detach is detaching its children or running its driver's detach.</summary>
    Detaching,
    /// <summary>Unlinked from the tree; the unit number is free again.</summary>
    Detached,
}

/// <summary>
/// A configured device (NetBSD device_t): one unit of a driver, at one place in the tree.
/// <see cref="State"/>, <see cref="Parent"/>'s children list and the unit number belong to
/// <see cref="Autoconf"/> and change only under its locks; <see cref="Softc"/> belongs to the driver.
/// </summary>
public sealed class Device
{
    public readonly Autoconf Autoconf;
    public readonly Driver Driver;
    public readonly int Unit;
    /// <summary>device_xname: the driver's name and the unit ("umass0").</summary>
    public readonly string Name;
    /// <summary>Null only for the root (mainbus0).</summary>
    public readonly Device? Parent;
    /// <summary>Where the parent found it, as the parent printed it ("port 1"), or null.</summary>
    public readonly string? Locators;
    /// <summary>The driver's per-device state (NetBSD device_private).</summary>
    public object? Softc;
    internal readonly List<Device> Children = new();
    internal DeviceState StateValue;

    internal Device(Autoconf ac, Driver drv, int unit, Device? parent, string? locators)
    {
        Autoconf = ac; Driver = drv; Unit = unit; Parent = parent; Locators = locators;
        Name = drv.Name + unit.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public DeviceState State => StateValue;

    /// <summary>aprint_normal_dev: "umass0: " and the text, into the message buffer (the console when verbose).</summary>
    public void Aprint(string text) => Autoconf.Kernel.Aprint(Name + ": " + text);

    public override string ToString() => Name;
}
