//! The seccomp filter (built with Firecracker's `seccompiler`): a deny-list of the
//! syscalls that reach kernel surface a sandboxed agent never needs and that could undo
//! the other layers. Everything else is allowed; denied calls fail with EPERM, except
//! `clone3`, which fails with ENOSYS so libc falls back to `clone`, whose flags (unlike
//! clone3's, which sit in memory) the filter can inspect.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use crate::error::{Layer, SandboxError};

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Seccomp, what, e)
}

/// Syscalls denied outright.
const DENIED: &[libc::c_long] = &[
    // Other processes' memory.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    // Mounts (also the new mount API).
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    // Kernel code.
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    // Kernel keyrings (shared across the user, not namespaced).
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // eBPF and perf: large attack surface, and perf can observe other processes.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    // Joining namespaces.
    libc::SYS_setns,
    // io_uring runs operations in kernel workers that seccomp never sees.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // File handles bypass path checks (the "shocker" escape).
    libc::SYS_open_by_handle_at,
    // Host-wide switches.
    libc::SYS_acct,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_syslog,
];

/// Namespace flags for unshare(2) and clone(2).
const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

const CLONE_NEWTIME: u64 = 0x80;
const AF_VSOCK: u64 = 40;
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| err("building a condition", e))
}

fn one(c: SeccompCondition) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(vec![c]).map_err(|e| err("building a rule", e))
}

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| err("target architecture", e))
}

/// Compiles the two filters: (deny-list → EPERM, clone3 → ENOSYS).
pub(crate) fn build() -> Result<(BpfProgram, BpfProgram), SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &nr in DENIED {
        rules.insert(nr, Vec::new());
    }
    // unshare/clone with any namespace flag: one rule per flag (rules are OR-ed).
    let mut unshare_rules = Vec::new();
    let mut clone_rules = Vec::new();
    for &flag in NS_FLAGS {
        unshare_rules.push(one(cond(0, SeccompCmpOp::MaskedEq(flag), flag)?)?);
        clone_rules.push(one(cond(0, SeccompCmpOp::MaskedEq(flag), flag)?)?);
    }
    // CLONE_NEWTIME shares its bit with clone(2)'s exit-signal byte, so only for unshare.
    unshare_rules.push(one(cond(
        0,
        SeccompCmpOp::MaskedEq(CLONE_NEWTIME),
        CLONE_NEWTIME,
    )?)?);
    rules.insert(libc::SYS_unshare, unshare_rules);
    rules.insert(libc::SYS_clone, clone_rules);
    // socket(AF_VSOCK, …): the host's vsock reaches outside any network namespace.
    rules.insert(
        libc::SYS_socket,
        vec![one(cond(0, SeccompCmpOp::Eq, AF_VSOCK)?)?],
    );
    // Terminal injection. ioctl's request is an int: compare the low 32 bits only, so
    // garbage in the upper half cannot dodge the match.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            one(cond(1, SeccompCmpOp::Eq, TIOCSTI)?)?,
            one(cond(1, SeccompCmpOp::Eq, TIOCLINUX)?)?,
        ],
    );

    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .map_err(|e| err("building the filter", e))?;
    let mut deny: BpfProgram = deny
        .try_into()
        .map_err(|e| err("compiling the filter", e))?;
    prepend_x32_guard(&mut deny);

    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    let clone3 = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(|e| err("building the clone3 filter", e))?;
    let clone3: BpfProgram = clone3
        .try_into()
        .map_err(|e| err("compiling the clone3 filter", e))?;
    Ok((deny, clone3))
}

/// On x86_64, x32 syscalls are numbered `nr | 0x40000000` under the same audit arch,
/// so a deny-list keyed on plain numbers would miss them: deny that whole range first.
/// (Prepending keeps seccompiler's relative jumps valid.)
fn prepend_x32_guard(prog: &mut BpfProgram) {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JGE_K: u16 = 0x35;
    const BPF_RET_K: u16 = 0x06;
    let eperm: u32 = SeccompAction::Errno(libc::EPERM as u32).into();
    let guard = vec![
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        }, // seccomp_data.nr
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: eperm,
        },
    ];
    prog.splice(0..0, guard);
}

/// Installs both filters on the calling thread (no_new_privs must be set, which
/// seccompiler also does).
pub(crate) fn install() -> Result<(), SandboxError> {
    let (deny, clone3) = build()?;
    seccompiler::apply_filter(&clone3).map_err(|e| err("installing the clone3 filter", e))?;
    seccompiler::apply_filter(&deny).map_err(|e| err("installing the filter", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_compile() {
        let (deny, clone3) = super::build().unwrap();
        assert!(deny.len() > 40);
        assert!(!clone3.is_empty());
    }
}
