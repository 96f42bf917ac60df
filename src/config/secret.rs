//! `Secret`: a setting that must never be printed.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A setting that must never be printed (a URL with credentials, a password): its `Debug`
/// is redacted, and only [`Secret::expose`] reads it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(raw: &str) -> Self {
        Self(SecretString::from(raw))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Clap reads a secret as any string.
impl clap::builder::ValueParserFactory for Secret {
    type Parser =
        clap::builder::MapValueParser<clap::builder::StringValueParser, fn(String) -> Self>;

    fn value_parser() -> Self::Parser {
        clap::builder::TypedValueParser::map(clap::builder::StringValueParser::new(), |raw| {
            Self(SecretString::from(raw))
        })
    }
}
