//! HTML forms read into the API's own request bodies, so a page's create or edit is checked
//! exactly as `POST /urls` and `PUT /urls/{id}` check theirs, and the API's 422 `details`
//! come back field by field to be shown beside each input.

use crate::http::error::ApiError;
use maud::{Markup, html};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// A posted form: field names to values.
pub type Posted = HashMap<String, String>;

/// How a form field becomes a JSON field.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A string; empty means absent (create) or `null` (edit: cleared).
    Text,
    /// A whole number; empty as for text; anything else is sent as typed, for the API to refuse.
    Number,
    /// A checkbox: `true` when sent, `false` when not.
    Check,
    /// A `datetime-local` input (`2026-12-01T10:30`), in UTC.
    DateTime,
}

/// The JSON body the API would get for `posted`; `clearing`: an empty field clears its
/// value (an edit) instead of leaving it out (a create).
pub fn body_of(posted: &Posted, fields: &[(&str, Kind)], clearing: bool) -> Value {
    let mut body = Map::new();
    for (name, kind) in fields {
        let raw = posted.get(*name).map(|v| v.trim()).unwrap_or("");
        let value = match kind {
            Kind::Check => Value::Bool(posted.contains_key(*name)),
            _ if raw.is_empty() && clearing => Value::Null,
            _ if raw.is_empty() => continue,
            Kind::Text => Value::String(raw.to_owned()),
            Kind::Number => raw
                .parse::<i64>()
                .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
            Kind::DateTime if raw.len() == 16 => Value::String(format!("{raw}:00")),
            Kind::DateTime => Value::String(raw.to_owned()),
        };
        body.insert((*name).to_owned(), value);
    }
    Value::Object(body)
}

/// A JSON body read as the API's request type (its fields are the API's `Input`s, which
/// take any JSON, so this only fails on a body that is not an object).
pub fn api_body<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// What the API said was wrong, by field (a 422's `details`), or the one message of any
/// other refusal under `""`.
pub fn problems_of(error: &ApiError) -> BTreeMap<String, String> {
    match error {
        ApiError::Validation { details, .. } | ApiError::Conflict { details, .. } => details
            .iter()
            .map(|(field, problem)| (field.clone(), problem.clone()))
            .collect(),
        other => BTreeMap::from([(String::new(), other.to_string())]),
    }
}

/// One labelled input with its problem, if any, tied to it for screen readers.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl Field<'_> {
    pub fn render(&self, problems: &BTreeMap<String, String>) -> Markup {
        let problem = problems.get(self.name);
        let hint_id = format!("{}-hint", self.name);
        let problem_id = format!("{}-problem", self.name);
        let described: Vec<&str> = [
            self.hint.map(|_| hint_id.as_str()),
            problem.map(|_| problem_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let described = (!described.is_empty()).then(|| described.join(" "));
        html! {
            div.field {
                label for=(self.name) { (self.label) }
                @if self.kind == "checkbox" {
                    input type="checkbox" id=(self.name) name=(self.name) value="on"
                        checked[!self.value.is_empty()] aria-describedby=[described.as_deref()];
                } @else {
                    // A password typed is never sent back into the page.
                    input type=(self.kind) id=(self.name) name=(self.name)
                        value=(if self.kind == "password" { "" } else { self.value })
                        step=[(self.kind == "datetime-local").then_some("1")]
                        required[self.required] aria-invalid=[problem.map(|_| "true")]
                        aria-describedby=[described.as_deref()];
                }
                @if let Some(hint) = self.hint { small id=(hint_id) { (hint) } }
                @if let Some(problem) = problem { p.problem id=(problem_id) { (self.label) " " (problem) } }
            }
        }
    }
}

/// A problem not tied to one field (a rule's, a conflict's, the server's).
pub fn general_problems(problems: &BTreeMap<String, String>, shown: &[&str]) -> Markup {
    html! {
        @for (field, problem) in problems.iter().filter(|(f, _)| !shown.contains(&f.as_str())) {
            p.problem role="alert" {
                @if !field.is_empty() { code { (field) } " " }
                (problem)
            }
        }
    }
}
