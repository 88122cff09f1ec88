//! Environment variables handed to a child process through an inherited
//! pipe (`warren exec --env-fd N`) instead of its argv or its own
//! environment. Argv is readable by every local user (`/proc/PID/cmdline`),
//! and a process's own environment steers it: a variable meant for the
//! command inside an environment (`LD_PRELOAD`, `PATH`, `DOCKER_HOST`, …)
//! must not reach the host-side process that starts it.
//!
//! The format is that of `/proc/PID/environ`: `KEY=VALUE` entries, each
//! ended by a NUL byte (values may hold newlines; nothing may hold NUL).

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Why variables could not be read from a descriptor.
#[derive(Debug, thiserror::Error)]
pub enum EnvPipeError {
    #[error("`--env-fd {0}`: descriptors 0-2 are stdin, stdout and stderr")]
    StdioFd(RawFd),
    #[error("`--env-fd {fd}`: cannot read the descriptor")]
    Read {
        fd: RawFd,
        #[source]
        source: std::io::Error,
    },
    #[error("`--env-fd`: entry {index} is not `KEY=VALUE` in UTF-8")]
    BadEntry { index: usize },
}

impl crate::Hint for EnvPipeError {
    fn hint(&self) -> Option<String> {
        Some(
            "`--env-fd N` is for programs that start `warren exec` with an open pipe at descriptor N; use `-e KEY=VALUE` by hand"
                .into(),
        )
    }
}

/// Encodes variables for the pipe.
pub fn encode(vars: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in vars {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<Vec<(String, String)>, EnvPipeError> {
    let mut vars = Vec::new();
    let body = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if body.is_empty() {
        return Ok(vars);
    }
    for (index, entry) in body.split(|b| *b == 0).enumerate() {
        let text = std::str::from_utf8(entry).map_err(|_| EnvPipeError::BadEntry { index })?;
        match text.split_once('=') {
            Some((k, v)) if !k.is_empty() => vars.push((k.to_string(), v.to_string())),
            _ => return Err(EnvPipeError::BadEntry { index }),
        }
    }
    Ok(vars)
}

/// Takes the inherited descriptor `fd`, reads it to its end and closes it.
pub fn read_fd(fd: RawFd) -> Result<Vec<u8>, EnvPipeError> {
    if (0..=2).contains(&fd) {
        return Err(EnvPipeError::StdioFd(fd));
    }
    // SAFETY: F_GETFD only asks whether `fd` is an open descriptor.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(EnvPipeError::Read {
            fd,
            source: std::io::Error::from_raw_os_error(libc::EBADF),
        });
    }
    // SAFETY: `fd` is open (checked above), was handed to this process for
    // this purpose, and nothing else in the process refers to it; owning it
    // closes it after the read.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|source| EnvPipeError::Read { fd, source })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_newlines_and_equals() {
        let vars = vec![
            ("A".to_string(), "1".to_string()),
            ("MULTI".to_string(), "line one\nline two=x".to_string()),
            ("EMPTY".to_string(), String::new()),
        ];
        assert_eq!(decode(&encode(&vars)).unwrap(), vars);
        assert!(decode(b"").unwrap().is_empty());
        assert!(decode(b"NOEQUALS\0").is_err());
        assert!(decode(b"=v\0").is_err());
    }

    #[test]
    fn reads_and_closes_a_pipe() {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills two descriptors we then own.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the write end is ours (just created).
        let mut w = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[1]) });
        std::io::Write::write_all(&mut w, &encode(&[("K".into(), "v".into())])).unwrap();
        drop(w);
        let bytes = read_fd(fds[0]).unwrap();
        assert_eq!(
            decode(&bytes).unwrap(),
            [("K".to_string(), "v".to_string())]
        );
        // SAFETY: F_GETFD only queries.
        assert!(unsafe { libc::fcntl(fds[0], libc::F_GETFD) } < 0, "closed");
        assert!(matches!(read_fd(1), Err(EnvPipeError::StdioFd(1))));
    }
}
