//! Progress bars for the CLI's long runs (hashing, registering, auditing),
//! with rates rounded for reading ([`format_rate`]).

use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for [`hash_all`](super::dataset::hash_all): count, rate
/// and ETA when `len` is known, a counter otherwise. Hidden when stderr is
/// not a terminal.
#[must_use]
pub fn progress_bar(len: Option<u64>) -> ProgressBar {
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{msg:>8} [{bar:30}] {pos}/{len} ({rate}, eta {eta})",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg:>8} {spinner} {pos} ({rate}, {elapsed})",
        ),
    };
    if !io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(progress_style(template));
    bar.set_message("hashing");
    bar
}

/// A progress style from an indicatif `template` in which `{rate}` is the
/// items per second, rounded for reading ([`format_rate`]).
#[must_use]
pub fn progress_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&format_rate(state.per_sec()));
            },
        )
        .progress_chars("=> ")
}

/// Items per second as a person reads them: whole numbers from 10 up, one
/// decimal below (`12345/s`, `12/s`, `2.5/s`, `0.3/s`).
#[must_use]
pub fn format_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0/s".to_owned()
    } else if per_sec >= 10.0 {
        format!("{per_sec:.0}/s")
    } else {
        format!("{per_sec:.1}/s")
    }
}
