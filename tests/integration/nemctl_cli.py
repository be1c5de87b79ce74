#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Runs nemctl against a real nem-rootd as root.

The daemon gets its own configuration, state and run folders and control
socket under one mkdtemp folder. The test pushes a squashfs image with
busybox, runs a jail from it, and checks every command's exit code, table
and --json output. Cleanup stops only the daemon started here (by pid),
then unmounts what is left under the folder and detaches loop devices
whose backing file is under it, also when a check fails.

Environment: NEM_ROOTD and NEMCTL, the paths of the two programs. Exits 77
(skipped) when not root or when mksquashfs is missing.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NEMCTL = os.environ.get("NEMCTL", "")
NEM_ROOTD = os.environ.get("NEM_ROOTD", "")

# A jail whose root process prints a line and then waits. It never reports
# readiness, so it stays "starting" until it is stopped.
JAIL_WEB = """autostart = false

[process]
exec = ["/bin/sh", "-c", "echo hello from web; exec sleep 1000"]
stop_timeout = "1s"

[[mount]]
type = "image"
dest = "/"
image = "base"
"""


# Protocol constants: frame magic, flag bits, services and error codes.
NEM_MAGIC = 0x6e656d21
F_REPLY, F_CONTINUE, F_CANCEL = 0x01, 0x02, 0x04
SVC_IMGHOST, SVC_JAIL, SVC_EVENT = 4, 5, 8
JAIL_START, JAIL_STOP = 3, 4
IMGHOST_REMOVE = 5
E_INVALID, E_EXISTS = 1, 3


def bson_encode(doc):
    """Encodes a dict of str, bool, int (as int64) and dict values."""
    out = b""
    for key, value in doc.items():
        name = key.encode() + b"\0"
        if isinstance(value, bool):
            out += b"\x08" + name + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            out += b"\x12" + name + struct.pack("<q", value)
        elif isinstance(value, str):
            data = value.encode() + b"\0"
            out += b"\x02" + name + struct.pack("<i", len(data)) + data
        else:
            out += b"\x03" + name + bson_encode(value)
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def bson_decode(data):
    """Decodes the types a reply header and the replies here use."""
    doc, pos, end = {}, 4, struct.unpack_from("<i", data)[0] - 1
    while pos < end:
        kind = data[pos]
        zero = data.index(b"\0", pos + 1)
        key = data[pos + 1:zero].decode()
        pos = zero + 1
        if kind == 0x02:
            n = struct.unpack_from("<i", data, pos)[0]
            doc[key] = data[pos + 4:pos + 3 + n].decode(errors="replace")
            pos += 4 + n
        elif kind in (0x03, 0x04):
            n = struct.unpack_from("<i", data, pos)[0]
            doc[key] = bson_decode(data[pos:pos + n])
            pos += n
        elif kind == 0x05:
            n = struct.unpack_from("<i", data, pos)[0]
            doc[key] = data[pos + 5:pos + 5 + n]
            pos += 5 + n
        elif kind == 0x08:
            doc[key] = data[pos] != 0
            pos += 1
        elif kind == 0x10:
            doc[key] = struct.unpack_from("<i", data, pos)[0]
            pos += 4
        elif kind in (0x09, 0x12):
            doc[key] = struct.unpack_from("<q", data, pos)[0]
            pos += 8
        else:
            raise ValueError("BSON type 0x%02x is not decoded here" % kind)
    return doc


def frame_encode(seq, service, command, flags=0, header=b"", body=b""):
    return struct.pack("<IBBHQIHH", NEM_MAGIC, 1, flags, len(header), seq,
                       len(body), service, command) + header + body


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("the peer closed the connection")
        data += chunk
    return data


def frame_read(sock):
    """Reads one frame; returns (flags, seq, service, command, header,
    body) with header and body as bytes."""
    fixed = recv_exact(sock, 24)
    magic, version, flags, hlen, seq, blen, svc, cmd = struct.unpack(
        "<IBBHQIHH", fixed)
    expect(magic == NEM_MAGIC and version == 1, "a NEM frame arrives")
    header = recv_exact(sock, hlen) if hlen else b""
    body = recv_exact(sock, blen) if blen else b""
    return flags, seq, svc, cmd, header, body


def raw_call(sock_path, service, command, body):
    """Sends one request without nemctl's local checks and returns the
    final reply's (code, reason)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock_path)
        s.sendall(frame_encode(1, service, command,
                               body=bson_encode(body)))
        while True:
            flags, seq, _, _, header, _ = frame_read(s)
            if flags & F_CONTINUE:
                continue
            err = bson_decode(header).get("err", {}) if header else {}
            return err.get("code", 0), err.get("reason", "")


class Daemon:
    """One nem-rootd with everything under a private folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nemctl-", dir="/tmp")
        self.sock = os.path.join(self.dir, "run", "control.sock")
        self.conf = os.path.join(self.dir, "rootd.toml")
        self.log = os.path.join(self.dir, "daemon.log")
        self.proc = None
        os.mkdir(os.path.join(self.dir, "jails"))
        with open(self.conf, "w") as f:
            f.write('state_dir = "%s/state"\nrun_dir = "%s/run"\n'
                    'control_socket = "%s"\nlog_level = "debug"\n'
                    % (self.dir, self.dir, self.sock))

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([NEM_ROOTD, "-c", self.conf],
                                         stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nem-rootd exited at start with %d"
                                     % self.proc.returncode)
            if os.path.exists(self.sock) and nemctl("info").rc == 0:
                return
            time.sleep(0.05)
        raise AssertionError("nem-rootd did not answer info within 10 s")

    def stop(self):
        """Sends SIGTERM to the daemon started here and waits for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.stop()
        unmount_under(self.dir)
        detach_loops_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def dump_log(self):
        try:
            with open(self.log, errors="replace") as f:
                sys.stderr.write("---- daemon log ----\n%s----\n" % f.read())
        except OSError as e:
            sys.stderr.write("cannot read the daemon log: %s\n" % e)


def unmount_under(folder):
    """Unmounts every mount point under folder, deepest first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == folder or point.startswith(folder + "/"):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def detach_loops_under(folder):
    """Detaches the loop devices whose backing file is under folder."""
    for name in os.listdir("/sys/block"):
        backing = os.path.join("/sys/block", name, "loop", "backing_file")
        try:
            with open(backing) as f:
                path = f.read().strip()
        except OSError:
            continue
        if path.startswith(folder + "/"):
            subprocess.run(["losetup", "-d", "/dev/" + name], check=False)


class Result:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err

    def json(self):
        return json.loads(self.out)


def nemctl(*args, sock=None, timeout=120):
    """Runs nemctl with the daemon's socket (or sock) and returns Result."""
    env = dict(os.environ)
    if sock is not None:
        env["NEM_SOCKET"] = sock
    p = subprocess.run([NEMCTL] + list(args), env=env, capture_output=True,
                       text=True, timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def expect(cond, message, res=None):
    """Raises AssertionError with message and res's output unless cond."""
    if cond:
        return
    detail = ""
    if res is not None:
        detail = "\n  exit %d\n  stdout: %s\n  stderr: %s" % (
            res.rc, res.out.strip(), res.err.strip())
    raise AssertionError(message + detail)


def make_image(folder):
    """Builds a squashfs image with busybox as /bin/sh and a root user."""
    stage = os.path.join(folder, "stage")
    for d in ("bin", "etc", "proc", "dev", "tmp"):
        os.makedirs(os.path.join(stage, d))
    shutil.copy("/bin/busybox", os.path.join(stage, "bin", "busybox"))
    os.symlink("busybox", os.path.join(stage, "bin", "sh"))
    os.symlink("busybox", os.path.join(stage, "bin", "sleep"))
    with open(os.path.join(stage, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/:/bin/sh\n")
    image = os.path.join(folder, "base.sqfs")
    subprocess.run(["mksquashfs", stage, image, "-quiet", "-noappend",
                    "-no-progress"], check=True)
    return image


def wait_state(name, states, seconds=20):
    """Polls jail status until the jail is in one of states."""
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        res = nemctl("--json", "jail", "status", name)
        if res.rc == 0:
            state = res.json()["jail"]["state"]
            if state in states:
                return res.json()["jail"]
        time.sleep(0.1)
    raise AssertionError("jail %s is %r after %d s, expected one of %s"
                         % (name, state, seconds, states))


def check_usage_errors(d):
    # Wrong usage is found before nemctl connects: a missing socket would
    # give 111, so 100 proves that nothing was sent.
    missing = os.path.join(d.dir, "missing.sock")
    for args in (["jail", "start", "../x"], ["bogus"], ["image", "push"],
                 ["jail", "stop", "web", "--timeout", "5x"],
                 ["image", "push", "base", "/etc/hostname", "--sha256",
                  "abc"], ["image", "show", "base", "--version", ">>1"],
                 ["image", "rm", "base", "--version", "^1"],
                 ["--socket"], ["jail", "ls", "extra"]):
        res = nemctl(*args, sock=missing)
        expect(res.rc == 100, "nemctl %s exits 100" % " ".join(args), res)
        expect(res.err.startswith("nemctl: "), "message starts with "
               "nemctl:", res)
    res = nemctl("jail", "start", "../x", sock=missing)
    expect(res.err == 'nemctl: invalid jail name "../x": must start with a '
           'letter or a digit\n', "bad name message names the kind", res)
    for args in (["--help"], ["jail", "--help"], ["image", "push",
                                                  "--help"]):
        res = nemctl(*args, sock=missing)
        expect(res.rc == 0 and "usage: nemctl" in res.out,
               "nemctl %s prints usage" % " ".join(args), res)


def check_connection_errors(d):
    missing = os.path.join(d.dir, "missing.sock")
    res = nemctl("info", sock=missing)
    expect(res.rc == 111, "info on a missing socket exits 111", res)
    expect("cannot connect to %s" % missing in res.err and
           "is nem-rootd running?" in res.err,
           "connection error names the socket and the fix", res)
    res = nemctl("--socket", missing, "--json", "image", "ls")
    expect(res.rc == 111, "--socket overrides NEM_SOCKET", res)
    # A path that exists but is no socket is a usage error, not a daemon
    # that is down.
    res = nemctl("info", sock=d.dir)
    expect(res.rc == 100, "info on a directory exits 100", res)
    expect("%s: it is a directory, not a socket" % d.dir in res.err and
           "is nem-rootd running?" not in res.err,
           "a directory as socket is named as such", res)


def check_info(d):
    res = nemctl("info")
    expect(res.rc == 0 and "nem-rootd" in res.out, "info prints a table",
           res)
    info = nemctl("--json", "info").json()
    expect(info["name"] == "nem-rootd", "info name")
    expect(info["pid"] == d.proc.pid, "info pid is the daemon's")
    expect(info["jails"] == 0, "no jails yet")


def check_non_root_caller(d):
    """Opens the socket to everyone, as a careless operator might, and
    checks that a non-root nemctl is told why it is rejected."""
    run = os.path.dirname(d.sock)
    modes = [(path, os.stat(path).st_mode & 0o7777)
             for path in (d.dir, run, d.sock)]
    try:
        os.chmod(d.dir, 0o755)
        os.chmod(run, 0o755)
        os.chmod(d.sock, 0o666)
        env = dict(os.environ, NEM_SOCKET=d.sock)
        p = subprocess.run([NEMCTL, "info"], env=env, capture_output=True,
                           text=True, timeout=30,
                           preexec_fn=lambda: (os.setgid(65534),
                                               os.setuid(65534)))
        res = Result(p.returncode, p.stdout, p.stderr)
    finally:
        for path, mode in modes:
            os.chmod(path, mode)
    expect(res.rc == 100, "a non-root caller exits 100", res)
    expect("permission denied: only root" in res.err and
           "connection" not in res.err,
           "a non-root caller is told that only root may connect", res)


def check_daemon_errors(d):
    # The daemon names the kind of a bad name exactly as nemctl's local
    # check does, so both sides print the same message.
    local = nemctl("jail", "start", "../x",
                   sock=os.path.join(d.dir, "missing.sock"))
    code, reason = raw_call(d.sock, SVC_JAIL, JAIL_START, {"name": "../x"})
    expect(code == E_INVALID, "jail.start of a bad name is invalid")
    expect(local.err == "nemctl: %s\n" % reason,
           "daemon and nemctl word a bad jail name alike: %r" % reason,
           local)
    code, reason = raw_call(d.sock, SVC_IMGHOST, IMGHOST_REMOVE,
                            {"name": "a b"})
    expect(code == E_INVALID and reason.startswith('invalid image name '
                                                   '"a b"'),
           "image remove names the image kind: %r" % reason)

    # jail.stop's timeout_ms is checked before the jail is looked up.
    for value in (0, -1, 86400001, "1s"):
        code, reason = raw_call(d.sock, SVC_JAIL, JAIL_STOP,
                                {"name": "nope", "timeout_ms": value})
        expect(code == E_INVALID and '"timeout_ms"' in reason,
               "jail.stop timeout_ms %r is invalid: %d %r"
               % (value, code, reason))


def check_verify_problems(d, image):
    """Corrupts a stored image file and expects image verify to exit 1."""
    scratch = os.path.join(d.dir, "scratch.sqfs")
    with open(image, "rb") as f:
        data = f.read() + b"\0" * 4096
    with open(scratch, "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()
    res = nemctl("image", "push", "scratch", scratch, "--version", "1.0.0")
    expect(res.rc == 0, "push of the scratch image", res)

    stored = os.path.join(d.dir, "state", "images", "sha256", digest)
    os.chmod(stored, 0o644)
    with open(stored, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\1")
    res = nemctl("image", "verify")
    expect(res.rc == 1 and "1 bad image files" in res.out,
           "image verify of a corrupt file exits 1", res)
    res = nemctl("--json", "image", "verify", "scratch")
    expect(res.rc == 1 and res.json()["bad"] == 1,
           "image verify NAME --json keeps the bad count and exits 1", res)

    os.unlink(stored)
    res = nemctl("--json", "image", "verify")
    expect(res.rc == 1 and res.json()["bad"] == 1,
           "image verify of a missing file exits 1", res)
    res = nemctl("image", "rm", "scratch")
    expect(res.rc == 0, "image rm of the missing scratch image", res)
    res = nemctl("image", "verify")
    expect(res.rc == 0, "image verify is clean again", res)


def check_cancel_frame(d):
    """Runs nemctl events against a socket served here and checks that
    Ctrl-C sends CANCEL for the subscription and exits 0."""
    path = os.path.join(d.dir, "fake.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(path)
        srv.listen(1)
        srv.settimeout(10)
        proc = subprocess.Popen([NEMCTL, "--socket", path, "events"],
                                stdout=subprocess.PIPE, text=True)
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(10)
                flags, seq, svc, cmd, _, _ = frame_read(conn)
                expect(svc == SVC_EVENT and cmd == 1 and
                       not flags & F_REPLY, "events subscribes")
                event = bson_encode({"kind": "jail", "name": "web",
                                     "state": "ready", "reason": "",
                                     "time": 0})
                conn.sendall(frame_encode(seq, svc, cmd,
                                          F_REPLY | F_CONTINUE,
                                          body=event))
                line = proc.stdout.readline()
                expect("jail web ready" in line,
                       "events prints the event: %r" % line)
                proc.send_signal(signal.SIGINT)
                flags, cseq, _, _, _, _ = frame_read(conn)
                expect(flags & F_CANCEL and cseq == seq,
                       "Ctrl-C sends CANCEL for the subscription "
                       "(flags 0x%02x, seq %d)" % (flags, cseq))
                rc = proc.wait(timeout=10)
                expect(rc == 0, "events exits 0 after Ctrl-C, not %d" % rc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def check_images(d, image):
    with open(image, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()

    res = nemctl("image", "push", "base", image, "--version", "1.0.0")
    expect(res.rc == 0, "image push", res)
    expect(digest in res.out, "push prints the digest", res)
    expect(res.err.startswith("nemctl: sent "),
           "push prints a plain final line when stderr is not a terminal",
           res)

    res = nemctl("--json", "image", "push", "base", image, "--version",
                 "2.0.0", "--sha256", digest.upper())
    expect(res.rc == 0, "image push --sha256", res)
    expect(res.json()["image"]["sha256"] == digest, "push JSON digest", res)

    res = nemctl("image", "push", "base", image, "--version", "3.0.0",
                 "--sha256", "0" * 64)
    expect(res.rc == 100, "push with a wrong digest exits 100", res)

    res = nemctl("image", "push", "base", os.path.join(d.dir, "nope"))
    expect(res.rc == 100 and "cannot open image file" in res.err,
           "push of a missing file exits 100", res)

    images = nemctl("--json", "image", "ls").json()["images"]
    versions = sorted(i["version"] for i in images if i["name"] == "base")
    expect(versions == ["1.0.0", "2.0.0"], "image ls lists both versions")
    res = nemctl("image", "ls")
    expect(res.rc == 0 and res.out.startswith("NAME") and
           digest[:12] in res.out, "image ls table", res)

    res = nemctl("image", "show", "base")
    expect(res.rc == 0 and "2.0.0" in res.out, "image show", res)
    one = nemctl("--json", "image", "show", "base", "--version", "1.0.0")
    expect(one.rc == 0 and one.json()["image"]["version"] == "1.0.0",
           "image show --version", one)
    one = nemctl("--json", "image", "show", "base", "--version", "^1")
    expect(one.rc == 0 and one.json()["image"]["version"] == "1.0.0",
           "image show with a version requirement", one)
    res = nemctl("image", "show", "nope")
    expect(res.rc == 100, "image show of an unknown image exits 100", res)

    res = nemctl("--json", "image", "verify")
    expect(res.rc == 0 and res.json()["bad"] == 0, "image verify", res)
    res = nemctl("--json", "image", "verify", "base")
    expect(res.rc == 0 and len(res.json()["findings"]) == 1,
           "image verify NAME verifies the one shared file once", res)
    res = nemctl("image", "verify", "base")
    expect(res.rc == 0 and "0 bad image files" in res.out,
           "image verify table", res)

    res = nemctl("image", "rm", "base", "--version", "2.0.0")
    expect(res.rc == 0, "image rm --version", res)
    res = nemctl("image", "rm", "base", "--version", "2.0.0")
    expect(res.rc == 100, "second image rm exits 100", res)
    res = nemctl("--json", "image", "gc")
    expect(res.rc == 0 and "removed" in res.json(), "image gc", res)


def check_jails(d):
    web = os.path.join(d.dir, "web.toml")
    with open(web, "w") as f:
        f.write(JAIL_WEB)
    res = nemctl("jail", "apply", web)
    expect(res.rc == 0, "jail apply", res)

    bad = os.path.join(d.dir, "bad.toml")
    with open(bad, "w") as f:
        f.write("autostart = 3\n")
    res = nemctl("jail", "apply", bad)
    expect(res.rc == 100, "apply of an invalid description exits 100", res)
    expect(res.err.count("bad.toml:") >= 2, "every error is listed", res)

    jails = nemctl("--json", "jail", "ls").json()["jails"]
    expect([j["name"] for j in jails] == ["web"], "jail ls lists web")
    expect(jails[0]["state"] == "defined", "web waits for a start")

    events = subprocess.Popen([NEMCTL, "--json", "events"],
                              stdout=subprocess.PIPE, text=True)
    try:
        # The subscription exists once the daemon counts two clients: the
        # events stream and the info request itself.
        deadline = time.monotonic() + 10
        while nemctl("--json", "info").json()["clients"] < 2:
            expect(time.monotonic() < deadline, "events connects")
            time.sleep(0.05)
        res = nemctl("jail", "start", "web")
        expect(res.rc == 0, "jail start", res)
        info = wait_state("web", ("starting", "ready"))
        expect(info["pid"] > 0, "the root process runs")
        line = events.stdout.readline()
        ev = json.loads(line)
        expect(ev["kind"] == "jail" and ev["name"] == "web",
               "events prints the jail's state change as JSON: %s" % line)
        events.send_signal(signal.SIGINT)
        rc = events.wait(timeout=10)
        expect(rc == 0, "events exits 0 on Ctrl-C, not %d" % rc)
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()

    res = nemctl("jail", "start", "web")
    expect(res.rc == 100 and "already" in res.err,
           "jail start of a running jail exits 100", res)
    code, _ = raw_call(d.sock, SVC_JAIL, JAIL_START, {"name": "web"})
    expect(code == E_EXISTS, "jail.start of a running jail answers "
           "already exists, not %d" % code)

    deadline = time.monotonic() + 10
    while True:
        res = nemctl("jail", "logs", "web")
        if "hello from web" in res.out or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    expect(res.rc == 0 and "hello from web" in res.out, "jail logs", res)
    res = nemctl("--json", "jail", "logs", "web")
    expect(res.rc == 0, "jail logs --json", res)
    text = "".join(json.loads(line)["data"]
                   for line in res.out.splitlines())
    expect("hello from web" in text, "jail logs JSON lines carry the log",
           res)

    follow = subprocess.Popen([NEMCTL, "jail", "logs", "web", "-f"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = follow.stdout.readline()
        expect(line != "", "jail logs -f prints the tail first")
        time.sleep(0.3)
        expect(follow.poll() is None, "jail logs -f keeps following")
        follow.send_signal(signal.SIGINT)
        rc = follow.wait(timeout=10)
        expect(rc == 0, "jail logs -f exits 0 on Ctrl-C, not %d" % rc)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()

    res = nemctl("jail", "status", "web")
    expect(res.rc == 0 and "state" in res.out, "jail status table", res)
    # The root process is PID 1 of its namespace and ignores SIGTERM, so
    # only SIGKILL ends it. --timeout replaces the description's 1 s
    # stop_timeout for this stop: SIGKILL comes after 100 ms, well before
    # the two 1 s steps the description alone would take.
    started = time.monotonic()
    res = nemctl("jail", "stop", "web", "--timeout", "100ms")
    elapsed = time.monotonic() - started
    expect(res.rc == 0 and "stopped" in res.out,
           "jail stop --timeout stops the jail", res)
    expect(elapsed < 1.0, "jail stop --timeout 100ms took %.2f s, expected "
           "well under the 1 s stop_timeout" % elapsed)
    wait_state("web", ("stopped",))
    res = nemctl("jail", "start", "web")
    expect(res.rc == 0, "jail start after a stop", res)
    wait_state("web", ("starting", "ready"))
    res = nemctl("jail", "stop", "web", "--timeout", "30s")
    expect(res.rc == 0 and "stopped" in res.out, "jail stop", res)
    state = nemctl("--json", "jail", "status", "web").json()["jail"]["state"]
    expect(state == "stopped", "web is stopped after jail stop, not %s"
           % state)
    res = nemctl("jail", "stop", "web")
    expect(res.rc == 0, "stop of a stopped jail succeeds", res)

    res = nemctl("jail", "status", "nope")
    expect(res.rc == 100 and "nope" in res.err,
           "jail status of an unknown jail exits 100", res)
    res = nemctl("jail", "rm", "web")
    expect(res.rc == 0, "jail rm", res)
    wait_gone = time.monotonic() + 20
    while nemctl("jail", "status", "web").rc == 0:
        expect(time.monotonic() < wait_gone, "web is gone after jail rm")
        time.sleep(0.1)


# A jail that names the persistent volume "vdata"; it is never started.
JAIL_VOL = """autostart = false

[process]
exec = ["/bin/sh", "-c", "exec sleep 1000"]

[[mount]]
type = "image"
dest = "/"
image = "base"

[[mount]]
type = "md"
dest = "/data"
size = "16M"
persist = true
volume = "vdata"
"""


def check_volume_in_use(d):
    # A volume in use is a refusal that only an operator can lift, so
    # nemctl exits 100 for the daemon's busy code here.
    vol = os.path.join(d.dir, "vol.toml")
    with open(vol, "w") as f:
        f.write(JAIL_VOL)
    res = nemctl("jail", "apply", vol)
    expect(res.rc == 0, "jail apply of a jail with a volume", res)
    res = nemctl("volume", "rm", "vdata")
    expect(res.rc == 100 and "used by the description of jail vol"
           in res.err, "volume rm of a volume in use exits 100", res)
    res = nemctl("jail", "rm", "vol")
    expect(res.rc == 0, "jail rm vol", res)


def check_volumes_and_hosts(d):
    res = nemctl("--json", "volume", "ls")
    expect(res.rc == 0 and res.json()["volumes"] == [], "volume ls", res)
    res = nemctl("volume", "ls")
    expect(res.rc == 0 and res.out.startswith("NAME"), "volume ls table",
           res)
    res = nemctl("volume", "rm", "nope")
    expect(res.rc == 100, "volume rm of an unknown volume exits 100", res)
    res = nemctl("--json", "host", "ls")
    expect(res.rc == 0 and res.json()["hosts"] == [], "host ls", res)
    res = nemctl("host", "restart", "nope")
    expect(res.rc == 100, "host restart of an unknown host exits 100", res)


def main():
    if os.geteuid() != 0 or not NEMCTL or not NEM_ROOTD:
        print("skipped: needs root, NEMCTL and NEM_ROOTD")
        return 77
    if shutil.which("mksquashfs") is None:
        print("skipped: needs mksquashfs")
        return 77

    d = Daemon()
    os.environ["NEM_SOCKET"] = d.sock
    try:
        image = make_image(d.dir)
        check_usage_errors(d)
        check_connection_errors(d)
        d.start()
        check_info(d)
        check_non_root_caller(d)
        check_daemon_errors(d)
        check_cancel_frame(d)
        check_images(d, image)
        check_verify_problems(d, image)
        check_jails(d)
        check_volumes_and_hosts(d)
        check_volume_in_use(d)
        d.stop()
        res = nemctl("info")
        expect(res.rc == 111, "info after the daemon stopped exits 111",
               res)
    except (AssertionError, KeyError, ValueError,
            subprocess.SubprocessError) as e:
        print("FAIL: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        d.dump_log()
        return 1
    finally:
        d.cleanup()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
