//! Who listens on a port: `/proc/net/tcp{,6}` gives the listening socket's
//! inode, `/proc/PID/fd/*` links give the process holding it. Used to turn
//! "address in use" into "in use by pid 123 (`python3 -m http.server`)".

use std::fmt;
use std::fs;

/// The process (if it could be seen) listening on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOwner {
    /// Pid, when the socket's owner is visible to us (same user, or root).
    pub pid: Option<u32>,
    /// Its command line, spaces between arguments, shortened.
    pub command: Option<String>,
    /// The socket owner's uid as the kernel reports it.
    pub uid: u32,
}

impl fmt::Display for PortOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pid, &self.command) {
            (Some(pid), Some(cmd)) => write!(f, "pid {pid} (`{cmd}`)"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            _ => write!(
                f,
                "a process of uid {} that this user cannot inspect",
                self.uid
            ),
        }
    }
}

/// The process listening on TCP `port` (any address), if any.
pub fn find_listener(port: u16) -> Option<PortOwner> {
    let (inode, uid) = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .find_map(|table| listening_inode(&table, port))?;
    let pid = pid_of_socket(inode);
    Some(PortOwner {
        pid,
        command: pid.and_then(command_line),
        uid,
    })
}

/// `(inode, uid)` of the socket in LISTEN state on `port` in one
/// `/proc/net/tcp` table.
fn listening_inode(table: &str, port: u16) -> Option<(u64, u32)> {
    const LISTEN: &str = "0A";
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st queues timer retrnsmt uid timeout inode
        let local = cols.get(1)?;
        let (_, port_hex) = local.rsplit_once(':')?;
        if u16::from_str_radix(port_hex, 16).ok()? != port || *cols.get(3)? != LISTEN {
            return None;
        }
        let inode: u64 = cols.get(9)?.parse().ok()?;
        let uid: u32 = cols.get(7)?.parse().ok()?;
        (inode != 0).then_some((inode, uid))
    })
}

fn pid_of_socket(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let fds = fs::read_dir(entry.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str()))
            .then_some(pid)
    })
}

fn command_line(pid: u32) -> Option<String> {
    const MAX: usize = 120;
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if cmd.is_empty() {
        return None;
    }
    Some(if cmd.chars().count() > MAX {
        format!("{}…", cmd.chars().take(MAX).collect::<String>())
    } else {
        cmd
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inode(table, 8080), Some((4242, 1000)));
        assert_eq!(
            listening_inode(table, 8081),
            None,
            "established, not listening"
        );
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let owner = find_listener(port).unwrap();
        assert_eq!(owner.pid, Some(std::process::id()));
        assert!(
            owner
                .to_string()
                .starts_with(&format!("pid {}", std::process::id()))
        );
    }
}
