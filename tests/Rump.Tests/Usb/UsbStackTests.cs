using System;
using System.Collections.Generic;
using System.IO;
using File = System.IO.File;
using System.Text;
using NUnit.Framework;
using Rump.Dev;
using Rump.Dev.Scsipi;
using Rump.Kern;
using Rump.Usb;
using Rump.Usb.Wire;

namespace Rump.Tests.Usb;

/// <summary>
/// usbdi, uhub, umass (the Bulk-Only state machine with its stall handling and reset recovery),
/// scsibus and sd over <see cref="TestHc"/>, a test-double host controller with an emulated
/// Bulk-Only disk. The file-system test puts an image made by mkfs.fat/mcopy on the emulated disk,
/// mounts /dev/sd0 with msdosfs, reads and writes through the whole stack, and checks the media
/// with fsck.fat and mtools. The real controller (ugenhc over libusb) is tested in a QEMU guest.
/// </summary>
public class UsbStackTests : KernelTest
{
    private sealed class Rig
    {
        public readonly RumpKernel K;
        public readonly Autoconf Ac;
        public readonly TestHc Hc;
        public readonly EmuBotDisk Disk;
        public Device? HcDev;

        public Rig(RumpKernel k, byte[] media, int ports = 2, EmuDevice? second = null, bool probe = false)
        {
            K = k;
            Ac = k.Kernel.GetService<Autoconf>()!;
            UsbComponent.RegisterDrivers(Ac);
            Ac.AddDriver(new TestHcDriver());
            Hc = new TestHc(k.Kernel, ports);
            Disk = new EmuBotDisk(media);
            Hc.PlugNow(1, Disk);
            if (second != null) Hc.PlugNow(2, second);
            Hc.Probe = probe;
            HcDev = Ac.ConfigFound(Ac.Root, Hc);
            Assert.That(HcDev, Is.Not.Null, "the test controller attaches at mainbus0");
        }

        public SdDisk Sd(string name = "sd0")
        {
            Device? d = Ac.Lookup(name);
            Assert.That(d, Is.Not.Null, name + " attached; dmesg:\n" + K.Dmesg());
            Assert.That(d!.Softc, Is.InstanceOf<SdDisk>(), name + " has a disk; dmesg:\n" + K.Dmesg());
            return (SdDisk)d.Softc!;
        }

        public BulkOnlyMachine Bot() => (BulkOnlyMachine)Ac.Lookup("umass0")!.Softc!;
    }

    private static byte[] Pattern(int bytes)
    {
        byte[] b = new byte[bytes];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(i * 7 + i / 512);
        return b;
    }

    [Test]
    public void EnumerationBuildsTheTreeWithBootMessages()
    {
        var r = new Rig(Boot(), new byte[4 << 20]);
        string dmesg = r.K.Dmesg();
        foreach (string line in new[]
                 {
                     "testhc0 at mainbus0", "uhub0 at testhc0: rump test root hub", "uhub0: 2 ports",
                     "umass0 at uhub0 port 1 configuration 1 interface 0: QEMU QEMU USB HARDDRIVE",
                     "umass0: using SCSI over Bulk-Only", "scsibus0 at umass0: SCSI bus",
                     "sd0 at scsibus0 target 0 lun 0: <QEMU, QEMU HARDDISK, 2.5+> disk removable",
                     "sd0: 4 MB, 8192 sectors x 512 bytes",
                 })
            Assert.That(dmesg, Does.Contain(line), "dmesg line missing");
        Assert.That(r.Disk.Log, Does.Contain("std 5 1"), "SET_ADDRESS 1 reached the device");
        Assert.That(r.Disk.Log, Does.Contain("std 9 1"), "SET_CONFIGURATION 1 reached the device");
        Assert.That(r.K.Stat("/dev/sd0", out _), Is.EqualTo(0), "/dev/sd0 exists");
    }

    [Test]
    public void ProbeModeListsDriversAndAttachesNothing()
    {
        var r = new Rig(Boot(), new byte[1 << 20], second: new EmuKeyboard(), probe: true);
        string dmesg = r.K.Dmesg();
        Assert.That(dmesg, Does.Contain("usb probe: 46f4:0001 QEMU QEMU USB HARDDRIVE (test port 1) at uhub0 port 1: interface 0 (class 8/6/80): umass\n"));
        Assert.That(dmesg, Does.Contain("usb probe: 0627:0001 QEMU QEMU USB Keyboard (test port 2) at uhub0 port 2: interface 0 (class 3/1/1): uhidev (ukbd)\n"));
        Assert.That(r.Ac.Lookup("umass0"), Is.Null, "nothing attached");
        Assert.That(r.Ac.Lookup("ukbd0"), Is.Null, "nothing attached");
        Assert.That(r.Disk.Log, Has.None.StartsWith("cdb"), "no command reached the disk");
    }

    [Test]
    public void UgenTakesWhatNobodyWantsWithEndpointNodes()
    {
        var r = new Rig(Boot(), new byte[1 << 20], second: new EmuEcho());
        string dmesg = r.K.Dmesg();
        Assert.That(dmesg, Does.Contain("ugen0 at uhub0 port 2"), "the vendor device went to ugen");
        Assert.That(dmesg, Does.Contain("ugen0: 2 endpoints on /dev/ugen0.EE"));
        Assert.That(r.Ac.Lookup("umass0"), Is.Not.Null, "the stick still went to umass");
        int w = r.K.Open("/dev/ugen0.02", Abi.O_WRONLY);
        int rd = r.K.Open("/dev/ugen0.01", Abi.O_RDONLY);
        Assert.That(w, Is.GreaterThanOrEqualTo(0), "open the OUT endpoint");
        Assert.That(rd, Is.GreaterThanOrEqualTo(0), "open the IN endpoint");
        Assert.That(r.K.Write(w, Encoding.ASCII.GetBytes("ping over bulk")), Is.EqualTo(14));
        byte[] buf = new byte[64];
        Assert.That(r.K.Read(rd, buf), Is.EqualTo(14), "one transfer, short of the read's size");
        Assert.That(Encoding.ASCII.GetString(buf, 0, 14), Is.EqualTo("ping over bulk"));
        Assert.That(r.K.Read(w, buf), Is.EqualTo(-Abi.EBADF), "the OUT node is write-only here");
        r.K.Close(w);
        r.K.Close(rd);
    }

    [Test]
    public void SdReadsAndWritesTheMedia()
    {
        byte[] media = Pattern(2 << 20);
        var r = new Rig(Boot(), media);
        SdDisk sd = r.Sd();
        byte[] buf = new byte[128 * 1024];
        Assert.That(sd.ReadSync(r.K.Kernel, 512 * 100, buf), Is.EqualTo(0));
        Assert.That(buf, Is.EqualTo(media.AsSpan(512 * 100, buf.Length).ToArray()), "READ(10) returns the media's bytes");
        byte[] w = Encoding.ASCII.GetBytes(new string('Q', 1024));
        Assert.That(sd.WriteSync(r.K.Kernel, 4096, w), Is.EqualTo(0));
        Assert.That(media.AsSpan(4096, 1024).ToArray(), Is.EqualTo(w), "WRITE(10) reached the media");
        Assert.That(sd.Flush(), Is.EqualTo(0), "SYNCHRONIZE CACHE");
        Assert.That(sd.ReadSync(r.K.Kernel, media.Length, buf.AsSpan(0, 512)), Is.EqualTo(Abi.EINVAL), "beyond the end");
    }

    [Test]
    public void DataStallIsClearedAndTheCommandFailsWithItsSense()
    {
        byte[] media = Pattern(1 << 20);
        var r = new Rig(Boot(), media);
        SdDisk sd = r.Sd();
        BulkOnlyMachine bot = r.Bot();
        byte[] buf = new byte[4096];
        r.Disk.StallNextData = true;
        Assert.That(sd.ReadSync(r.K.Kernel, 0, buf), Is.EqualTo(Abi.EIO), "a medium error after a stalled data stage is EIO");
        Assert.That(r.Disk.Log, Does.Contain("clear-halt 81"), "the data-in pipe's halt was cleared");
        Assert.That(bot.Stalls, Is.EqualTo(1));
        Assert.That(bot.Resets, Is.EqualTo(0), "a data stall needs no reset recovery");
        Assert.That(sd.ReadSync(r.K.Kernel, 0, buf), Is.EqualTo(0), "the next command works");
        Assert.That(buf, Is.EqualTo(media.AsSpan(0, 4096).ToArray()));
        Assert.That(bot.Current, Is.EqualTo(BulkOnlyMachine.State.Idle));
    }

    [Test]
    public void StatusStallIsClearedAndTheCswReadAgain()
    {
        byte[] media = Pattern(1 << 20);
        var r = new Rig(Boot(), media);
        SdDisk sd = r.Sd();
        byte[] buf = new byte[4096];
        r.Disk.StallNextCsw = true;
        Assert.That(sd.ReadSync(r.K.Kernel, 8192, buf), Is.EqualTo(0), "the retried CSW says the command passed");
        Assert.That(buf, Is.EqualTo(media.AsSpan(8192, 4096).ToArray()));
        Assert.That(r.Bot().Stalls, Is.EqualTo(1));
        Assert.That(r.Bot().Resets, Is.EqualTo(0));
    }

    [Test]
    public void BadCswTagRunsResetRecovery()
    {
        byte[] media = Pattern(1 << 20);
        var r = new Rig(Boot(), media);
        SdDisk sd = r.Sd();
        byte[] buf = new byte[4096];
        r.Disk.BadTagNextCsw = true;
        Assert.That(sd.ReadSync(r.K.Kernel, 0, buf), Is.EqualTo(Abi.EIO), "a CSW with the wrong tag fails the command");
        Assert.That(r.Disk.ResetsSeen, Is.EqualTo(1), "Bulk-Only Mass Storage Reset sent");
        int reset = r.Disk.Log.LastIndexOf("reset");
        Assert.That(r.Disk.Log.GetRange(reset, 3), Is.EqualTo(new[] { "reset", "clear-halt 81", "clear-halt 02" }), "reset recovery's order (BOT 5.3.4)");
        Assert.That(r.Bot().Resets, Is.EqualTo(1));
        Assert.That(sd.ReadSync(r.K.Kernel, 0, buf), Is.EqualTo(0), "the device works after recovery");
        Assert.That(buf, Is.EqualTo(media.AsSpan(0, 4096).ToArray()));
    }

    [Test]
    public void UnansweredCswTimesOutIntoResetRecovery()
    {
        var r = new Rig(Boot(), Pattern(1 << 20));
        SdDisk sd = r.Sd();
        r.Bot().StatusTimeoutMs = 200;
        byte[] buf = new byte[512];
        r.Disk.HangNextCsw = true;
        Assert.That(sd.ReadSync(r.K.Kernel, 0, buf), Is.EqualTo(Abi.ETIMEDOUT), "the CSW read timed out");
        Assert.That(r.Disk.ResetsSeen, Is.EqualTo(1));
        Assert.That(sd.ReadSync(r.K.Kernel, 512, buf), Is.EqualTo(0));
    }

    [Test]
    public void WriteProtectedStickIsReadOnly()
    {
        var r0 = new EmuBotDisk(new byte[1 << 20]) { WriteProtected = true };
        var k = Boot();
        Autoconf ac = k.Kernel.GetService<Autoconf>()!;
        UsbComponent.RegisterDrivers(ac);
        ac.AddDriver(new TestHcDriver());
        var hc = new TestHc(k.Kernel, 1);
        hc.PlugNow(1, r0);
        ac.ConfigFound(ac.Root, hc);
        Assert.That(k.Dmesg(), Does.Contain("sd0: 1 MB, 2048 sectors x 512 bytes, write protected"));
        var sd = (SdDisk)ac.Lookup("sd0")!.Softc!;
        Assert.That(sd.ReadOnly, Is.True);
        Assert.That(sd.WriteSync(k.Kernel, 0, new byte[512]), Is.EqualTo(Abi.EROFS));
    }

    [Test]
    public void UnplugDetachesAndReplugAttachesAgain()
    {
        var r = new Rig(Boot(), new byte[1 << 20]);
        r.Sd();
        var uhub = (Uhub.Softc)r.Ac.Lookup("uhub0")!.Softc!;
        r.Hc.Plug(1, null);
        Assert.That(Eventually(() => r.Ac.Lookup("sd0") == null), Is.True, "sd0 went with the stick; dmesg:\n" + r.K.Dmesg());
        Assert.That(r.Ac.Drain(), Is.EqualTo(0));
        string dmesg = r.K.Dmesg();
        Assert.That(dmesg, Does.Contain("sd0 detached\nscsibus0 detached\numass0 detached\n"));
        Assert.That(r.K.Stat("/dev/sd0", out _), Is.EqualTo(-Abi.ENOENT), "its node went too");
        r.Hc.Plug(2, new EmuBotDisk(new byte[2 << 20]));
        Assert.That(Eventually(() => r.Ac.Lookup("sd0")?.Softc is SdDisk), Is.True, "a new stick on port 2 attaches; dmesg:\n" + r.K.Dmesg());
        Assert.That(r.K.Dmesg(), Does.Contain("umass0 at uhub0 port 2"));
        Assert.That(uhub.Explored, Is.GreaterThanOrEqualTo(3));
    }

    [Test]
    public void PartitionedStickGetsPartitionNodes()
    {
        FsImages.RequireTool("sfdisk");
        FsImages.RequireTool("mkfs.fat");
        FsImages.RequireTool("mcopy");
        string work = HostWork;
        string disk = Path.Combine(work, "disk.img"), part = Path.Combine(work, "part.img");
        byte[] media = new byte[24 << 20];
        File.WriteAllBytes(disk, media);
        var sf = FsImages.Run("sh", "-c", "echo 'start=2048, type=c' | sfdisk -q " + disk);
        FsImages.Ok(sf, "sfdisk");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", part, "20480"), "mkfs.fat");
        string src = Path.Combine(work, "in.txt");
        File.WriteAllText(src, "in the first partition\n");
        FsImages.Ok(FsImages.Run("mcopy", "-i", part, src, "::/IN.TXT"), "mcopy");
        media = File.ReadAllBytes(disk);
        File.ReadAllBytes(part).CopyTo(media, 2048 * 512);
        var r = new Rig(Boot(), media);
        r.Sd();
        Assert.That(r.K.Stat("/dev/sd0a", out _), Is.EqualTo(0), "the MBR's partition is /dev/sd0a");
        Assert.That(r.K.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(r.K.MountAs("msdos", "/dev/sd0a", "/mnt", Abi.MNT_RDONLY), Is.EqualTo(0), "mount /dev/sd0a");
        Assert.That(ReadFile(r.K, "/mnt/IN.TXT"), Is.EqualTo("in the first partition\n"));
        Assert.That(r.K.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void HostileDevicesGetErrorsNotPanics()
    {
        // Port 1 keeps a good stick; port 2 sees 150 hostile devices come and go.
        byte[] media = Pattern(1 << 20);
        var r = new Rig(Boot(), media);
        SdDisk sd = r.Sd();
        var hub = (Uhub.Softc)r.Ac.Lookup("uhub0")!.Softc!;
        long explored = hub.Explored;
        for (int seed = 0; seed < 150; seed++)
        {
            // Each device is explored (enumerated, maybe attached) before it goes.
            r.Hc.Plug(2, new EmuHostile(seed));
            Assert.That(Eventually(() => r.Hc.Idle() && r.Ac.Drain() == 0 && r.Hc.Idle() && hub.Explored > explored), Is.True, "seed " + seed + " explored");
            explored = hub.Explored;
            r.Hc.Plug(2, null);
            Assert.That(Eventually(() => r.Hc.Idle() && r.Ac.Drain() == 0 && r.Hc.Idle() && hub.PortDevs[2] == null), Is.True, "seed " + seed + " gone");
            explored = hub.Explored;
        }
        Assert.That(r.K.Kernel.IsDead, Is.False, "no panic; dmesg:\n" + r.K.Dmesg());
        byte[] buf = new byte[8192];
        Assert.That(sd.ReadSync(r.K.Kernel, 4096, buf), Is.EqualTo(0), "the good stick still works");
        Assert.That(buf, Is.EqualTo(media.AsSpan(4096, 8192).ToArray()));
    }

    [Test]
    public unsafe void MsdosfsOnTheStickReadsAndWrites()
    {
        FsImages.RequireTool("mkfs.fat");
        FsImages.RequireTool("mcopy");
        FsImages.RequireTool("fsck.fat");
        string work = HostWork;
        string img = Path.Combine(work, "stick.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "32", "-n", "RUMPSTICK", img, "40960"), "mkfs.fat");
        string src = Path.Combine(work, "hello.txt");
        File.WriteAllText(src, "hello from the host\n");
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, src, "::/HELLO.TXT"), "mcopy");
        byte[] media = File.ReadAllBytes(img);
        var r = new Rig(Boot(), media);
        r.Sd();
        Assert.That(r.K.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(r.K.MountAs("msdos", "/dev/sd0", "/mnt", 0), Is.EqualTo(0), "mount /dev/sd0; dmesg:\n" + r.K.Dmesg());
        Assert.That(ReadFile(r.K, "/mnt/HELLO.TXT"), Is.EqualTo("hello from the host\n"));
        WriteFile(r.K, "/mnt/written.txt", "written through umass and sd\n");
        Assert.That(r.K.Unmount("/mnt"), Is.EqualTo(0));
        File.WriteAllBytes(img, media);
        var fsck = FsImages.Run("fsck.fat", "-n", img);
        Assert.That(fsck.code, Is.EqualTo(0), "fsck.fat -n after our writes:\n" + fsck.output);
        var back = FsImages.Run("mtype", "-i", img, "::/written.txt");
        Assert.That(back.output, Is.EqualTo("written through umass and sd\n"), "mtools reads our file back");
    }

    // ---- Throughput: commands per MiB, read-ahead on the direct path, clustered writes ----------

    /// <summary>
    /// A stick with a FAT file system made by mkfs.fat with 32 KiB clusters (as real sticks have)
    /// holding BIG.BIN, <paramref name="mib"/> MiB of known bytes written by mcopy; mounted at /mnt.
    /// </summary>
    private (Rig r, byte[] big, string img, byte[] media) StickWithBigFile(int mib)
    {
        FsImages.RequireTool("mkfs.fat");
        FsImages.RequireTool("mcopy");
        string img = Path.Combine(HostWork, "stick.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-s", "64", "-n", "RUMPSTICK", img, (mib * 1024 + 8192).ToString()), "mkfs.fat");
        byte[] big = new byte[mib << 20];
        new Random(8).NextBytes(big);
        string src = Path.Combine(HostWork, "BIG.BIN");
        File.WriteAllBytes(src, big);
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, src, "::/BIG.BIN"), "mcopy");
        byte[] media = File.ReadAllBytes(img);
        var r = new Rig(Boot(), media);
        r.Sd();
        Assert.That(r.K.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(r.K.MountAs("msdos", "/dev/sd0", "/mnt", 0), Is.EqualTo(0), "mount /dev/sd0; dmesg:\n" + r.K.Dmesg());
        return (r, big, img, media);
    }

    /// <summary>The READ/WRITE commands the disk saw from the <paramref name="from"/>-th on.</summary>
    private static List<(bool write, long off, long bytes)> RwSince(EmuBotDisk d, int from)
    {
        lock (d.Rw) return d.Rw.GetRange(from, d.Rw.Count - from);
    }

    [Test]
    public void SequentialReadKeepsTheNextRunInFlight()
    {
        var (r, big, _, _) = StickWithBigFile(4);
        var bc = r.K.Kernel.GetService<Rump.Vfs.Vfs>()!.BufCache;
        int fd = r.K.Open("/mnt/BIG.BIN", Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        int before;
        lock (r.Disk.Rw) before = r.Disk.Rw.Count;
        string Seen() => string.Join(", ", RwSince(r.Disk, before).ConvertAll(c => (c.write ? "W " : "R ") + c.off + "+" + c.bytes));
        // As usbbench reads: a byte, then 1 MiB reads (so each one ends a byte into a cluster).
        byte[] buf = new byte[1 << 20];
        Assert.That(r.K.Read(fd, buf.AsSpan(0, 1)), Is.EqualTo(1));
        Assert.That(buf[0], Is.EqualTo(big[0]));
        var first = RwSince(r.Disk, before);
        // The FAT (the file's cluster map), then the first byte's cluster.
        Assert.That(first.Count, Is.GreaterThan(0), "the first byte came from the disk");
        long fileStart = first[^1].off;
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
        Assert.That(buf, Is.EqualTo(big.AsSpan(1, buf.Length).ToArray()), "the first MiB");
        // With nobody reading, the READ of the file's third MiB reaches the disk: read-ahead.
        long third = fileStart + (2 << 20);
        bool ahead = Eventually(() => RwSince(r.Disk, before).Exists(c => !c.write && c.off <= third && c.off + c.bytes > third));
        Assert.That(ahead, Is.True, "expected a READ of the file's third MiB before the reader asked for it; the disk saw " + Seen());
        for (int i = 1; i < 3; i++)
        {
            Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
            Assert.That(buf, Is.EqualTo(big.AsSpan((i << 20) + 1, buf.Length).ToArray()), "MiB " + i);
        }
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length - 1), "the file's last bytes");
        Assert.That(buf.AsSpan(0, buf.Length - 1).ToArray(), Is.EqualTo(big.AsSpan((3 << 20) + 1).ToArray()), "MiB 3");
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(0), "end of file");
        var all = RwSince(r.Disk, before);
        long bytes = 0;
        foreach (var c in all) bytes += c.bytes;
        // The FAT sector, the first cluster, then one READ per MiB: the byte each read ends with
        // comes from the run already read ahead, not from another READ of its cluster.
        Assert.That(all.FindAll(c => !c.write && c.bytes >= 32 << 10).Count, Is.LessThanOrEqualTo(5), "data READ commands for 4 MiB; the disk saw " + Seen());
        Assert.That(bytes, Is.LessThanOrEqualTo((4L << 20) + (32 << 10) + 4096), "bytes read from the disk for 4 MiB; the disk saw " + Seen());
        Assert.That(bc.DirectAheadHits, Is.GreaterThanOrEqualTo(3), "reads served from read-ahead windows");
        Assert.That(r.Hc.DmaLent, Is.GreaterThanOrEqualTo(3), "windows in the controller's DMA memory");
        Assert.That(r.K.Close(fd), Is.EqualTo(0));
        Assert.That(r.Hc.DmaOut, Is.EqualTo(0), "DMA memory still lent after the reader closed the file");
        Assert.That(r.K.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void ReadAheadNeverServesDataTheFileNoLongerHas()
    {
        var (r, big, img, media) = StickWithBigFile(4);
        int fd = r.K.Open("/mnt/BIG.BIN", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        byte[] buf = new byte[1 << 20];
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
        // Windows of the second and third MiB are queued now; overwrite part of each.
        byte[] patch = new byte[5000];
        Array.Fill(patch, (byte)0xA5);
        Assert.That(r.K.Pwrite(fd, patch, (1 << 20) + 12345), Is.EqualTo(patch.Length));
        patch.CopyTo(big, (1 << 20) + 12345);
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
        Assert.That(buf, Is.EqualTo(big.AsSpan(1 << 20, buf.Length).ToArray()), "the second MiB with the write in it");
        // Shrink and grow back: the third MiB's clusters were freed, the file's new ones are zeros.
        Assert.That(r.K.Read(fd, buf.AsSpan(0, 4096)), Is.EqualTo(4096), "queue read-ahead of the third MiB");
        Assert.That(r.K.Ftruncate(fd, (2 << 20) + 4096), Is.EqualTo(0));
        Assert.That(r.K.Ftruncate(fd, 4 << 20), Is.EqualTo(0));
        Array.Clear(big, (2 << 20) + 4096, (2 << 20) - 4096);
        Assert.That(r.K.Pread(fd, buf, 2 << 20), Is.EqualTo(buf.Length));
        Assert.That(buf, Is.EqualTo(big.AsSpan(2 << 20, buf.Length).ToArray()), "the third MiB after the truncation");
        // A write through another descriptor over what the windows read.
        Assert.That(r.K.Lseek(fd, 0, 0), Is.EqualTo(0));
        Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
        // (It stays open: closing it would drop the windows, which then could not go stale.)
        int fd2 = r.K.Open("/mnt/BIG.BIN", Abi.O_WRONLY);
        Assert.That(r.K.Pwrite(fd2, patch, (3 << 20) - 100), Is.EqualTo(patch.Length));
        patch.CopyTo(big, (3 << 20) - 100);
        for (int i = 1; i < 4; i++)
        {
            Assert.That(r.K.Read(fd, buf), Is.EqualTo(buf.Length));
            Assert.That(buf, Is.EqualTo(big.AsSpan(i << 20, buf.Length).ToArray()), "MiB " + i + " after a write through another descriptor");
        }
        Assert.That(r.K.Close(fd2), Is.EqualTo(0));
        Assert.That(r.K.Close(fd), Is.EqualTo(0));
        Assert.That(r.Hc.DmaOut, Is.EqualTo(0), "DMA memory still lent after the files were closed");
        Assert.That(r.K.Unmount("/mnt"), Is.EqualTo(0));
        File.WriteAllBytes(img, media);
        FsImages.RequireTool("fsck.fat");
        var fsck = FsImages.Run("fsck.fat", "-n", img);
        Assert.That(fsck.code, Is.EqualTo(0), "fsck.fat -n after our writes:\n" + fsck.output);
        string back = Path.Combine(HostWork, "BACK.BIN");
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, "::/BIG.BIN", back), "mcopy back");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(big), "mtools reads what we wrote");
    }

    [Test]
    public void LargeFileWritesReachTheStickAsLargeWrites()
    {
        var (r, _, img, media) = StickWithBigFile(1);
        byte[] data = new byte[4 << 20];
        new Random(9).NextBytes(data);
        int before;
        lock (r.Disk.Rw) before = r.Disk.Rw.Count;
        int fd = r.K.Open("/mnt/NEW.BIN", Abi.O_WRONLY | Abi.O_CREAT, 0x1a4);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        for (int i = 0; i < 4; i++)
            Assert.That(r.K.Write(fd, data.AsSpan(i << 20, 1 << 20)), Is.EqualTo(1 << 20));
        Assert.That(r.K.Fsync(fd), Is.EqualTo(0));
        Assert.That(r.K.Close(fd), Is.EqualTo(0));
        Assert.That(r.K.Unmount("/mnt"), Is.EqualTo(0));
        var writes = RwSince(r.Disk, before).FindAll(c => c.write);
        long bytes = 0;
        foreach (var c in writes) bytes += c.bytes;
        string seen = string.Join(", ", writes.ConvertAll(c => c.off + "+" + c.bytes));
        Assert.That(bytes, Is.GreaterThanOrEqualTo(4L << 20), "the file's bytes were written; the disk saw " + seen);
        // 256 KiB per WRITE: 16 for the data; the FAT, the directory entry and the FSInfo add a few.
        Assert.That(writes.Count, Is.LessThanOrEqualTo(16 + 8), "WRITE commands for 4 MiB of file data; the disk saw " + seen);
        Assert.That(writes.FindAll(c => c.bytes >= 256 << 10).Count, Is.GreaterThanOrEqualTo(15), "256 KiB WRITEs; the disk saw " + seen);
        File.WriteAllBytes(img, media);
        FsImages.RequireTool("fsck.fat");
        var fsck = FsImages.Run("fsck.fat", "-n", img);
        Assert.That(fsck.code, Is.EqualTo(0), "fsck.fat -n after our writes:\n" + fsck.output);
        string back = Path.Combine(HostWork, "NEW.BIN");
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, "::/NEW.BIN", back), "mcopy back");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(data), "mtools reads what we wrote");
    }
}

/// <summary>RUMP_USB's selection of host devices for ugenhc.</summary>
public class UgenhcSelectionTests
{
    [Test]
    public void SelectionByAllVidPidAndBusAddr()
    {
        Assert.That(UgenhcBus.Selected("all", 0x46f4, 1, 1, 2), Is.True);
        Assert.That(UgenhcBus.Selected("46f4:0001", 0x46f4, 1, 1, 2), Is.True);
        Assert.That(UgenhcBus.Selected("46F4:1", 0x46f4, 1, 1, 2), Is.True, "hex, either case, leading zeros optional");
        Assert.That(UgenhcBus.Selected("0781:5567", 0x46f4, 1, 1, 2), Is.False);
        Assert.That(UgenhcBus.Selected("1.2", 0x46f4, 1, 1, 2), Is.True);
        Assert.That(UgenhcBus.Selected("1.3", 0x46f4, 1, 1, 2), Is.False);
        Assert.That(UgenhcBus.Selected("0781:5567, 1.2", 0x46f4, 1, 1, 2), Is.True, "a list");
        Assert.That(UgenhcBus.Selected("", 0x46f4, 1, 1, 2), Is.False);
        Assert.That(UgenhcBus.Selected("junk,:,.,zz:yy,999.1", 0x46f4, 1, 1, 2), Is.False, "garbage selects nothing");
    }

    private static unsafe Rump.Usb.Hyper.RumpUserUsb.DevInfo Dev(ulong id, byte bus, byte cls, params byte[] path)
    {
        var d = new Rump.Usb.Hyper.RumpUserUsb.DevInfo { DevId = id, Bus = bus, DevClass = cls, Depth = (byte)path.Length };
        for (int i = 0; i < path.Length; i++) d.Path[i] = path[i];
        return d;
    }

    /// <summary>ugenhc mirrors host hubs: a device's parent is the listed hub on its bus whose port path is its own minus the last port.</summary>
    [Test]
    public void ParentHubFromPortPaths()
    {
        var all = new[]
        {
            Dev(1, 1, 9, 1),          // hub on root port 1 of bus 1
            Dev(2, 1, 0, 1, 2),       // stick at its port 2
            Dev(3, 1, 9, 1, 3),       // a hub at its port 3
            Dev(4, 1, 0, 1, 3, 4),    // behind that one
            Dev(5, 2, 0, 1, 2),       // bus 2: same path, but bus 2 has no hub listed
            Dev(6, 1, 0, 2),          // root port 2
            Dev(7, 1, 0, 4, 1),       // behind a hub that is not listed (root hub's port 4)
            Dev(8, 1, 0, 1, 3),       // a non-hub can never be a parent
        };
        Assert.That(UgenhcBus.ParentHubIndex(all, all[1]), Is.EqualTo(0));
        Assert.That(UgenhcBus.ParentHubIndex(all, all[2]), Is.EqualTo(0));
        Assert.That(UgenhcBus.ParentHubIndex(all, all[3]), Is.EqualTo(2), "two hubs deep");
        Assert.That(UgenhcBus.ParentHubIndex(all, all[0]), Is.EqualTo(-1), "a hub on a root port has no parent");
        Assert.That(UgenhcBus.ParentHubIndex(all, all[4]), Is.EqualTo(-1), "a hub on another bus is not the parent");
        Assert.That(UgenhcBus.ParentHubIndex(all, all[5]), Is.EqualTo(-1));
        Assert.That(UgenhcBus.ParentHubIndex(all, all[6]), Is.EqualTo(-1), "an unlisted hub: flattened onto a root port");
        Assert.That(UgenhcBus.ParentHubIndex(all, Dev(9, 1, 0)), Is.EqualTo(-1), "no path (libusb could not tell)");
    }
}

/// <summary>ukbd under uhidev over the test-double controller: key reports become wscons_event records on /dev/ukbd0.</summary>
public class UkbdTests : KernelTest
{
    [Test]
    public void KeysArriveAsEventsOnTheKeyboardNode()
    {
        RumpKernel k = Boot();
        Autoconf ac = k.Kernel.GetService<Autoconf>()!;
        UsbComponent.RegisterDrivers(ac);
        ac.AddDriver(new TestHcDriver());
        var hc = new TestHc(k.Kernel, 1);
        var kb = new EmuKeyboard();
        hc.PlugNow(1, kb);
        Assert.That(ac.ConfigFound(ac.Root, hc), Is.Not.Null);
        string dmesg = k.Dmesg();
        Assert.That(dmesg, Does.Contain("uhidev0 at uhub0 port 1 configuration 1 interface 0: QEMU QEMU USB Keyboard"));
        Assert.That(dmesg, Does.Contain("ukbd0 at uhidev0\n"), "the keyboard attaches under uhidev");
        Assert.That(dmesg, Does.Not.Contain("uhid0"), "its only report is the keyboard's");
        int fd = k.Open("/dev/ukbd0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open /dev/ukbd0");
        byte[] buf = new byte[Ukbd.EventSize * 8];
        Assert.That(k.Read(fd, buf), Is.EqualTo(-Abi.EAGAIN), "nothing typed yet");
        var st = new KeyboardState();
        st.Modifiers = 0x02; // left shift
        st.Add(KeyboardState.UsageOf('a'));
        kb.Report(st);
        kb.Report(new KeyboardState());
        hc.Kick(kb);
        var got = new List<(uint type, int value)>();
        Assert.That(Eventually(() =>
        {
            long n = k.Read(fd, buf);
            for (int i = 0; i + Ukbd.EventSize <= n; i += Ukbd.EventSize)
                got.Add((BitConverter.ToUInt32(buf, i), BitConverter.ToInt32(buf, i + 4)));
            return got.Count >= 4;
        }), Is.True, "four events; got " + got.Count);
        Assert.That(got, Is.EqualTo(new List<(uint, int)> { (Ukbd.KeyDown, 0xE1), (Ukbd.KeyDown, 4), (Ukbd.KeyUp, 0xE1), (Ukbd.KeyUp, 4) }),
            "shift and a down, then both up (modifiers first in each group)");
        k.Close(fd);
    }
}

/// <summary>fsu's usb: device names (the device itself is reached only in the QEMU test qemu.usb_stick).</summary>
public class FsuUsbNameTests
{
    [Test]
    public void MalformedUsbNamesAreRefusedWithTheForm()
    {
        foreach (string bad in new[] { "usb:", "usb:zz", "usb:12345:1", "usb:1.", "usb:300.1" })
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int rc = Rump.Fsu.Fsu.Run(new[] { "ls", bad, "/" }, o, e);
            Assert.That(rc, Is.Not.EqualTo(0), bad + ": exit status");
            Assert.That(e.ToString(), Does.Contain("usb:VENDOR:PRODUCT"), bad + ": the message names the accepted forms");
        }
    }
}
