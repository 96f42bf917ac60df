//! Request bodies, read into the types the API documents. Each field is an [`Input`]: it
//! records what was sent (absent, `null`, a value of the right type, or something else)
//! instead of failing, so [`Checks`] can report every bad field of a body in one 422, with
//! the same words for the same problem everywhere.

use super::error::{ApiError, FieldErrors};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// One field of a request body, as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Input<T> {
    #[default]
    Absent,
    Null,
    Value(T),
    /// Present, but not of the expected JSON type.
    Mistyped,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Self::Null,
            value => serde_json::from_value(value).map_or(Self::Mistyped, Self::Value),
        })
    }
}

/// What the API's description shows as a field's default (the request types' `Default` is
/// every field absent): `null`, that is, not set.
impl<T: serde::Serialize> serde::Serialize for Input<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(serializer),
            _ => serializer.serialize_none(),
        }
    }
}

/// A JSON type a field may expect, and how its absence of is put to the client.
pub trait Expected {
    const PROBLEM: &'static str;
}

impl Expected for String {
    const PROBLEM: &'static str = "must be a string";
}

impl Expected for bool {
    const PROBLEM: &'static str = "must be true or false";
}

impl Expected for Value {
    const PROBLEM: &'static str = "must be JSON";
}

impl Expected for Map<String, Value> {
    const PROBLEM: &'static str = "must be a JSON object";
}

/// A reference to a row: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match i64::deserialize(deserializer)? {
            id if id > 0 => Ok(Self(id)),
            _ => Err(serde::de::Error::custom("not positive")),
        }
    }
}

impl Expected for Id {
    const PROBLEM: &'static str = "must be a positive integer";
}

/// Collects every problem of a body's fields for one 422.
#[derive(Default)]
pub struct Checks {
    errors: FieldErrors,
}

impl Checks {
    fn problem(&mut self, key: &str, problem: impl Into<String>) {
        self.errors
            .entry(key.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// Records a problem found by a parser of its own (under a path such as `rules[2].target`).
    pub fn report(&mut self, key: &str, problem: impl Into<String>) {
        self.problem(key, problem);
    }

    /// A field that must be sent (`null` counts as missing).
    pub fn required<T: Expected>(&mut self, key: &str, input: Input<T>) -> Option<T> {
        match input {
            Input::Value(value) => Some(value),
            Input::Absent | Input::Null => {
                self.problem(key, "is required");
                None
            }
            Input::Mistyped => {
                self.problem(key, T::PROBLEM);
                None
            }
        }
    }

    /// A field that may be left out: absent → `None`; `null` → `Some(None)`.
    pub fn optional<T: Expected>(&mut self, key: &str, input: Input<T>) -> Option<Option<T>> {
        match input {
            Input::Absent => None,
            Input::Null => Some(None),
            Input::Value(value) => Some(Some(value)),
            Input::Mistyped => {
                self.problem(key, T::PROBLEM);
                None
            }
        }
    }

    /// A field that may be left out but, when sent, may not be `null`.
    pub fn not_null<T: Expected>(&mut self, key: &str, input: Input<T>) -> Option<T> {
        match input {
            Input::Null => {
                self.problem(key, T::PROBLEM);
                None
            }
            other => self.optional(key, other).flatten(),
        }
    }

    /// Runs a domain parser on a value already read, recording its error under `key`.
    pub fn parse<R, T>(
        &mut self,
        key: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, String>,
    ) -> Option<T> {
        match parse(raw?) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.problem(key, problem);
                None
            }
        }
    }

    /// `Ok` when no problem was recorded, else the 422 listing them all.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// A field that [`Checks::finish`] has vouched for. `None` here is a bug, not bad input.
pub fn present<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a validated field is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Body {
        name: Input<String>,
        owner: Input<Id>,
        on: Input<bool>,
    }

    fn body(json: &str) -> Body {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn absent_null_right_and_wrong_types_are_told_apart() {
        let b = body(r#"{"name": null, "owner": 0, "on": "yes"}"#);
        assert_eq!(b.name, Input::Null);
        assert_eq!(b.owner, Input::Mistyped);
        assert_eq!(b.on, Input::Mistyped);
        let b = body(r#"{"owner": 7}"#);
        assert_eq!(b.name, Input::Absent);
        assert_eq!(b.owner, Input::Value(Id(7)));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let b = body(r#"{"owner": "x", "on": null}"#);
        let mut checks = Checks::default();
        checks.required("name", b.name);
        checks.optional("owner", b.owner);
        checks.not_null("on", b.on);
        let Err(ApiError::Validation { details, .. }) = checks.finish() else {
            panic!("expected a 422");
        };
        assert_eq!(details["name"], "is required");
        assert_eq!(details["owner"], "must be a positive integer");
        assert_eq!(details["on"], "must be true or false");
    }
}
