//! List filters as `WHERE` clauses, shared by both stores (sqlx binds the dialect's placeholders).

use super::{EventFilter, UrlFilter, UserFilter};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Appends `WHERE …` for the filters that are set.
pub fn push_filters<'a, DB>(
    query: &mut QueryBuilder<DB>,
    filters: impl IntoIterator<Item = (&'a str, Option<FilterValue>)>,
) where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut first = true;
    for (column, value) in filters {
        let Some(value) = value else { continue };
        query.push(if first { " WHERE " } else { " AND " });
        first = false;
        match value {
            FilterValue::Int(v) => query.push(column).push(" = ").push_bind(v),
            FilterValue::Bool(v) => query.push(column).push(" = ").push_bind(v),
            FilterValue::Text(v) => query.push(column).push(" = ").push_bind(v),
            FilterValue::TextNoCase(v) => query
                .push("lower(")
                .push(column)
                .push(") = lower(")
                .push_bind(v)
                .push(")"),
        };
    }
}

/// A value to compare a column with.
pub enum FilterValue {
    Int(i64),
    Bool(bool),
    Text(String),
    TextNoCase(String),
}

pub fn user_filters(f: &UserFilter) -> Vec<(&'static str, Option<FilterValue>)> {
    vec![
        ("username", f.username.clone().map(FilterValue::Text)),
        ("email", f.email.clone().map(FilterValue::TextNoCase)),
    ]
}

pub fn url_filters(f: &UrlFilter) -> Vec<(&'static str, Option<FilterValue>)> {
    vec![
        ("user_id", f.user_id.map(FilterValue::Int)),
        ("is_active", f.is_active.map(FilterValue::Bool)),
        ("short_code", f.short_code.clone().map(FilterValue::Text)),
    ]
}

pub fn event_filters(f: &EventFilter) -> Vec<(&'static str, Option<FilterValue>)> {
    vec![
        ("url_id", f.url_id.map(FilterValue::Int)),
        ("user_id", f.user_id.map(FilterValue::Int)),
        ("event_type", f.event_type.clone().map(FilterValue::Text)),
    ]
}
