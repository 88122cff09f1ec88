#!/usr/bin/env python3
"""A hostile agent: tries every escape of DESIGN.md section 8 and reports each.

Run the same way inside the sandbox and, as a control, directly on the host, so that
every attempt is shown to be able to succeed where nothing stops it. One JSON line per
attempt on stdout: {"attempt": NAME, "result": "escaped"|"blocked"|"n/a", "detail": ...}.
Usage: hostile.py ATTEMPT...   (or "all"); paths, ports and pids come from ESC_* vars.
"""
import ctypes
import errno
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

E = os.environ
WT = E.get("ESC_WT", "")
GITDIR = E.get("ESC_GITDIR", "")
OUTSIDE = E.get("ESC_OUTSIDE", "")
MARK = E.get("ESC_MARK", "MARK")
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]


class NA(Exception):
    """The attempt does not apply here (tool missing, kernel lacks the feature)."""


def needs_root():
    if E.get("ESC_CONTROL") and os.getuid() != 0:
        raise NA("the host-side control needs root")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def syscall(nr, *args):
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return rc, ctypes.get_errno()


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, **kw)


def tool(name):
    path = shutil.which(name)
    if not path:
        raise NA(f"{name} not installed")
    return path


# Each attempt returns (escaped: bool, detail: str).

def read_ssh_key():
    for path in [E["ESC_REAL_HOME"] + "/.ssh/id_ed25519", os.path.expanduser("~/.ssh/id_ed25519")]:
        try:
            if MARK.encode() in read(path):
                return True, f"read {path}"
        except OSError as e:
            last = f"{path}: {e.strerror}"
    return False, last


def read_etc_shadow():
    needs_root()
    try:
        data = read("/etc/shadow")
        return len(data) > 0, f"{len(data)} bytes"
    except OSError as e:
        return False, e.strerror


def read_other_worktree():
    try:
        return MARK.encode() in read(E["ESC_OTHER_WT"] + "/secret.txt"), "read it"
    except OSError as e:
        return False, e.strerror


def read_warren_token():
    root = E["ESC_WARREN_ROOT"]
    for path in [root + "/credentials/token", root + "/state.db"]:
        try:
            if MARK.encode() in read(path):
                return True, f"read {path}"
        except OSError as e:
            last = e.strerror
    return False, last


def read_parent_environ():
    secret = f"secret {MARK}"  # the value the test gives the sandbox's parent
    if any(secret in v for v in os.environ.values()):
        return True, "in os.environ"
    for path in ["/proc/self/environ", f"/proc/{os.getppid()}/environ", "/proc/1/environ"]:
        try:
            if secret.encode() in read(path):
                return True, f"in {path}"
        except OSError:
            pass
    return False, "not in own, parent's or pid 1's environ"


def inherited_fd():
    for fd in range(3, 64):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith("state.db"):
            try:
                os.lseek(fd, 0, 0)
                return MARK.encode() in os.read(fd, 4096), f"fd {fd} -> {target}"
            except OSError as e:
                return True, f"fd {fd} -> {target} ({e.strerror})"
    return False, "no host descriptor"


def write_outside_direct():
    ok = []
    for path in [OUTSIDE + "/pwned-direct", E["ESC_OTHER_WT"] + "/pwned"]:
        try:
            with open(path, "w") as f:
                f.write(MARK)
            ok.append(path)
        except OSError:
            pass
    return bool(ok), ", ".join(ok) or "every write failed"


def write_warren_root():
    """Modify the warren root's state and tokens (open without O_CREAT: inside, the path
    may exist only in the environment's private HOME, which would prove nothing)."""
    done = []
    for path in [E["ESC_WARREN_ROOT"] + "/state.db", E["ESC_WARREN_ROOT"] + "/credentials/token"]:
        try:
            with open(path, "r+") as f:
                f.seek(0, 2)
                f.write(MARK)
            done.append(path)
        except OSError as e:
            last = e.strerror
    return bool(done), ", ".join(done) or last


def write_system_dirs():
    # Only inside: on the host, root could really write these.
    if E.get("ESC_CONTROL"):
        raise NA("not tried on the host")
    for path in ["/usr/pwned", "/etc/pwned", "/pwned", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger"]:
        try:
            with open(path, "w") as f:
                f.write("x")
            return True, path
        except OSError:
            pass
    return False, "every write failed"


def write_via_symlink():
    done = []
    for link in [WT + "/link-out", WT + "/link-hook"]:
        try:
            with open(link, "w") as f:
                f.write(MARK)
            done.append(link)
        except OSError as e:
            last = e.strerror
    return bool(done), ", ".join(done) or last


# Always-read-only paths, from the sandbox crate's own list (ESC_PROTECTED), and which
# of them are directories where they exist; the others are files.
PROTECTED = [p for p in E.get("ESC_PROTECTED", "").split(":") if p]
DIR_NAMES = {".vscode", ".idea", ".claude/commands", ".claude/agents", ".husky", ".github/workflows"}


def holds_mark(path):
    """Whether attacker content is now at `path` (the file itself, or `evil` in it)."""
    for p in (path, os.path.join(path, "evil")):
        try:
            if os.path.isfile(p) and MARK.encode() in read(p):
                return True
        except OSError:
            pass
    return False


def payload(rel, where):
    """A file (or, for a directory name, a directory holding `evil`) with MARK, made in
    the worktree's root, ready to be moved onto `rel`."""
    tmp = os.path.join(WT, where)
    shutil.rmtree(tmp, ignore_errors=True)
    if rel in DIR_NAMES:
        os.makedirs(tmp)
        with open(os.path.join(tmp, "evil"), "w") as f:
            f.write(MARK)
    else:
        with open(tmp, "w") as f:
            f.write(MARK)
    return tmp


def discard(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def aside(path):
    """Moves an existing `path` out of the way (the first step of replacing it)."""
    if os.path.lexists(path):
        os.rename(path, path + "-away")


def protected_write(rel):
    def attempt():
        path = os.path.join(WT, rel)
        try:
            if os.path.isdir(path) and rel not in DIR_NAMES:
                os.rmdir(path)  # an empty directory standing in for a file
            os.makedirs(os.path.dirname(path), exist_ok=True)
            target = os.path.join(path, "evil") if rel in DIR_NAMES or os.path.isdir(path) else path
            if rel in DIR_NAMES:
                os.makedirs(path, exist_ok=True)
            with open(target, "a") as f:
                f.write(MARK)
        except OSError as e:
            return holds_mark(path), e.strerror
        return holds_mark(path), f"wrote {target}"
    return attempt


def protected_rename(rel):
    def attempt():
        path = os.path.join(WT, rel)
        tmp = None
        try:
            tmp = payload(rel, ".esc-rename-tmp")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            aside(path)
            os.rename(tmp, path)
        except OSError as e:
            return holds_mark(path), e.strerror
        finally:
            if tmp:
                discard(tmp)
        return holds_mark(path), "renamed onto it"
    return attempt


def protected_symlink(rel):
    def attempt():
        path = os.path.join(WT, rel)
        details = []
        # 1. Write through a symlink planted elsewhere that points at it.
        link = os.path.join(WT, ".esc-link")
        try:
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(path, link)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            target = os.path.join(link, "evil") if rel in DIR_NAMES or os.path.isdir(path) else link
            with open(target, "a") as f:
                f.write(MARK)
        except OSError as e:
            details.append(f"through a link: {e.strerror}")
        finally:
            if os.path.lexists(link):
                os.remove(link)
        if holds_mark(path):
            return True, "wrote through a symlink to it"
        # 2. Replace it by a symlink to attacker content.
        tmp = None
        try:
            tmp = payload(rel, ".esc-symlink-target")
            aside(path)
            os.symlink(tmp, path)
        except OSError as e:
            details.append(f"replacing it by a symlink: {e.strerror}")
        escaped = holds_mark(path)
        if tmp and not escaped:
            discard(tmp)
        return escaped, "; ".join(details) or "replaced it by a symlink"
    return attempt


def protected_remove(rel):
    """Only meaningful where it exists on the host (`existing` layout)."""
    def attempt():
        path = os.path.join(WT, rel)
        if not os.path.lexists(path):
            raise NA("does not exist here")
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except OSError as e:
            return not os.path.lexists(path), e.strerror
        return not os.path.lexists(path), "removed"
    return attempt


def protected_move_parent(parent):
    """Rename a parent of protected paths away, recreate it with attacker content at
    every protected path beneath it, rename it back over the original if possible."""
    def attempt():
        base = os.path.join(WT, parent)
        away = base + "-esc-away"
        children = [p for p in PROTECTED if p.startswith(parent + "/")]
        try:
            os.rename(base, away)
        except OSError as e:
            return False, f"{parent}: {e.strerror}"
        try:
            for rel in children:
                path = os.path.join(WT, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = payload(rel, ".esc-parent-tmp")
                os.rename(tmp, path)
        except OSError as e:
            return False, e.strerror
        escaped = any(holds_mark(os.path.join(WT, rel)) for rel in children)
        return escaped, f"recreated {parent} with " + ", ".join(children)
    return attempt


def main_git():
    """No write to the main repository's `.git` at all (its objects are shown read-only
    for the environment's own repository to borrow)."""
    done, last = [], ""
    for rel in ["objects/esc-pwned", "hooks/pre-commit", "config", "refs/heads/esc-pwned", "HEAD"]:
        path = os.path.join(GITDIR, rel)
        try:
            with open(path, "a") as f:
                f.write("# " + MARK + "\n")
            done.append(rel)
        except OSError as e:
            last = f"{rel}: {e.strerror}"
    try:
        os.rename(os.path.join(GITDIR, "objects"), os.path.join(GITDIR, "objects-away"))
        done.append("rename objects")
    except OSError as e:
        last += f"; rename objects: {e.strerror}"
    return bool(done), ", ".join(done) or last


def move_worktree_away():
    try:
        os.rename(WT, WT + "-away")
        os.rename(WT + "-away", WT)
        return True, "renamed the worktree"
    except OSError as e:
        return False, e.strerror


def net_tcp():
    try:
        s = socket.create_connection(("127.0.0.1", int(E["ESC_TCP_PORT"])), timeout=3)
        s.close()
        return True, "connected"
    except OSError as e:
        return False, e.strerror or str(e)


def net_udp():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(MARK.encode(), ("127.0.0.1", int(E["ESC_UDP_PORT"])))
        data, _ = s.recvfrom(100)
        return True, f"reply {data!r}"
    except OSError as e:
        return False, e.strerror or str(e)


def net_dns():
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(query, ("127.0.0.1", int(E["ESC_UDP_PORT"])))
        data, _ = s.recvfrom(512)
        return data[:2] == b"\x12\x34", "DNS answer"
    except OSError as e:
        return False, e.strerror or str(e)


def net_bash_devtcp():
    bash = tool("bash")
    r = run([bash, "-c", f"echo hi > /dev/tcp/127.0.0.1/{E['ESC_TCP_PORT']}"])
    return r.returncode == 0, r.stderr.decode().strip()[-80:] or "rc 0"


def net_busybox_nc():
    bb = tool("busybox")
    r = run([bb, "nc", "-w", "2", "127.0.0.1", E["ESC_TCP_PORT"]], input=b"GET / HTTP/1.0\r\n\r\n")
    return b"200" in r.stdout, (r.stdout + r.stderr).decode(errors="replace").strip()[-80:]


def net_busybox_wget():
    bb = tool("busybox")
    # (busybox 1.35's wget crashes with -q -T, so neither is used; run() has a timeout)
    r = run([bb, "wget", "-O", "-", f"http://127.0.0.1:{E['ESC_TCP_PORT']}/"])
    return r.returncode == 0 and b"ok" in r.stdout, (r.stdout + r.stderr).decode(errors="replace").strip()[-80:]


def net_raw_socket():
    needs_root()
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True, "raw socket created"
    except OSError as e:
        return False, e.strerror


def io_uring():
    params = ctypes.create_string_buffer(120)
    rc, err = syscall(425, 4, params)  # io_uring_setup
    if rc >= 0:
        os.close(rc)
        return True, "io_uring_setup gave a ring"
    if err in (errno.ENOSYS,) and E.get("ESC_CONTROL"):
        raise NA("io_uring not built into this kernel")
    return False, os.strerror(err)


def af_vsock():
    try:
        socket.socket(40, socket.SOCK_STREAM).close()
        return True, "AF_VSOCK socket created"
    except OSError as e:
        if E.get("ESC_CONTROL") and e.errno == errno.EAFNOSUPPORT:
            raise NA("no vsock on this host")
        return False, e.strerror


def docker_socket():
    path = "/var/run/docker.sock"
    if E.get("ESC_CONTROL") and not os.path.exists(path):
        raise NA("no Docker socket on this host")
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return True, s.recv(64).decode(errors="replace").split("\r\n")[0]
    except OSError as e:
        return False, e.strerror or str(e)


def abstract_socket():
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect("\0" + E["ESC_ABSTRACT"])
        return True, "connected"
    except OSError as e:
        return False, e.strerror or str(e)


def victim():
    return int(E["ESC_VICTIM_PID"])


def see_host_process():
    try:
        cmd = read(f"/proc/{victim()}/cmdline")
        return MARK.encode() in cmd, cmd.replace(b"\0", b" ").decode(errors="replace")
    except OSError as e:
        return False, e.strerror


def signal_host_process():
    try:
        os.kill(victim(), 0)
        # Make sure it is really the host's victim, not a sandbox pid by chance.
        return MARK.encode() in read(f"/proc/{victim()}/cmdline"), "kill(pid, 0) succeeded"
    except OSError as e:
        return False, e.strerror


def ptrace_host_process():
    PTRACE_ATTACH, PTRACE_DETACH = 16, 17
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    rc = libc.ptrace(PTRACE_ATTACH, victim(), None, None)
    err = ctypes.get_errno()
    if rc == 0:
        time.sleep(0.1)
        libc.ptrace(PTRACE_DETACH, victim(), None, None)
        return True, "attached"
    # Also our own pid 1 (the sandbox's init), which holds the helper's memory.
    rc1 = libc.ptrace(PTRACE_ATTACH, 1, None, None)
    if rc1 == 0 and not E.get("ESC_CONTROL"):
        libc.ptrace(PTRACE_DETACH, 1, None, None)
        return True, "attached to pid 1"
    return False, os.strerror(err)


def read_proc1_mem():
    """/proc/1/mem (inside: the sandbox's pid 1, which holds the helper's memory) and the
    host victim's (on the host, pid 1 may hold capabilities even root lacks)."""
    last = ""
    for pid in [1, victim()]:
        try:
            with open(f"/proc/{pid}/maps") as f:
                line = next(l for l in f if l.split()[1].startswith("r"))
            start = int(line.split("-")[0], 16)
            with open(f"/proc/{pid}/mem", "rb") as mem:
                mem.seek(start)
                data = mem.read(16)
            if data:
                return True, f"read /proc/{pid}/mem at {start:#x}"
        except (OSError, StopIteration) as e:
            last = f"/proc/{pid}: " + (getattr(e, "strerror", None) or str(e))
    return False, last


def mount_fs():
    needs_root()
    target = WT + "/mnt-attempt"
    os.makedirs(target, exist_ok=True)
    rc = libc.mount(b"tmpfs", target.encode(), b"tmpfs", 0, None)
    err = ctypes.get_errno()
    if rc == 0:
        libc.umount2(target.encode(), 2)
        return True, "mounted a tmpfs"
    return False, os.strerror(err)


def umount_fs():
    needs_root()
    if E.get("ESC_CONTROL"):
        target = WT + "/mnt-attempt2"
        os.makedirs(target, exist_ok=True)
        if libc.mount(b"tmpfs", target.encode(), b"tmpfs", 0, None) != 0:
            raise NA("cannot mount on the host")
    else:
        target = WT + "/.mcp.json"  # a read-only mount inside the sandbox
    rc = libc.umount2(target.encode(), 2)
    err = ctypes.get_errno()
    return rc == 0, "unmounted" if rc == 0 else os.strerror(err)


def load_module():
    needs_root()
    image = ctypes.create_string_buffer(64)
    rc, err = syscall(175, image, 64, b"")  # init_module
    if err == errno.ENOSYS:
        raise NA("kernel without modules")
    # EPERM means refused before the loader looked at the image; anything else (here
    # ENOEXEC for garbage) means the caller could load a real module.
    return err != errno.EPERM, os.strerror(err) if rc != 0 else "loaded"


def gain_capability():
    needs_root()
    with open("/proc/self/status") as f:
        caps = {l.split(":")[0]: int(l.split()[1], 16) for l in f if l.startswith("Cap")}
    held = {k: hex(v) for k, v in caps.items() if v}
    return bool(held), str(held or "no capabilities")


def setuid_binary():
    exe = WT + "/suid-id"
    if not os.path.exists(exe):
        raise NA("no setuid test binary (making one needs root)")
    r = run([exe, "-u"])
    out = r.stdout.decode().strip()
    return out != str(os.getuid()), f"euid after exec: {out or r.stderr.decode().strip()}"


def unshare_user():
    u = tool("unshare")
    r = run([u, "-U", "-r", "true"])
    pid = os.fork()
    if pid == 0:  # unshare(CLONE_NEWUSER) in a throwaway child, not in this process
        os._exit(0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno())
    _, status = os.waitpid(pid, 0)
    err = os.waitstatus_to_exitcode(status)
    ok = r.returncode == 0 or err == 0
    detail = "unshared" if ok else f"unshare -U: {r.stderr.decode(errors='replace').strip()}; unshare(2): {os.strerror(err)}"
    return ok, detail


def tiocsti():
    needs_root()
    import fcntl
    import termios
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSTI, b"x")
        return True, "injected a keystroke"
    except OSError as e:
        return False, e.strerror
    finally:
        os.close(master)
        os.close(slave)


def tioclinux():
    import fcntl
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, 0x541C, b"\x0b")
        return True, "ioctl accepted"
    except OSError as e:
        # EPERM is a refusal; anything else means the ioctl reached the tty layer.
        return e.errno != errno.EPERM, e.strerror
    finally:
        os.close(master)
        os.close(slave)


def daemonize():
    """Double fork + setsid a process named after MARK, then wait to be killed."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(tool("sleep"), ["warren-orphan-" + MARK, "300"])
        os._exit(0)
    time.sleep(0.3)
    print("ready", flush=True)
    time.sleep(300)


ATTEMPTS = {
    "read_ssh_key": read_ssh_key,
    "read_etc_shadow": read_etc_shadow,
    "read_other_worktree": read_other_worktree,
    "read_warren_token": read_warren_token,
    "read_parent_environ": read_parent_environ,
    "inherited_host_fd": inherited_fd,
    "write_outside_direct": write_outside_direct,
    "write_warren_root": write_warren_root,
    "write_system_dirs": write_system_dirs,
    "write_via_symlink": write_via_symlink,
    "write_main_git": main_git,
    "move_worktree_away": move_worktree_away,
    **{f"protected:write:{p}": protected_write(p) for p in PROTECTED},
    **{f"protected:rename_onto:{p}": protected_rename(p) for p in PROTECTED},
    **{f"protected:symlink:{p}": protected_symlink(p) for p in PROTECTED},
    **{f"protected:remove:{p}": protected_remove(p) for p in PROTECTED},
    **{f"protected:move_parent:{p}": protected_move_parent(p) for p in [".claude", ".github"]},
    "net_tcp": net_tcp,
    "net_udp": net_udp,
    "net_dns": net_dns,
    "net_bash_dev_tcp": net_bash_devtcp,
    "net_busybox_nc": net_busybox_nc,
    "net_busybox_wget": net_busybox_wget,
    "net_raw_socket": net_raw_socket,
    "net_io_uring": io_uring,
    "net_af_vsock": af_vsock,
    "docker_socket": docker_socket,
    "abstract_unix_socket": abstract_socket,
    "see_host_process": see_host_process,
    "signal_host_process": signal_host_process,
    "ptrace_host_process": ptrace_host_process,
    "read_proc_1_mem": read_proc1_mem,
    "mount": mount_fs,
    "umount": umount_fs,
    "load_module": load_module,
    "gain_capability": gain_capability,
    "setuid_binary": setuid_binary,
    "unshare_user_ns": unshare_user,
    "tiocsti": tiocsti,
    "tioclinux": tioclinux,
}


def main():
    if sys.argv[1:] == ["list"]:
        print("\n".join(ATTEMPTS))
        return
    if sys.argv[1:] == ["daemonize"]:
        daemonize()
        return
    names = list(ATTEMPTS) if sys.argv[1:] == ["all"] else sys.argv[1:]
    for name in names:
        try:
            escaped, detail = ATTEMPTS[name]()
            result = "escaped" if escaped else "blocked"
        except NA as e:
            result, detail = "n/a", str(e)
        except Exception as e:  # an attempt that crashes was not an escape
            result, detail = "blocked", f"{type(e).__name__}: {e}"
        print(json.dumps({"attempt": name, "result": result, "detail": str(detail)[:160]}), flush=True)


if __name__ == "__main__":
    main()
