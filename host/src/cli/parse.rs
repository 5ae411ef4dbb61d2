//! Parsers for option values: sizes, durations, `URL=DIR` pairs.

use std::path::PathBuf;

pub(crate) fn parse_url_dir(text: &str) -> Result<(String, PathBuf), String> {
    match text.rsplit_once('=') {
        Some((url, dir)) if !url.is_empty() && !dir.is_empty() => {
            Ok((url.to_owned(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected URL=DIR, got '{text}'")),
    }
}

pub(crate) fn parse_cache_size(text: &str) -> Result<usize, String> {
    parse_bytes(text)
}

pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    Some(parse_bytes(text)?)
        .filter(|v| *v >= 16 << 20)
        .ok_or_else(|| format!("'{text}' is out of range (at least 16M)"))
}

pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, scale) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&text[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let value: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("expected a size like 512M or 2G, got '{text}'"))?;
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("'{text}' is out of range"))
}

pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let bad = || format!("expected a duration like 90s, 500ms or 5m, got '{text}'");
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(value > 0.0 && value.is_finite()) {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(value * unit))
}
