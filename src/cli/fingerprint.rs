//! `consentry fingerprint`: the ISCC Image-Code of image files, as
//! `consentry check` sends it and as any ISCC tool computes it; with
//! `--views`, every code `consentry register` signs.

use std::path::PathBuf;

use clap::Args;
use rayon::prelude::*;

use crate::fingerprint::{self, ViewKind};

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// Image files (JPEG, PNG, WebP, GIF, BMP, TIFF).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also print the codes of the views `register` signs (centre square,
    /// 5 % inset, untrimmed), after the whole image's.
    #[arg(long)]
    pub views: bool,
}

/// Prints one line per file: the code(s), a tab, the file; or an error
/// line. Exit code 1 if any file has no code.
///
/// # Errors
/// When any file could not be fingerprinted (each is reported).
pub fn run(args: &FingerprintArgs) -> anyhow::Result<()> {
    let lines: Vec<Result<String, String>> = args
        .files
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let img =
                fingerprint::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            let views: &[ViewKind] = if args.views {
                &ViewKind::REGISTERED
            } else {
                &[ViewKind::Whole]
            };
            let codes = views
                .iter()
                .map(|&v| fingerprint::view_code(&img, v).map(|c| c.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(format!("{}\t{}", codes.join(" "), path.display()))
        })
        .collect();
    let mut failed = 0usize;
    for line in lines {
        match line {
            Ok(l) => println!("{l}"),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files have no fingerprint", args.files.len());
    }
    Ok(())
}
