//! Packs a build context directory into the tar stream the Engine API
//! expects, honouring `.dockerignore` (plain patterns, `*`, `**`, `!`).

use std::path::{Path, PathBuf};

use crate::{BuildSpec, RuntimeError};

/// A packed context and the Dockerfile's path inside it.
pub struct Packed {
    pub tar: Vec<u8>,
    pub dockerfile: String,
}

/// Name under which a Dockerfile outside the context is added.
const OUTSIDE_DOCKERFILE: &str = ".warren.Dockerfile";

pub fn pack(spec: &BuildSpec) -> Result<Packed, RuntimeError> {
    let ctx = &spec.context;
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RuntimeError::BuildContext { path, source }
    };
    let dockerfile_abs = if spec.dockerfile.is_absolute() {
        spec.dockerfile.clone()
    } else {
        ctx.join(&spec.dockerfile)
    };
    let ignore = Ignore::load(ctx);
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = ctx.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(err(&dir))?
            .collect::<Result<_, _>>()
            .map_err(err(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let rel_path = rel.join(entry.file_name());
            let rel_str = rel_path.to_string_lossy().replace('\\', "/");
            if ignore.ignored(&rel_str) {
                continue;
            }
            let ft = entry.file_type().map_err(err(&entry.path()))?;
            if ft.is_dir() {
                builder
                    .append_dir(&rel_path, entry.path())
                    .map_err(err(&entry.path()))?;
                stack.push(rel_path);
            } else if ft.is_file() {
                append_file(&mut builder, &entry.path(), &rel_path).map_err(err(&entry.path()))?;
            } else {
                builder
                    .append_path_with_name(entry.path(), &rel_path)
                    .map_err(err(&entry.path()))?;
            }
        }
    }
    let dockerfile = match dockerfile_abs.strip_prefix(ctx) {
        Ok(rel) if dockerfile_abs.exists() => rel.to_string_lossy().into_owned(),
        _ => {
            let data = std::fs::read(&dockerfile_abs).map_err(err(&dockerfile_abs))?;
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, OUTSIDE_DOCKERFILE, data.as_slice())
                .map_err(err(&dockerfile_abs))?;
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    let tar = builder.into_inner().map_err(err(ctx))?;
    Ok(Packed { tar, dockerfile })
}

/// Adds the regular file at `path` as `name`, its header sized by the bytes
/// actually read. The context is often a checkout that git (or an editor)
/// writes while it is packed: taking the size from an earlier `stat` and then
/// streaming the file wrote a tar whose header disagreed with its data when
/// the file changed in between, and the engine refused the whole build
/// ("archive/tar: invalid tar header"). A file gone by the time it is read
/// (a `.git/*.lock`) is left out, as if it had been listed a moment later.
fn append_file(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    name: &Path,
) -> std::io::Result<()> {
    let (data, meta) = match std::fs::File::open(path).and_then(|mut f| {
        let meta = f.metadata()?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data)?;
        Ok((data, meta))
    }) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    header.set_size(data.len() as u64);
    builder.append_data(&mut header, name, data.as_slice())
}

/// `.dockerignore` rules, applied in order (a later `!rule` re-includes).
struct Ignore {
    rules: Vec<(bool, String)>,
}

impl Ignore {
    fn load(ctx: &Path) -> Ignore {
        let text = std::fs::read_to_string(ctx.join(".dockerignore")).unwrap_or_default();
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.strip_prefix('!') {
                Some(rest) => (false, rest.trim_matches('/').to_string()),
                None => (true, l.trim_matches('/').to_string()),
            })
            .collect();
        Ignore { rules }
    }

    fn ignored(&self, rel: &str) -> bool {
        let mut ignored = false;
        for (exclude, pattern) in &self.rules {
            // A pattern matching a parent directory covers everything below.
            let hit = glob_match(pattern, rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob_match(pattern, &rel[..i]));
            if hit {
                ignored = *exclude;
            }
        }
        ignored
    }
}

/// Matches `/`-separated paths: `*` within a segment, `**` across segments, `?` one char.
fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    match_segments(&p, &s)
}

fn match_segments(p: &[&str], s: &[&str]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(&"**") => (0..=s.len()).any(|i| match_segments(&p[1..], &s[i..])),
        Some(seg) => {
            !s.is_empty()
                && match_segment(seg.as_bytes(), s[0].as_bytes())
                && match_segments(&p[1..], &s[1..])
        }
    }
}

fn match_segment(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| match_segment(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && match_segment(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && match_segment(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.log", "a.log"));
        assert!(!glob_match("*.log", "dir/a.log"));
        assert!(glob_match("**/*.log", "dir/a.log"));
        assert!(glob_match("node_modules", "node_modules"));
        assert!(glob_match("a?c", "abc"));
    }

    #[test]
    fn ignore_rules_with_negation() {
        let ig = Ignore {
            rules: vec![
                (true, "*.md".into()),
                (false, "README.md".into()),
                (true, "target".into()),
            ],
        };
        assert!(ig.ignored("NOTES.md"));
        assert!(!ig.ignored("README.md"));
        assert!(ig.ignored("target/debug/x"));
        assert!(!ig.ignored("src/main.rs"));
    }

    #[test]
    fn a_file_gone_before_it_is_read_is_left_out_and_sizes_come_from_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        append_file(&mut builder, &dir.path().join("index.lock"), Path::new("x")).unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "hello").unwrap();
        append_file(&mut builder, &file, Path::new("f")).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.size())
            })
            .collect();
        assert_eq!(entries, vec![("f".to_string(), 5)]);
    }

    #[test]
    fn packs_context_and_outside_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(ctx.join("sub")).unwrap();
        std::fs::write(ctx.join("sub/file"), "x").unwrap();
        std::fs::write(ctx.join("skip.log"), "x").unwrap();
        std::fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let packed = pack(&BuildSpec {
            context: ctx.clone(),
            dockerfile: dir.path().join("Dockerfile"),
            args: Default::default(),
            target: None,
            cache_from: vec![],
            tag: "t".into(),
            labels: Default::default(),
        })
        .unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
        let mut archive = tar::Archive::new(packed.tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n == "sub/file"), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with("skip.log")), "{names:?}");
        assert!(names.iter().any(|n| n == OUTSIDE_DOCKERFILE));
    }
}
