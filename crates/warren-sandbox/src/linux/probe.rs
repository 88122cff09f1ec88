//! `probe`: which layers this kernel (and this process's confinement) supports, for
//! `warren doctor`. Namespaces are tried for real in a forked child that only makes raw
//! syscalls, so it is safe to call from a multi-threaded process.

use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::thread::UnshareFlags;

use super::sys::{self, Fork};
use crate::error::Layer;
use crate::probe_types::LayerStatus;

const STEPS: usize = 10;

/// Probes every layer.
pub fn probe() -> Vec<LayerStatus> {
    let mut out = Vec::new();
    let results = namespace_results();
    let errno_text = |e: i32| std::io::Error::from_raw_os_error(e).to_string();
    let ns = [
        (
            Layer::UserNamespace,
            0,
            "unprivileged user namespace with uid/gid map",
        ),
        (Layer::MountNamespace, 2, "mount namespace"),
        (Layer::PidNamespace, 3, "pid namespace"),
        (Layer::IpcNamespace, 4, "ipc namespace"),
        (Layer::UtsNamespace, 5, "uts namespace"),
        (Layer::NetNamespace, 6, "network namespace"),
        (Layer::CgroupNamespace, 7, "cgroup namespace"),
        (Layer::Mounts, 8, "tmpfs mount inside the namespaces"),
        (
            Layer::Overlay,
            9,
            "overlayfs in a user namespace (userxattr): always-read-only paths need no placeholder in the worktree",
        ),
    ];
    for (layer, idx, what) in ns {
        let status = match &results {
            Err(e) => LayerStatus::no(layer, format!("could not probe: {e}")),
            Ok(r) => {
                // The user namespace step also covers writing the maps (index 1).
                let code = if idx == 0 && r[0] == 0 { r[1] } else { r[idx] };
                match code {
                    0 => LayerStatus::yes(layer, what.to_string()),
                    -1 => {
                        LayerStatus::no(layer, "not tried: the user namespace failed".to_string())
                    }
                    e => {
                        let err = std::io::Error::from_raw_os_error(e);
                        let explained = super::namespaces::explain(
                            crate::error::SandboxError::layer(layer, errno_text(e)),
                            &err,
                        );
                        let mut reason = errno_text(e);
                        if let Some(h) = warren_core::Hint::hint(&explained) {
                            reason = format!("{reason} ({h})");
                        }
                        LayerStatus::no(layer, reason)
                    }
                }
            }
        };
        out.push(status);
    }
    out.push(match super::landlock::abi_version() {
        Ok(v) if v >= 6 => LayerStatus::yes(
            Layer::Landlock,
            format!("ABI {v} (filesystem, TCP, scopes)"),
        ),
        Ok(v) if v >= 4 => LayerStatus::yes(
            Layer::Landlock,
            format!("ABI {v} (filesystem, TCP; no socket/signal scopes)"),
        ),
        Ok(v) => LayerStatus::yes(Layer::Landlock, format!("ABI {v} (filesystem only)")),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => LayerStatus::no(
            Layer::Landlock,
            "built but not enabled: add `landlock` to the `lsm=` boot parameter".into(),
        ),
        Err(e) => LayerStatus::no(Layer::Landlock, format!("not available: {e}")),
    });
    out.push(match rustix::thread::secure_computing_mode() {
        Ok(_) => LayerStatus::yes(Layer::Seccomp, "seccomp-bpf filters".to_string()),
        Err(e) => LayerStatus::no(Layer::Seccomp, format!("not available: {e}")),
    });
    out.push(super::cgroup::status());
    out.push(match rustix::thread::no_new_privs() {
        Ok(_) => LayerStatus::yes(Layer::NoNewPrivs, "PR_SET_NO_NEW_PRIVS".to_string()),
        Err(e) => LayerStatus::no(Layer::NoNewPrivs, format!("not available: {e}")),
    });
    out
}

/// Scratch layers for the overlay step, in the temp dir (removed on drop). Named by
/// path: a descriptor opened here would belong to this process's mount namespace, and
/// overlayfs only takes layers from the mount namespace it is mounted in.
struct OverlayScratch {
    dir: std::path::PathBuf,
    /// lower, upper, work.
    names: Vec<std::ffi::CString>,
}

impl OverlayScratch {
    fn new() -> std::io::Result<OverlayScratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("warren-probe-{}-{nanos}", std::process::id()));
        let mut scratch = OverlayScratch {
            dir,
            names: Vec::new(),
        };
        for layer in ["lower", "upper", "work"] {
            let path = scratch.dir.join(layer);
            std::fs::create_dir_all(&path)?;
            let name = std::ffi::CString::new(path.into_os_string().into_encoded_bytes())
                .map_err(std::io::Error::other)?;
            scratch.names.push(name);
        }
        Ok(scratch)
    }
}

impl Drop for OverlayScratch {
    fn drop(&mut self) {
        // The overlay leaves `work/work` with mode 000.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            self.dir.join("work/work"),
            std::fs::Permissions::from_mode(0o700),
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The overlay as `linux/overlay.rs` mounts it; errno or 0.
fn try_overlay(names: &[std::ffi::CString]) -> i32 {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_flag,
        fsconfig_set_string, fsmount, fsopen,
    };
    let run = || -> rustix::io::Result<()> {
        let fs = fsopen(c"overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
        fsconfig_set_flag(&fs, c"userxattr")?;
        fsconfig_set_flag(&fs, c"volatile")?;
        for (key, value) in [
            (c"redirect_dir", c"nofollow"),
            (c"metacopy", c"off"),
            (c"index", c"off"),
            (c"xino", c"off"),
        ] {
            fsconfig_set_string(&fs, key, value)?;
        }
        for (key, value) in [c"lowerdir", c"upperdir", c"workdir"]
            .into_iter()
            .zip(names)
        {
            fsconfig_set_string(&fs, key, value.as_c_str())?;
        }
        fsconfig_create(&fs)?;
        fsmount(
            &fs,
            FsMountFlags::FSMOUNT_CLOEXEC,
            MountAttrFlags::MOUNT_ATTR_NOSUID,
        )
        .map(drop)
    };
    run().map(|_| 0).unwrap_or_else(|e| e.raw_os_error())
}

/// errno per step (0 ok, -1 not tried), from a forked child.
fn namespace_results() -> std::io::Result<[i32; STEPS]> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // Everything the child needs is prepared here: after fork in a multi-threaded
    // process it may not allocate.
    let uid_map = format!("{uid} {uid} 1\n");
    let gid_map = format!("{gid} {gid} 1\n");
    let scratch = OverlayScratch::new();
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    match sys::fork()? {
        Fork::Child => {
            drop(r);
            let mut res = [-1i32; STEPS];
            let code = |e: rustix::io::Errno| e.raw_os_error();
            let unshare = |f| {
                // SAFETY: namespace flags only, in a single-threaded child.
                unsafe { rustix::thread::unshare_unsafe(f) }
            };
            res[0] = unshare(UnshareFlags::NEWUSER)
                .map(|_| 0)
                .unwrap_or_else(code);
            if res[0] == 0 {
                let write = |path: &std::ffi::CStr, data: &[u8]| -> i32 {
                    match rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
                        Ok(fd) => rustix::io::write(&fd, data).map(|_| 0).unwrap_or_else(code),
                        Err(e) => code(e),
                    }
                };
                let mut m = write(c"/proc/self/setgroups", b"deny");
                if m == 0 {
                    m = write(c"/proc/self/uid_map", uid_map.as_bytes());
                }
                if m == 0 {
                    m = write(c"/proc/self/gid_map", gid_map.as_bytes());
                }
                res[1] = m;
                for (i, f) in [
                    UnshareFlags::NEWNS,
                    UnshareFlags::NEWPID,
                    UnshareFlags::NEWIPC,
                    UnshareFlags::NEWUTS,
                    UnshareFlags::NEWNET,
                    UnshareFlags::NEWCGROUP,
                ]
                .into_iter()
                .enumerate()
                {
                    res[2 + i] = unshare(f).map(|_| 0).unwrap_or_else(code);
                }
                if res[2] == 0 {
                    let private = rustix::mount::mount_change(
                        c"/",
                        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
                    );
                    // Before the tmpfs below hides the temp dir.
                    res[9] = match (&private, &scratch) {
                        (Ok(()), Ok(s)) => try_overlay(&s.names),
                        (Err(e), _) => e.raw_os_error(),
                        (_, Err(e)) => e.raw_os_error().unwrap_or(libc::EIO),
                    };
                    res[8] = private
                        .and_then(|_| {
                            rustix::mount::mount(
                                c"tmpfs",
                                c"/tmp",
                                c"tmpfs",
                                MountFlags::empty(),
                                None,
                            )
                        })
                        .map(|_| 0)
                        .unwrap_or_else(code);
                }
            }
            let mut bytes = [0u8; STEPS * 4];
            for (i, v) in res.iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            let _ = rustix::io::write(&w, &bytes);
            sys::exit_now(0)
        }
        Fork::Parent(pid) => {
            drop(w);
            let mut bytes = [0u8; STEPS * 4];
            let mut got = 0;
            while got < bytes.len() {
                match rustix::io::read(r.as_fd(), &mut bytes[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let _ = sys::waitpid(pid, false);
            drop(scratch);
            if got != bytes.len() {
                return Err(std::io::Error::other("the probe process died"));
            }
            let mut res = [0i32; STEPS];
            for (i, v) in res.iter_mut().enumerate() {
                let mut b = [0u8; 4];
                b.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
                *v = i32::from_le_bytes(b);
            }
            Ok(res)
        }
    }
}
