//! The error body and the query parameters several routes share, as the description shows
//! them (the handlers read query strings with `extract::ListParams`).

use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The body of every error answer.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong, for a person to read.
    error: String,
    /// On 409 and 422: the problem with each offending field, by field name.
    #[schema(required = false)]
    details: BTreeMap<String, String>,
}

/// `page` (1-based) and `per_page` (1..=100) paginate; out-of-range numbers are clamped and
/// a page past the end is empty. Without either, a list returns every matching row up to
/// `KURZ_LIST_CAP`. Text that is not an integer is a 422.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Pagination {
    /// The page, from 1 (values below are read as 1).
    page: Option<i64>,
    /// Rows per page, clamped into 1..=100 (20 when only `page` is given).
    per_page: Option<i64>,
}

/// Filters of `GET /users`, from the query string or a JSON object body.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserFilters {
    /// Exact username.
    username: Option<String>,
    /// Email, ignoring case.
    email: Option<String>,
}

/// Filters of `GET /urls`, from the query string or a JSON object body.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UrlFilters {
    user_id: Option<i64>,
    /// Also `1`/`0`, `yes`/`no`, in any case.
    is_active: Option<bool>,
    short_code: Option<String>,
    /// Text found, without regard to case, in the short code, the target or the title.
    search: Option<String>,
}

/// Filters of `GET /users/{id}/urls`, from the query string or a JSON object body.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserUrlFilters {
    /// Also `1`/`0`, `yes`/`no`, in any case.
    is_active: Option<bool>,
}

/// Filters of `GET /events`, from the query string or a JSON object body.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventFilters {
    url_id: Option<i64>,
    user_id: Option<i64>,
    /// e.g. `click`, `created`, `updated`, `deleted`, `report`.
    event_type: Option<String>,
}
