//! warren's local certificate authority: one key and certificate per warren
//! root (`egress-ca.pem`, installed in every environment's trust store, and
//! `egress-ca.key`, which never leaves the host), and leaf certificates for
//! granted hosts, made on first use and kept.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::CaError;

/// The CA certificate's file name in the directory given to
/// [`Ca::load_or_create`].
pub const CERT_FILE: &str = "egress-ca.pem";
/// The CA key's file name (mode 0600).
pub const KEY_FILE: &str = "egress-ca.key";

/// The CA's subject. Fixed, so the signer can be rebuilt from the key alone
/// when loading (rcgen would need an X.509 parser to read it back from the
/// certificate): a leaf's issuer name and authority key identifier come from
/// this name and the key, and so match the stored certificate.
const CA_NAME: &str = "warren egress CA";
const CA_ORG: &str = "warren";

/// How long the CA certificate is valid.
const CA_DAYS: i64 = 3650;
/// How long a leaf is valid, and when the cache makes a new one: long-lived
/// proxies must not serve a leaf close to expiry.
const LEAF_DAYS: i64 = 90;
const LEAF_REFRESH: Duration = Duration::from_secs(30 * 24 * 3600);
/// Leaves kept at most. Granted hosts are few, but a grant for
/// `*.example.com` lets an environment ask for any number of names; past
/// this the cache starts over rather than grow without bound.
const MAX_LEAVES: usize = 1024;

/// warren's local CA; cheap to share (`Arc<Ca>`) across every
/// environment's proxy, which then share its leaf cache.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    provider: Arc<CryptoProvider>,
    /// Server configs by host, each with its own leaf. A read lock on the
    /// hot path; the write lock only when a host is first seen.
    leaves: RwLock<HashMap<String, Leaf>>,
}

struct Leaf {
    config: Arc<ServerConfig>,
    made: Instant,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// Loads the CA from `dir`, or creates it there: `egress-ca.key` is
    /// created with mode 0600 from the start (never briefly wider) and
    /// published atomically, so two warren processes starting at once agree
    /// on one key; `egress-ca.pem` is 0644. A key that other users can read
    /// is refused.
    pub fn load_or_create(dir: &Path) -> Result<Ca, CaError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| CaError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        let key = match read_key(&key_path)? {
            Some(key) => key,
            None => create_key(dir, &key_path)?,
        };
        let params = ca_params();
        let cert_pem = match fs::read_to_string(&cert_path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let cert = params
                    .self_signed(&key)
                    .map_err(|source| CaError::Generate {
                        what: "the CA".to_string(),
                        source,
                    })?;
                let pem = cert.pem();
                write_atomic(dir, &cert_path, pem.as_bytes(), 0o644)?;
                pem
            }
            Err(source) => {
                return Err(CaError::Read {
                    path: cert_path,
                    source,
                });
            }
        };
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            leaves: RwLock::new(HashMap::new()),
        })
    }

    /// The CA certificate (PEM), for the environment's trust store.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A TLS server config presenting a leaf for `host` (a DNS name or an IP
    /// address), made on first use and cached. Offers only HTTP/1.1 by ALPN:
    /// the intercepting server speaks nothing else.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        {
            let leaves = self.leaves.read().unwrap_or_else(|p| p.into_inner());
            if let Some(leaf) = leaves.get(host)
                && leaf.made.elapsed() < LEAF_REFRESH
            {
                return Ok(Arc::clone(&leaf.config));
            }
        }
        let config = Arc::new(self.make_leaf(host)?);
        let mut leaves = self.leaves.write().unwrap_or_else(|p| p.into_inner());
        if leaves.len() >= MAX_LEAVES {
            leaves.clear();
        }
        leaves.insert(
            host.to_string(),
            Leaf {
                config: Arc::clone(&config),
                made: Instant::now(),
            },
        );
        Ok(config)
    }

    fn make_leaf(&self, host: &str) -> Result<ServerConfig, CaError> {
        let generate = |source| CaError::Generate {
            what: host.to_string(),
            source,
        };
        let mut params = CertificateParams::new(vec![host.to_string()]).map_err(generate)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        // A day of slack for clocks that lag the host's.
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        // No serial set: rcgen derives it from the leaf's (fresh) public
        // key, so two leaves never share one.
        let key = KeyPair::generate().map_err(generate)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        let tls = |source| CaError::Tls {
            what: host.to_string(),
            source,
        };
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key_der)
            .map_err(tls)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, CA_ORG);
    params.distinguished_name = dn;
    // Signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    params
}

/// Reads the key if it exists, refusing one that group or others may read
/// or write, or that is not a regular file (a planted symlink).
fn read_key(path: &Path) -> Result<Option<KeyPair>, CaError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CaError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.file_type().is_file() {
        return Err(CaError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(ErrorKind::InvalidData, "not a regular file"),
        });
    }
    if mode & 0o077 != 0 {
        return Err(CaError::KeyTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Root reads anyone's file; a key owned by another user was not made by
    // this warren.
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(CaError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                ErrorKind::PermissionDenied,
                format!("owned by uid {}, not {euid}", meta.uid()),
            ),
        });
    }
    let pem = fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    KeyPair::from_pem(&pem)
        .map(Some)
        .map_err(|source| CaError::BadKey {
            path: path.to_path_buf(),
            source,
        })
}

/// Makes a key and publishes it at `path` unless another process got there
/// first, in which case that one is used.
fn create_key(dir: &Path, path: &Path) -> Result<KeyPair, CaError> {
    let key = KeyPair::generate().map_err(|source| CaError::Generate {
        what: "the CA key".to_string(),
        source,
    })?;
    let pem = key.serialize_pem();
    let tmp = write_tmp(dir, pem.as_bytes(), 0o600)?;
    // `link` fails if `path` exists, unlike `rename`: the first process to
    // publish its key wins and the others load that one.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| CaError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(ErrorKind::NotFound, "vanished while loading"),
            })
        }
        Err(source) => Err(CaError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let tmp = write_tmp(dir, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        CaError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Writes `bytes` to a new file in `dir` created with `mode` (and
/// `O_EXCL`, so nothing planted there is followed or reused).
fn write_tmp(dir: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, CaError> {
    let mut n = 0u32;
    loop {
        let tmp = dir.join(format!(".egress-ca.{}.{n}.tmp", std::process::id()));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 100 => {
                n += 1;
                continue;
            }
            Err(source) => return Err(CaError::Write { path: tmp, source }),
        };
        // The umask may have narrowed `mode` (0644 → 0600 is harmless for
        // the key, but the certificate must be readable by the
        // environment's user): set it exactly.
        let written = file
            .set_permissions(fs::Permissions::from_mode(mode))
            .and_then(|()| file.write_all(bytes))
            .and_then(|()| file.sync_all());
        if let Err(source) = written {
            let _ = fs::remove_file(&tmp);
            return Err(CaError::Write { path: tmp, source });
        }
        return Ok(tmp);
    }
}
