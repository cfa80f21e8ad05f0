using System;
using System.Collections.Generic;
using System.Globalization;
using Rump.Kern;

namespace Rump.Net.Shmif;

/// <summary>
/// TEST-ONLY: a lossy link on a shmif interface's input, so that protocols (TCP) are tested under
/// loss. Each received frame is dropped, duplicated, delayed or held back behind the next one
/// (reordered), at the configured rates, drawn from a seeded generator in a fixed order per frame
/// (drop, duplicate, then for each copy delay and reorder): the same seed and the same frames
/// give the same decisions and counts. Delayed frames, and a held-back frame no later frame came
/// to overtake, are released by a callout <see cref="DelayMs"/> later.
///
/// Configured with <see cref="ShmifIf.SetLoss"/> or, for every shmif interface a kernel creates,
/// with the environment variable RUMP_SHMIF_LOSS ("seed=1,drop=0.05,dup=0.01,reorder=0.02,
/// delay=0.01,delayms=5"; rates are probabilities from 0 to 1). Never for production use.
///
/// Locks: the interface's loss lock protects the generator, the counters and the held frames;
/// frames are handed to Ethernet input with it held (it comes before the interface's input-queue
/// lock).
/// </summary>
public sealed class ShmifLoss
{
    public const string EnvVar = "RUMP_SHMIF_LOSS";

    public readonly ulong Seed;
    public readonly double Drop, Duplicate, Reorder, Delay;
    public readonly int DelayMs;

    private ulong _state;
    private ShmifIf? _ifp;
    private KMutex? _lock;
    private Callout? _release;
    private Mbuf? _held;
    private readonly Queue<(Mbuf M, long Due)> _delayed = new();

    /// <summary>Frames seen, and what was done to them (a duplicate counts once in <see cref="Duplicated"/>).</summary>
    public long Seen, Dropped, Duplicated, Reordered, Delayed, Delivered;

    public ShmifLoss(ulong seed, double drop = 0, double duplicate = 0, double reorder = 0, double delay = 0, int delayMs = 5)
    {
        Seed = seed;
        Drop = drop;
        Duplicate = duplicate;
        Reorder = reorder;
        Delay = delay;
        DelayMs = Math.Max(1, delayMs);
        _state = seed ^ 0x9e3779b97f4a7c15UL;
        if (_state == 0) _state = 1;
    }

    /// <summary>Parses RUMP_SHMIF_LOSS's syntax; false (and why) for anything else.</summary>
    public static bool TryParse(string s, out ShmifLoss? loss, out string? error)
    {
        loss = null;
        error = null;
        ulong seed = 1;
        double drop = 0, dup = 0, reorder = 0, delay = 0;
        int delayMs = 5;
        foreach (string part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq], val = eq < 0 ? "" : part[(eq + 1)..];
            bool ok;
            switch (key)
            {
                case "seed": ok = ulong.TryParse(val, NumberStyles.None, CultureInfo.InvariantCulture, out seed); break;
                case "drop": ok = Rate(val, out drop); break;
                case "dup": ok = Rate(val, out dup); break;
                case "reorder": ok = Rate(val, out reorder); break;
                case "delay": ok = Rate(val, out delay); break;
                case "delayms": ok = int.TryParse(val, NumberStyles.None, CultureInfo.InvariantCulture, out delayMs) && delayMs is > 0 and <= 60000; break;
                default: error = $"unknown key '{key}'"; return false;
            }
            if (!ok) { error = $"bad value for {key}: '{val}'"; return false; }
        }
        loss = new ShmifLoss(seed, drop, dup, reorder, delay, delayMs);
        return true;
    }

    private static bool Rate(string v, out double r)
        => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out r) && r >= 0 && r <= 1;

    internal void Bind(ShmifIf ifp, KMutex lk)
    {
        _ifp = ifp;
        _lock = lk;
        _release = new Callout(_ => Release(false));
    }

    // xorshift64*: small, and the same on every machine.
    private double Next()
    {
        ulong x = _state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        _state = x;
        return ((x * 0x2545F4914F6CDD1DUL) >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>One received frame (interrupt context): consumed.</summary>
    internal void Input(Mbuf m)
    {
        ShmifIf ifp = _ifp!;
        _lock!.Enter();
        Seen++;
        if (Next() < Drop)
        {
            Dropped++;
            _lock.Exit();
            m.Free();
            return;
        }
        Mbuf? dup = null;
        if (Next() < Duplicate)
        {
            dup = ifp.K.GetService<Net>()!.Mbufs.Get(m.Length);
            if (dup != null && dup.Append(m.Bytes)) Duplicated++;
            else { dup?.Free(); dup = null; }
        }
        Pass(ifp, m);
        if (dup != null) Pass(ifp, dup);
        _lock.Exit();
    }

    private void Pass(ShmifIf ifp, Mbuf m)
    {
        if (Next() < Delay)
        {
            Delayed++;
            _delayed.Enqueue((m, Clock.MonotonicNs() + DelayMs * 1_000_000L));
            ifp.K.Callouts.Schedule(_release!, DelayMs * 1_000_000L);
            return;
        }
        if (Next() < Reorder && _held == null)
        {
            Reordered++;
            _held = m;
            ifp.K.Callouts.Schedule(_release!, DelayMs * 1_000_000L);
            return;
        }
        Deliver(ifp, m);
        if (_held != null)
        {
            Mbuf h = _held;
            _held = null;
            Deliver(ifp, h);
        }
    }

    private void Deliver(ShmifIf ifp, Mbuf m)
    {
        Delivered++;
        if (!ifp.IsUp) { m.Free(); return; }
        Ether.EtherInput(ifp, m);
    }

    /// <summary>The callout: frames whose delay is over, and a held-back frame nothing overtook.</summary>
    private void Release(bool all)
    {
        ShmifIf ifp = _ifp!;
        _lock!.Enter();
        long now = Clock.MonotonicNs();
        while (_delayed.Count > 0 && (all || _delayed.Peek().Due <= now)) Deliver(ifp, _delayed.Dequeue().M);
        if (_held != null) { Deliver(ifp, _held); _held = null; }
        if (_delayed.Count > 0) ifp.K.Callouts.Schedule(_release!, Math.Max(0, _delayed.Peek().Due - now));
        _lock.Exit();
    }

    /// <summary>Frees what is held (the interface leaves its bus, or the injector is replaced).</summary>
    internal void FreeHeld(KMutex lk)
    {
        if (_release != null) _ifp?.K.Callouts.Stop(_release);
        lk.Enter();
        while (_delayed.Count > 0) _delayed.Dequeue().M.Free();
        _held?.Free();
        _held = null;
        lk.Exit();
    }
}
