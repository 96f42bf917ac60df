//! `GET /urls/{id}/qr`: a QR code of a link's short URL, as SVG or PNG, drawn from the
//! `qrcode` crate's module grid (four modules of quiet zone, medium error correction). The
//! short URL is `KURZ_PUBLIC_URL` and the code, or `http://` and the request's `Host`.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{RequestHost, parse_id};
use super::urls::readable_url;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qrcode::{Color, EcLevel, QrCode};
use std::collections::HashMap;
use std::fmt::Write;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Modules of white border around the code, as the standard asks.
const QUIET: usize = 4;
/// Side of the image in pixels when none is asked for, and the bounds of `size`.
const DEFAULT_SIZE: usize = 256;
const SIZES: std::ops::RangeInclusive<usize> = 64..=2048;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(link_qr))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct QrParams {
    /// `svg` (default) or `png`.
    format: Option<String>,
    /// Side of the image in pixels, 64–2048 (default 256); rounded down to whole modules.
    size: Option<u32>,
}

#[utoipa::path(
    get, path = "/urls/{id}/qr", operation_id = "getUrlQr", tag = "urls",
    summary = "A QR code of the link's short URL",
    description = "The short URL is `KURZ_PUBLIC_URL` followed by the code (default: `http://` and the request's `Host`). In `keys` mode a key of a user sees only that user's links.",
    params(("id" = i64, Path, description = "The url's id"), QrParams),
    responses(
        (status = 200, description = "The QR code", content(
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 403, description = "A key of a user, asking for another user's link", body = super::openapi::ErrorBody),
        (status = 404, description = "No such url", body = super::openapi::ErrorBody),
        (status = 422, description = "`format` or `size` is invalid; `details` names it", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn link_qr(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    host: RequestHost,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "url")?;
    let format = match params.get("format").map(String::as_str) {
        None | Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("'{other}' is not svg or png"),
            ));
        }
    };
    let size = match params.get("size") {
        None => DEFAULT_SIZE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|size| SIZES.contains(size))
            .ok_or_else(|| ApiError::invalid("size", "must be a whole number from 64 to 2048"))?,
    };
    let url = readable_url(&state, &caller, id).await?;
    let short_url = short_url(state.settings.public_url.as_ref(), &host, &url.short_code);
    let code = QrCode::with_error_correction_level(short_url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code of {short_url}: {e}")))?;
    let grid = Grid::of(&code, size);
    let (content_type, body) = match format {
        Format::Svg => ("image/svg+xml", grid.svg().into_bytes()),
        Format::Png => ("image/png", grid.png()?),
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=300"),
        ),
    ];
    Ok((headers, body).into_response())
}

enum Format {
    Svg,
    Png,
}

/// An SVG QR code of `text`, about `size` pixels wide (the web UI shows it inline).
pub(crate) fn svg_of(text: &str, size: usize) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code of {text}: {e}")))?;
    Ok(Grid::of(&code, size).svg())
}

/// The link's public address: the configured base and the code, or the request's host.
pub(crate) fn short_url(public: Option<&url::Url>, host: &RequestHost, code: &str) -> String {
    match public {
        Some(base) => format!("{}/{code}", base.as_str().trim_end_matches('/')),
        None => {
            let host = host.0.as_deref().unwrap_or("localhost");
            format!("http://{host}/{code}")
        }
    }
}

/// The code's modules with their quiet zone, and the pixels per module.
struct Grid {
    /// Modules per side, quiet zone included.
    side: usize,
    dark: Vec<bool>,
    scale: usize,
}

impl Grid {
    fn of(code: &QrCode, size: usize) -> Self {
        let width = code.width();
        let side = width + 2 * QUIET;
        let colors = code.to_colors();
        let mut dark = vec![false; side * side];
        for (i, color) in colors.iter().enumerate() {
            if *color == Color::Dark {
                dark[(i / width + QUIET) * side + i % width + QUIET] = true;
            }
        }
        Self {
            side,
            dark,
            scale: (size / side).max(1),
        }
    }

    fn pixels(&self) -> usize {
        self.side * self.scale
    }

    /// One path of unit squares in module coordinates, scaled by the view box.
    fn svg(&self) -> String {
        let mut path = String::new();
        for (i, _) in self.dark.iter().enumerate().filter(|(_, dark)| **dark) {
            let _ = write!(path, "M{} {}h1v1h-1z", i % self.side, i / self.side);
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{px}\" height=\"{px}\" \
             viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
             <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/>\
             <path fill=\"#000\" d=\"{path}\"/></svg>",
            px = self.pixels(),
            n = self.side
        )
    }

    /// A greyscale PNG, black modules on white.
    fn png(&self) -> Result<Vec<u8>, ApiError> {
        let pixels = self.pixels();
        let mut image = Vec::with_capacity(pixels * pixels);
        for y in 0..pixels {
            for x in 0..pixels {
                let dark = self.dark[(y / self.scale) * self.side + x / self.scale];
                image.push(if dark { 0 } else { 255 });
            }
        }
        let side = u32::try_from(pixels).map_err(|e| ApiError::Internal(e.into()))?;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let written = encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&image));
        written.map_err(|e| ApiError::Internal(anyhow::anyhow!("encoding a PNG: {e}")))?;
        Ok(out)
    }
}
