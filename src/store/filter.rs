//! List filters as `WHERE` clauses, shared by both stores (sqlx binds the dialect's placeholders).

use super::{EventFilter, UrlFilter, UserFilter};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// A value to compare a column with.
#[derive(Debug, Clone)]
pub enum FilterValue {
    Int(i64),
    Bool(bool),
    Text(String),
    TextNoCase(String),
    /// Text in any of the comma-separated columns, without regard to case.
    Contains(String),
    /// An integer looked up through an index kept apart from the table (the events' index
    /// file on SQLite).
    Lookup(i64, &'static Lookup),
    /// Text in a column whose rows are counted by value as they are written (the events of
    /// each type).
    Kept(String, &'static Kept),
}

/// A filter on an integer column through an index kept apart from the table: the condition
/// on a row, and the count of the rows that meet it (a list filtered by that alone), each
/// as SQL pieces with the value bound between every two of them.
#[derive(Debug)]
pub struct Lookup {
    pub rows: &'static [&'static str],
    pub count: &'static [&'static str],
    /// The condition on a row when the lookup is the only filter and a page wants the
    /// first `n` rows: the pieces before `n` and after it. The index is read in order only
    /// as far as the page needs, not whole (a link's million entries).
    pub first: (&'static [&'static str], &'static [&'static str]),
}

/// The count of the rows with one value of a column, kept as they are written: SQL pieces
/// with the value bound between every two of them. What a list filtered by that column
/// alone reads as its total instead of counting the rows.
#[derive(Debug)]
pub struct Kept {
    pub count: &'static [&'static str],
}

/// Appends `pieces` with `value` bound between every two.
fn push_pieces<DB, T>(query: &mut QueryBuilder<DB>, value: T, pieces: &[&str])
where
    DB: Database,
    T: for<'q> Encode<'q, DB> + Type<DB> + Clone + 'static,
{
    for (j, piece) in pieces.iter().enumerate() {
        if j > 0 {
            query.push_bind(value.clone());
        }
        query.push(*piece);
    }
}

/// The one filter set, if only one is.
fn only_filter<'a>(filters: &'a [(&'static str, Option<FilterValue>)]) -> Option<&'a FilterValue> {
    let mut set = filters.iter().filter_map(|(_, value)| value.as_ref());
    match (set.next(), set.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// The lookup and its value when it is the only filter set: then its own count and its
/// bounded first rows serve, not the row condition.
fn only_lookup(filters: &[(&'static str, Option<FilterValue>)]) -> Option<(i64, &'static Lookup)> {
    match only_filter(filters) {
        Some(FilterValue::Lookup(value, lookup)) => Some((*value, *lookup)),
        _ => None,
    }
}

/// Appends `WHERE …` for the rows a page of the first `needed` rows may take: a lookup's own
/// condition when it is the only filter, else [`push_filters`].
pub fn push_page_filters<DB>(
    query: &mut QueryBuilder<DB>,
    filters: &[(&'static str, Option<FilterValue>)],
    needed: i64,
) where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    match only_lookup(filters) {
        Some((value, lookup)) => {
            query.push(" WHERE ");
            push_pieces(query, value, lookup.first.0);
            // Far past any index: a page beyond the end reads every entry, and SQLite's
            // `LIMIT` refuses a sum past i64 (a page number that saturated).
            query.push_bind(needed.min(1 << 48));
            push_pieces(query, value, lookup.first.1);
        }
        None => push_filters(query, filters),
    }
}

/// Appends the count of `table`'s rows that meet `filters`: `total` (`SELECT count(*) FROM
/// table`, or what the table keeps) and the filters, or a lookup's own count or a kept
/// count when it is the only filter.
pub fn push_count<DB>(
    query: &mut QueryBuilder<DB>,
    total: &str,
    filters: &[(&'static str, Option<FilterValue>)],
) where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    match only_filter(filters) {
        Some(FilterValue::Lookup(value, lookup)) => push_pieces(query, *value, lookup.count),
        Some(FilterValue::Kept(value, kept)) => push_pieces(query, value.clone(), kept.count),
        _ => {
            query.push(total);
            push_filters(query, filters);
        }
    }
}

/// A column and the value it must have, when the filter is set.
pub type Filters = Vec<(&'static str, Option<FilterValue>)>;

/// Appends `WHERE …` for the filters that are set.
pub fn push_filters<DB>(
    query: &mut QueryBuilder<DB>,
    filters: &[(&'static str, Option<FilterValue>)],
) where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let set = filters
        .iter()
        .filter_map(|(column, value)| Some((*column, value.clone()?)));
    for (i, (column, value)) in set.enumerate() {
        query.push(if i == 0 { " WHERE " } else { " AND " });
        match value {
            FilterValue::Int(v) => query.push(column).push(" = ").push_bind(v),
            FilterValue::Bool(v) => query.push(column).push(" = ").push_bind(v),
            FilterValue::Text(v) | FilterValue::Kept(v, _) => {
                query.push(column).push(" = ").push_bind(v)
            }
            FilterValue::TextNoCase(v) => query
                .push("lower(")
                .push(column)
                .push(") = lower(")
                .push_bind(v)
                .push(")"),
            FilterValue::Contains(v) => {
                // `%` and `_` match themselves; `\` escapes them in the pattern.
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let pattern = format!("%{}%", escaped.to_lowercase());
                query.push("(");
                for (j, column) in column.split(',').enumerate() {
                    if j > 0 {
                        query.push(" OR ");
                    }
                    query.push("lower(").push(column).push(") LIKE ");
                    query.push_bind(pattern.clone()).push(" ESCAPE '\\'");
                }
                query.push(")")
            }
            FilterValue::Lookup(v, lookup) => {
                push_pieces(query, v, lookup.rows);
                &mut *query
            }
        };
    }
}

fn int(value: Option<i64>) -> Option<FilterValue> {
    value.map(FilterValue::Int)
}

fn text(value: &Option<String>) -> Option<FilterValue> {
    value.clone().map(FilterValue::Text)
}

fn kept(value: &Option<String>, kept: Option<&'static Kept>) -> Option<FilterValue> {
    match kept {
        Some(kept) => value.clone().map(|v| FilterValue::Kept(v, kept)),
        None => text(value),
    }
}

impl UserFilter {
    pub fn columns(&self) -> Filters {
        let email = self.email.clone().map(FilterValue::TextNoCase);
        vec![("username", text(&self.username)), ("email", email)]
    }
}

impl UrlFilter {
    pub fn columns(&self) -> Filters {
        let active = self.is_active.map(FilterValue::Bool);
        let code = text(&self.short_code);
        let search = self.search.clone().map(FilterValue::Contains);
        vec![
            ("user_id", int(self.user_id)),
            ("is_active", active),
            ("short_code", code),
            ("short_code,original_url,title", search),
        ]
    }
}

impl EventFilter {
    /// The filters, the integer columns `lookups` names read through their lookups, and the
    /// type counted by `by_type` where the backend keeps that count.
    pub fn columns(
        &self,
        lookups: &[(&'static str, &'static Lookup)],
        by_type: Option<&'static Kept>,
    ) -> Filters {
        let looked_up = |column: &'static str, value: Option<i64>| {
            let lookup = lookups.iter().find(|(name, _)| *name == column);
            let value = match lookup {
                Some((_, lookup)) => value.map(|v| FilterValue::Lookup(v, lookup)),
                None => int(value),
            };
            (column, value)
        };
        vec![
            looked_up("url_id", self.url_id),
            looked_up("user_id", self.user_id),
            ("event_type", kept(&self.event_type, by_type)),
        ]
    }
}
