//! The checks every free-text field starts with, written once.

/// `raw` trimmed, refused when empty or longer than `max` characters (`chars`) or bytes.
pub fn bounded(raw: &str, max: usize, count: Count) -> Result<&str, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let length = match count {
        Count::Chars => text.chars().count(),
        Count::Bytes => text.len(),
    };
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(text)
}

/// What a length limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Chars,
    Bytes,
}
