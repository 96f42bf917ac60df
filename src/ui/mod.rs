//! The web UI: server-rendered pages over the same services the API uses (a page's create
//! or edit goes through the API's own checks), working without JavaScript, with nothing
//! fetched from elsewhere. Pages answer HTML, also their errors; the API keeps answering
//! JSON (the pages are their own router, outside the API's layers). `KURZ_UI=off` leaves
//! them out.
//!
//! - `/`: shorten ([`shorten`]); `/links`: the list ([`links`]); `/links/{id}`: one link,
//!   its edit form and its clicks ([`link`], [`chart`]);
//! - `/reports`: the abuse-report queue, for admins ([`reports`]);
//! - `/signin`, `/signout`: `keys` mode's sessions ([`signin`], [`session`]);
//! - the shell every page shares ([`layout`]), forms read into API bodies ([`forms`]), and
//!   the stylesheet, script and icon ([`assets`]).

mod assets;
mod chart;
mod forms;
mod layout;
mod link;
mod links;
mod reports;
pub mod session;
mod shorten;
mod signin;

use crate::http::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(shorten::form).post(shorten::create))
        .route("/links", get(links::list))
        .route("/links/{id}", get(link::show).post(link::save))
        .route("/links/{id}/active", post(links::set_active))
        .route(
            "/links/{id}/delete",
            get(links::confirm_delete).post(links::delete),
        )
        .route("/reports", get(reports::queue))
        .route("/reports/{id}/deactivate", post(reports::deactivate))
        .route("/reports/{id}/dismiss", post(reports::dismiss))
        .route("/signin", get(signin::form).post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .route("/ui/style.css", get(assets::style))
        .route("/ui/app.js", get(assets::script))
        .route("/favicon.svg", get(assets::favicon))
}
