//! `-c KEY=VALUE`: the git settings a checkout may opt in to. unfurl reads no git
//! configuration (the user's `~/.gitconfig` would make the same commit give different bytes
//! on different machines, and the store's could name commands to run); a caller who wants
//! git's behaviour for a setting names it here.

use unfurl_engine::attr::{AutoCrlf, CoreEol, Given, Options};

/// One `-c` setting, as parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Setting {
    /// `core.autocrlf`.
    AutoCrlf(AutoCrlf),
    /// `core.eol`.
    Eol(CoreEol),
}

impl Setting {
    /// Apply it to `options`, and note in `given` that it was given (so that a switch in
    /// place uses it, not what the checkout records); a later setting of the same key wins,
    /// as in git.
    pub(crate) fn apply(self, options: &mut Options, given: &mut Given) {
        match self {
            Setting::AutoCrlf(value) => {
                options.autocrlf = value;
                given.autocrlf = true;
            }
            Setting::Eol(value) => {
                options.eol = value;
                given.eol = true;
            }
        }
    }
}

/// Parse `KEY=VALUE`; keys are case-insensitive, as git's are.
pub(crate) fn parse(text: &str) -> Result<Setting, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "expected KEY=VALUE, e.g. core.autocrlf=true, not {text:?}"
        ));
    };
    let bad = |allowed: &str| format!("{key} takes {allowed}, not {value:?}");
    match key.to_ascii_lowercase().as_str() {
        "core.autocrlf" => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Setting::AutoCrlf(AutoCrlf::True)),
            "false" | "no" | "off" | "0" => Ok(Setting::AutoCrlf(AutoCrlf::False)),
            "input" => Ok(Setting::AutoCrlf(AutoCrlf::Input)),
            _ => Err(bad("true, false or input")),
        },
        "core.eol" => match value.to_ascii_lowercase().as_str() {
            "lf" => Ok(Setting::Eol(CoreEol::Lf)),
            "crlf" => Ok(Setting::Eol(CoreEol::Crlf)),
            "native" => Ok(Setting::Eol(CoreEol::Native)),
            _ => Err(bad("lf, crlf or native")),
        },
        _ => Err(format!(
            "unfurl takes only core.autocrlf and core.eol with -c, not {key:?} (it reads no git configuration, and runs no filter drivers)"
        )),
    }
}
