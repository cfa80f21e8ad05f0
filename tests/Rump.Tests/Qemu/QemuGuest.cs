using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Rump.Tests.Qemu;

/// <summary>
/// A QEMU test guest (tests/qemu/run-guest.sh) driven from a test: it boots with the given emulated
/// USB devices, runs one command as uid 1000 (or root), and this object follows the command's output
/// line by line (<see cref="WaitForLine"/>), talks to QEMU's monitor (<see cref="Monitor"/>: sendkey,
/// device_add, device_del) and collects the exit status (<see cref="WaitForExit"/>). Missing tools
/// fail the test with a message naming the Debian package. The harness finds the built guest in
/// RUMP_QEMU_BASE (ctest sets it; build/qemu otherwise) and builds it there on first use.
/// Locks: _lines is guarded by itself; the QMP socket is used by the test's thread only.
/// </summary>
public sealed class QemuGuest : IDisposable
{
    private readonly Process _proc;
    private readonly List<string> _lines = new();
    private readonly StringBuilder _stderr = new();
    private readonly string _dir;
    private readonly string _qmpPath;
    private Socket? _qmp;
    private StreamReader? _qmpIn;
    private int _nextLine;
    private bool _stdoutClosed;

    public sealed class Options
    {
        public List<string> Devices { get; } = new();   // QEMU -device specs (bus=xhci.0 is added)
        public List<string> Drives { get; } = new();    // "id=ID,file=IMG,format=raw"
        public List<string> Copies { get; } = new();    // host files copied to /work in the guest
        public bool Root { get; set; }
        public bool NoUdevd { get; set; }              // no systemd-udevd: libusb sees no hot-plug events
        public int TimeoutSeconds { get; set; } = 300;   // the whole run: generous, as a loaded 2-core host slows TCG boots many times
    }

    /// <summary>The guest's console (kernel messages, /init's progress), written as the guest runs.</summary>
    public string ConsolePath => Path.Combine(_dir, "console.log");

    /// <summary>The output lines of the command so far.</summary>
    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToArray(); } }

    private QemuGuest(Process p, string dir, string qmpPath)
    {
        _proc = p;
        _dir = dir;
        _qmpPath = qmpPath;
    }

    /// <summary>The tests/qemu directory of this source tree.</summary>
    public static string HarnessDir([CallerFilePath] string self = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(self)!, "..", "..", "qemu"));

    /// <summary>Fails the test unless program is on PATH, naming the Debian package that has it.</summary>
    public static void Require(string program, string package)
    {
        foreach (string d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (d.Length > 0 && File.Exists(Path.Combine(d, program))) return;
        Assert.Fail($"{program} is missing: install the Debian package {package} (tools/setup-debian.sh)");
    }

    public static QemuGuest Start(Options o, params string[] command)
    {
        Require("qemu-system-x86_64", "qemu-system-x86");
        Require("cpio", "cpio");
        string harness = Path.Combine(HarnessDir(), "run-guest.sh");
        if (!File.Exists(harness)) Assert.Fail("the QEMU harness is not at " + harness);
        string dir = Path.Combine(Path.GetTempPath(), "rump-qemu-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        string qmp = Path.Combine(dir, "qmp.sock");

        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(harness);
        foreach (string d in o.Devices) { psi.ArgumentList.Add("--device"); psi.ArgumentList.Add(d); }
        foreach (string d in o.Drives) { psi.ArgumentList.Add("--drive"); psi.ArgumentList.Add(d); }
        foreach (string c in o.Copies)
        {
            if (!File.Exists(c) && !Directory.Exists(c)) Assert.Fail("file to copy into the guest does not exist: " + c);
            psi.ArgumentList.Add("--copy"); psi.ArgumentList.Add(c);
        }
        psi.ArgumentList.Add("--qmp"); psi.ArgumentList.Add(qmp);
        psi.ArgumentList.Add("--timeout"); psi.ArgumentList.Add(o.TimeoutSeconds.ToString());
        psi.ArgumentList.Add("--console"); psi.ArgumentList.Add(Path.Combine(dir, "console.log"));
        if (o.Root) psi.ArgumentList.Add("--root");
        if (o.NoUdevd) psi.ArgumentList.Add("--no-udevd");
        psi.ArgumentList.Add("--");
        foreach (string a in command) psi.ArgumentList.Add(a);

        var p = new Process { StartInfo = psi };
        var g = new QemuGuest(p, dir, qmp);
        p.OutputDataReceived += (_, e) =>
        {
            lock (g._lines)
            {
                if (e.Data == null) g._stdoutClosed = true; else g._lines.Add(e.Data);
                System.Threading.Monitor.PulseAll(g._lines);
            }
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (g._stderr) g._stderr.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return g;
    }

    private string Transcript()
    {
        var sb = new StringBuilder("\n--- the command's output ---\n");
        lock (_lines) foreach (string l in _lines) sb.AppendLine(l);
        lock (_stderr) sb.Append("--- the harness's messages ---\n").Append(_stderr);
        try
        {
            string[] con = File.ReadAllLines(ConsolePath);
            sb.Append("--- the end of the guest's console ---\n");
            foreach (string l in con[Math.Max(0, con.Length - 30)..]) sb.AppendLine(l.TrimEnd('\r'));
        }
        catch (IOException) { }
        return sb.ToString();
    }

    /// <summary>Waits for the next output line matching the pattern (lines before it are passed
    /// over) and returns it; fails if the command ends, or the time runs out, first.</summary>
    public string WaitForLine(string pattern, int timeoutSeconds = 240)
    {
        var re = new Regex(pattern);
        var deadline = Stopwatch.StartNew();
        lock (_lines)
        {
            for (;;)
            {
                while (_nextLine < _lines.Count)
                {
                    string l = _lines[_nextLine++];
                    if (re.IsMatch(l)) return l;
                }
                if (_stdoutClosed)
                    Assert.Fail($"expected a line matching /{pattern}/ from the guest; the command ended without one" + Transcript());
                long left = timeoutSeconds * 1000L - deadline.ElapsedMilliseconds;
                if (left <= 0)
                    Assert.Fail($"expected a line matching /{pattern}/ from the guest within {timeoutSeconds} s; none came" + Transcript());
                System.Threading.Monitor.Wait(_lines, (int)Math.Min(left, 1000));
            }
        }
    }

    /// <summary>Waits for a console line matching the pattern (the console is a file QEMU appends to:
    /// read again every 50 ms) and returns it; fails if the guest ends, or the time runs out, first.</summary>
    public string WaitForConsoleLine(string pattern, int timeoutSeconds = 240)
    {
        var re = new Regex(pattern, RegexOptions.Multiline);
        var sw = Stopwatch.StartNew();
        for (;;)
        {
            bool ended = _proc.HasExited;
            string text = File.Exists(ConsolePath) ? File.ReadAllText(ConsolePath).Replace("\r", "") : "";
            Match m = re.Match(text);
            if (m.Success)
            {
                int end = text.IndexOf('\n', m.Index);
                int start = text.LastIndexOf('\n', Math.Max(m.Index - 1, 0)) + 1;
                return text[start..(end < 0 ? text.Length : end)];
            }
            if (ended)
                Assert.Fail($"expected a console line matching /{pattern}/; the guest ended without one" + Transcript());
            if (sw.ElapsedMilliseconds > timeoutSeconds * 1000L)
                Assert.Fail($"expected a console line matching /{pattern}/ within {timeoutSeconds} s; none came" + Transcript());
            System.Threading.Thread.Sleep(50);
        }
    }

    /// <summary>Runs a human monitor command (as on QEMU's HMP: "sendkey a", "device_del kbd") through
    /// QMP and returns its text output.</summary>
    public string Monitor(string command)
    {
        if (_qmp == null) ConnectQmp();
        string req = JsonSerializer.Serialize(new { execute = "human-monitor-command", arguments = new Dictionary<string, string> { ["command-line"] = command } });
        _qmp!.Send(Encoding.UTF8.GetBytes(req + "\n"));
        JsonElement r = ReadQmpReply();
        if (r.TryGetProperty("error", out JsonElement err))
            Assert.Fail($"QEMU monitor command '{command}' failed: {err}");
        string text = r.GetProperty("return").GetString() ?? "";
        if (text.Length > 0 && (command.StartsWith("device_add") || command.StartsWith("device_del") || command.StartsWith("sendkey")))
            Assert.Fail($"QEMU monitor command '{command}' said: {text}");
        return text;
    }

    private void ConnectQmp()
    {
        var sw = Stopwatch.StartNew();
        for (;;)
        {
            if (File.Exists(_qmpPath))
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    s.Connect(new UnixDomainSocketEndPoint(_qmpPath));
                    _qmp = s;
                    break;
                }
                catch (SocketException) { s.Dispose(); }
            }
            if (_proc.HasExited || sw.ElapsedMilliseconds > 30000)
                Assert.Fail("could not reach QEMU's monitor at " + _qmpPath + Transcript());
            System.Threading.Thread.Sleep(20);   // QEMU makes the socket shortly after it starts
        }
        _qmpIn = new StreamReader(new NetworkStream(_qmp, ownsSocket: false), Encoding.UTF8);
        ReadQmpLine();                                        // the greeting
        _qmp.Send(Encoding.UTF8.GetBytes("{\"execute\":\"qmp_capabilities\"}\n"));
        ReadQmpReply();
    }

    private JsonElement ReadQmpLine()
    {
        string? line = _qmpIn!.ReadLine();
        if (line == null) Assert.Fail("QEMU closed its monitor connection" + Transcript());
        return JsonDocument.Parse(line!).RootElement.Clone();
    }

    private JsonElement ReadQmpReply()
    {
        for (;;)
        {
            JsonElement e = ReadQmpLine();
            if (e.TryGetProperty("return", out _) || e.TryGetProperty("error", out _)) return e;
            // asynchronous events (DEVICE_DELETED, ...) are passed over
        }
    }

    /// <summary>Waits for the command to end and returns its exit status (125: the guest failed,
    /// with the harness's message in the failure text if the test asserts on it).</summary>
    public int WaitForExit(int timeoutSeconds = 300)
    {
        if (!_proc.WaitForExit(timeoutSeconds * 1000))
            Assert.Fail($"the guest did not end within {timeoutSeconds} s" + Transcript());
        _proc.WaitForExit();   // drains the output
        return _proc.ExitCode;
    }

    /// <summary>Fails with the transcript unless status is what was expected.</summary>
    public void AssertExit(int expected, int timeoutSeconds = 300)
    {
        int s = WaitForExit(timeoutSeconds);
        if (s != expected) Assert.Fail($"expected the guest's command to exit with {expected}, got {s}" + Transcript());
    }

    public void Dispose()
    {
        _qmpIn?.Dispose();
        _qmp?.Dispose();
        try { if (!_proc.HasExited) _proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _proc.WaitForExit();
        _proc.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
