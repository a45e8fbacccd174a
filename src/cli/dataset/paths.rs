//! How paths are written into output files: relative to the folder of the
//! file they are written into ([`relative_to_file`]), as manifests are read.

use std::io;
use std::path::Path;

/// `path` as written into the file `file`: relative to `file`'s folder
/// (`..` where needed), `/`-separated; absolute when they share no root.
///
/// # Errors
/// When the working directory cannot be read (for relative inputs).
pub fn relative_to_file(path: &Path, file: &Path) -> io::Result<String> {
    use std::path::Component;
    let path = std::path::absolute(path)?;
    let file = std::path::absolute(file)?;
    let base = file.parent().unwrap_or(Path::new("/"));
    // Lexical: `.` dropped, `..` pops (absolute() keeps them).
    let normal = |p: &Path| {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out.into_iter()
            .map(|c| c.as_os_str().to_owned())
            .collect::<Vec<_>>()
    };
    let (p, b) = (normal(&path), normal(base));
    if p.first() != b.first() {
        return Ok(path.to_string_lossy().into_owned());
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); b.len() - common];
    parts.extend(p[common..].iter().map(|c| c.to_string_lossy().into_owned()));
    Ok(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

pub(super) fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_relative_to_the_file() {
        let r = |p: &str, f: &str| relative_to_file(Path::new(p), Path::new(f)).expect("rel");
        assert_eq!(r("/d/set/a.png", "/d/kept.csv"), "set/a.png");
        assert_eq!(r("/d/set/a.png", "/d/out/kept.csv"), "../set/a.png");
        assert_eq!(r("/d/out/../set/./a.png", "/d/out/r.csv"), "../set/a.png");
        assert_eq!(r("/e/a.png", "/d/x/y/r.csv"), "../../../e/a.png");
    }
}
