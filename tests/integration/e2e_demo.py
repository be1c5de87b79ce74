#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Runs the demo host end to end, as root, on its own folder and ports.

It drives scripts/demo-host like scripts/demo does and checks each step.
The images are in the store, the jails and the unjailed host run, and the
page and the store's line are served on loopback. The persistent volume
survives a jail restart and a daemon restart. A new web-app image is
served after `nemctl jail apply`, another after SIGHUP, and a stop leaves
nothing mounted or attached. Cleanup runs `demo-host clean` on the
test's folder and, if the daemon still runs, sends SIGKILL to that pid.

Environment: NEM_DEMO_BUILD, the build directory with nem-rootd, nemctl,
nem-init and nem-echo-static. Exits 77 (skipped) when not root or when an
image tool is missing.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEMO_HOST = os.path.join(TOP, "scripts", "demo-host")
IMAGES = os.path.join(TOP, "scripts", "demo.d", "images")
BUILD = os.environ.get("NEM_DEMO_BUILD", "")
ADDR = "127.0.0.1"
STORE_LINE = "service store peer web rights read"


class Demo:
    """A demo host in a mkdtemp folder with a free loopback port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nem-e2e-", dir="/tmp")
        self.port, = free_ports(1)
        self.env = dict(os.environ,
                        NEM_DEMO_BUILD=BUILD,
                        NEM_DEMO_DIR=self.dir,
                        NEM_DEMO_ADDR=ADDR,
                        NEM_DEMO_PORT=str(self.port))
        self.socket = os.path.join(self.dir, "run", "control.sock")
        self.nemctl_bin = os.path.join(BUILD, "nemctl", "nemctl")

    def host(self, command, timeout=300):
        """Runs demo-host COMMAND; returns (exit status, output)."""
        p = subprocess.run([DEMO_HOST, command], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout

    def nemctl(self, *args, check=True):
        """Runs nemctl on the demo's socket; returns its output."""
        p = subprocess.run([self.nemctl_bin, "--socket", self.socket]
                           + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("nemctl %s exited %d: %s"
                                 % (" ".join(args), p.returncode, p.stdout))
        return p.stdout

    def jails(self):
        """Returns {name: jail document} from `nemctl --json jail ls`."""
        doc = json.loads(self.nemctl("--json", "jail", "ls"))
        return {j["name"]: j for j in doc["jails"]}

    def daemon_pid(self):
        """Returns the daemon's pid from rootd.pid, or None."""
        try:
            with open(os.path.join(self.dir, "rootd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def fetch(self, path):
        """Returns the body at path of the web jail, or None on failure."""
        p = subprocess.run(["timeout", "10", "busybox", "wget", "-q", "-O",
                            "-", "http://%s:%d%s" % (ADDR, self.port, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        return p.stdout if p.returncode == 0 else None

    def wait_page(self, path, text, seconds=30):
        """Waits until the page at path contains text; returns the page."""
        deadline = time.monotonic() + seconds
        body = None
        while time.monotonic() < deadline:
            body = self.fetch(path)
            if body is not None and text in body:
                return body
            time.sleep(0.3)
        raise AssertionError("page %s does not contain %r after %d s; "
                             "last body: %r" % (path, text, seconds, body))

    def wait_ready(self, name, seconds=30):
        """Waits until jail name is ready; returns its document."""
        deadline = time.monotonic() + seconds
        jail = None
        while time.monotonic() < deadline:
            jail = self.jails().get(name)
            if jail is not None and jail["state"] == "ready":
                return jail
            time.sleep(0.2)
        raise AssertionError("jail %s is not ready after %d s: %r"
                             % (name, seconds, jail))

    def starts(self):
        """Returns the start count web.sh keeps on the volume web-data.

        web.sh counts a start at the first request after it, so this
        request counts the start it follows."""
        return int(self.wait_page("/data/starts", "").strip())

    def build_app(self, version):
        """Builds the web-app image of version; returns its path."""
        out = os.path.join(self.dir, "images", "web-app-%s.erofs" % version)
        subprocess.run([IMAGES, "web-app", version, out], check=True)
        return out

    def web_description(self, version):
        """Returns web.toml as applied, with the web-app pin at version."""
        with open(os.path.join(self.dir, "descriptions", "web.toml")) as f:
            text = f.read()
        pin = re.compile(r'^version = "=[0-9.]+"$', re.MULTILINE)
        assert len(pin.findall(text)) == 1, "web.toml has no single " \
            "web-app pin such as version = \"=1.0.0\""
        return pin.sub('version = "=%s"' % version, text)


def free_ports(count):
    """Returns count distinct TCP ports that are free on ADDR now."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((ADDR, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def loops_under(path):
    """Returns the `losetup -a` lines whose backing file is under path."""
    out = subprocess.run(["losetup", "-a"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if path + "/" in line]


def mounts_under(path):
    """Returns the mount points under path in this mount namespace."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if line.split()[4].startswith(path + "/")]


def check_start(demo):
    rc, out = demo.host("start")
    assert rc == 0, "demo-host start exited %d:\n%s" % (rc, out)
    assert "web-app release 1.0.0" in out, "start did not show the page"
    assert STORE_LINE in out, "start did not show the store's line"

    images = demo.nemctl("image", "ls")
    for word in ("base", "squashfs", "web-app", "erofs"):
        assert word in images, "no %s in nemctl image ls:\n%s" % (word, images)

    jails = demo.jails()
    assert jails["store"]["state"] == "ready", jails["store"]
    assert jails["web"]["state"] == "ready", jails["web"]

    hosts = json.loads(demo.nemctl("--json", "host", "ls"))
    names = [h["name"] for h in hosts["hosts"]]
    assert "heartbeat" in names, hosts
    beat = os.path.join(demo.dir, "heartbeat")
    deadline = time.monotonic() + 10
    while not os.path.exists(beat) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os.path.exists(beat), "the host process wrote no %s" % beat

    assert demo.fetch("/data/store.txt").strip() == STORE_LINE
    print("ok: start: images pushed, jails ready, page served")


def check_jail_restart(demo):
    before = demo.starts()
    demo.nemctl("jail", "restart", "web")
    demo.wait_ready("web")
    demo.wait_page("/", "web-app release 1.0.0")
    after = demo.starts()
    assert after == before + 1, "starts %d after a restart of web, " \
        "expected %d: the volume web-data lost its data" % (after, before + 1)
    assert demo.fetch("/data/store.txt").strip() == STORE_LINE
    print("ok: jail restart: volume kept, starts %d -> %d" % (before, after))


def check_second_start(demo):
    before = demo.starts()
    old_pid = demo.daemon_pid()
    rc, out = demo.host("start")
    assert rc == 0, "second demo-host start exited %d:\n%s" % (rc, out)
    assert "A demo daemon runs already" in out, out
    assert demo.daemon_pid() not in (None, old_pid), "daemon not restarted"
    assert "image base 1.0.0 is in the store already" in out, out
    after = demo.starts()
    assert after == before + 1, "starts %d after a second start, " \
        "expected %d" % (after, before + 1)
    print("ok: second start: daemon restarted, images reused")


def check_apply(demo):
    before = demo.starts()
    demo.nemctl("image", "push", "web-app", demo.build_app("1.1.0"),
                "--version", "1.1.0")
    desc = os.path.join(demo.dir, "descriptions", "web.toml")
    text = demo.web_description("1.1.0")
    with open(desc, "w") as f:
        f.write(text)
    out = demo.nemctl("jail", "apply", desc)
    assert "web" in out, out
    demo.wait_page("/", "web-app release 1.1.0")
    demo.wait_ready("web")
    assert demo.starts() == before + 1, "the volume did not follow web"
    print("ok: apply: new image 1.1.0 served")


def check_sighup(demo):
    demo.nemctl("image", "push", "web-app", demo.build_app("1.2.0"),
                "--version", "1.2.0")
    jail_file = os.path.join(demo.dir, "jails", "web.toml")
    tmp = jail_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(demo.web_description("1.2.0"))
    os.rename(tmp, jail_file)
    pid = demo.daemon_pid()
    assert pid is not None, "no daemon pid to send SIGHUP to"
    os.kill(pid, signal.SIGHUP)
    demo.wait_page("/", "web-app release 1.2.0")
    demo.wait_ready("web")
    print("ok: SIGHUP: new image 1.2.0 served")


def check_stop(demo):
    rc, out = demo.host("stop")
    assert rc == 0, "demo-host stop exited %d:\n%s" % (rc, out)
    assert "Stopped: nothing under" in out, out
    assert demo.daemon_pid() is None, "rootd.pid is still there"
    with open(os.path.join(demo.dir, "leftover-mounts")) as f:
        assert f.read() == "", "the daemon left mounts behind"
    assert loops_under(demo.dir) == [], loops_under(demo.dir)
    assert mounts_under(demo.dir) == [], mounts_under(demo.dir)
    assert demo.fetch("/") is None, "the web port still answers"
    # Every restart above and the stop freed the jail trees with plain
    # unmounts; a busy jail root makes the daemon detach it lazily.
    with open(os.path.join(demo.dir, "rootd.log")) as f:
        lazy = [line for line in f if "lazily" in line]
    assert lazy == [], "the daemon detached mounts lazily:\n%s" \
        % "".join(lazy)
    print("ok: stop: nothing mounted or attached")


def cleanup(demo):
    """Removes the demo folder; kills the daemon by pid if stop failed."""
    rc, out = demo.host("clean")
    if rc != 0:
        sys.stderr.write("demo-host clean exited %d:\n%s\n" % (rc, out))
        pid = demo.daemon_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        for loop in loops_under(demo.dir):
            subprocess.run(["losetup", "-d", loop.split(":")[0]])
        if os.path.isdir(demo.dir) and not mounts_under(demo.dir):
            shutil.rmtree(demo.dir, ignore_errors=True)
    if os.path.isdir(demo.dir):
        sys.stderr.write("%s is left for inspection\n" % demo.dir)
        return False
    return True


def main():
    if os.geteuid() != 0:
        print("skipped: needs root")
        return 77
    for tool in ("mksquashfs", "mkfs.erofs", "busybox", "unshare",
                 "losetup"):
        if shutil.which(tool) is None:
            print("skipped: %s is missing; run scripts/install-deps" % tool)
            return 77
    if not BUILD or not os.path.isfile(os.path.join(BUILD, "build.ninja")):
        print("NEM_DEMO_BUILD is missing or names no meson build directory; "
              "set it to the build directory", file=sys.stderr)
        return 1

    demo = Demo()
    failed = False
    try:
        check_start(demo)
        check_jail_restart(demo)
        check_second_start(demo)
        check_apply(demo)
        check_sighup(demo)
        check_stop(demo)
    except Exception:
        traceback.print_exc()
        log = os.path.join(demo.dir, "rootd.log")
        if os.path.exists(log):
            with open(log) as f:
                sys.stderr.write("last lines of %s:\n%s" %
                                 (log, "".join(f.readlines()[-30:])))
        failed = True
    if not cleanup(demo):
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
