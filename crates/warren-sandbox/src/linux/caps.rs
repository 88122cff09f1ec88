//! Dropping every capability (bounding, ambient, effective, permitted, inheritable) and
//! locking the securebits so that exec'ing as uid 0 (the caller may be root) grants
//! none back; then `no_new_privs`, so setuid/setcap binaries grant nothing either.

use rustix::thread::{
    CapabilitiesSecureBits, CapabilitySet, CapabilitySets, capabilities,
    clear_ambient_capability_set, set_capabilities, set_capabilities_secure_bits, set_no_new_privs,
};

use super::sys;
use crate::error::{Layer, SandboxError};

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Capabilities, what, e)
}

/// Drops everything; checks the result.
pub(crate) fn drop_all() -> Result<(), SandboxError> {
    // Bounding set first: it needs CAP_SETPCAP, which goes away below.
    let mut cap = 0;
    while sys::capbset_drop(cap).map_err(|e| {
        err(
            format!("dropping capability {cap} from the bounding set"),
            e,
        )
    })? {
        cap += 1;
    }
    // SECBIT_NOROOT: uid 0 gets no capabilities at exec; NO_SETUID_FIXUP; locked so the
    // command cannot undo them; NO_CAP_AMBIENT_RAISE so the ambient set stays empty.
    let bits = CapabilitiesSecureBits::NO_ROOT
        | CapabilitiesSecureBits::NO_ROOT_LOCKED
        | CapabilitiesSecureBits::NO_SETUID_FIXUP
        | CapabilitiesSecureBits::NO_SETUID_FIXUP_LOCKED
        | CapabilitiesSecureBits::KEEP_CAPS_LOCKED
        | CapabilitiesSecureBits::NO_CAP_AMBIENT_RAISE
        | CapabilitiesSecureBits::NO_CAP_AMBIENT_RAISE_LOCKED;
    set_capabilities_secure_bits(bits).map_err(|e| err("setting securebits", e))?;
    clear_ambient_capability_set().map_err(|e| err("clearing the ambient set", e))?;
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, none).map_err(|e| err("capset", e))?;

    let now = capabilities(None).map_err(|e| err("capget", e))?;
    if !now.effective.is_empty() || !now.permitted.is_empty() || !now.inheritable.is_empty() {
        return Err(SandboxError::layer(
            Layer::Capabilities,
            "capabilities remain after capset",
        ));
    }
    if (0..64).any(|c| sys::capbset_read(c) == Some(true)) {
        return Err(SandboxError::layer(
            Layer::Capabilities,
            "the bounding set is not empty",
        ));
    }
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`.
pub(crate) fn no_new_privs() -> Result<(), SandboxError> {
    set_no_new_privs(true)
        .map_err(|e| SandboxError::sys(Layer::NoNewPrivs, "prctl(PR_SET_NO_NEW_PRIVS)", e))
}
