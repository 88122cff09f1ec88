//! warren's local CA on disk.

use std::os::unix::fs::PermissionsExt;

use warren_egress::{Ca, CaError};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_files_are_created_with_tight_modes_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tls");
    let ca = Ca::load_or_create(&root).unwrap();
    let key = root.join("egress-ca.key");
    let cert = root.join("egress-ca.pem");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), ca.cert_pem());
    assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let again = Ca::load_or_create(&root).unwrap();
    assert_eq!(again.cert_pem(), ca.cert_pem());
    // Leaves are cached per host.
    let a = again.server_config("granted.test").unwrap();
    let b = again.server_config("granted.test").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[test]
fn a_key_other_users_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path()).unwrap();
    let key = dir.path().join("egress-ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Ca::load_or_create(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(err, CaError::KeyTooOpen { mode: 0o644, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn a_lost_certificate_is_remade_from_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ca::load_or_create(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("egress-ca.pem")).unwrap();
    let second = Ca::load_or_create(dir.path()).unwrap();
    // Same key and name: leaves of either verify against both.
    assert!(second.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let _ = first;
}
