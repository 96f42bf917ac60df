//! The API's own description: `GET /openapi.json` (OpenAPI 3.1, generated from the code) and
//! `GET /docs`, the same document as a page for people. The page is rendered here, once,
//! with no script and nothing fetched from elsewhere: it works offline and behind any
//! firewall, and a strict Content-Security-Policy holds.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Inline styles only; no script, no frames, no outside resources.
const PAGE_POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(spec))
        .routes(routes!(page))
}

#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openApiDocument", tag = "documentation",
    summary = "This API's OpenAPI 3.1 description",
    responses((status = 200, description = "The OpenAPI document", body = Object)),
    security(())
)]
async fn spec(State(state): State<AppState>) -> Response {
    Json(&state.document.spec).into_response()
}

#[utoipa::path(
    get, path = "/docs", operation_id = "documentationPage", tag = "documentation",
    summary = "This API's description as an HTML page",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
    security(())
)]
async fn page(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, PAGE_POLICY)],
        Html(state.document.page.clone()),
    )
        .into_response()
}

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "head"];

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;\
padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .2em}h2{margin-top:2em;\
border-bottom:1px solid #ccc}section{border:1px solid #ddd;border-radius:4px;padding:.2em 1em;\
margin:1em 0}.m{font-weight:bold;text-transform:uppercase;display:inline-block;min-width:4em}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;\
vertical-align:top}";

/// The page: the introduction, every operation, then every schema.
pub fn render(spec: &Value) -> String {
    let title = text(&spec["info"]["title"]);
    let version = text(&spec["info"]["version"]);
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} API</title><style>{STYLE}</style></head><body>\
         <h1>{} API <small>{}</small></h1>\
         <p>Machine-readable: <a href=\"/openapi.json\">openapi.json</a> (OpenAPI {}).</p>",
        escape(title),
        escape(title),
        escape(version),
        escape(text(&spec["openapi"])),
    );
    paragraphs(&mut html, text(&spec["info"]["description"]));
    // Grouped by tag, in the document's order of tags.
    for tag in spec["tags"].as_array().into_iter().flatten() {
        let name = text(&tag["name"]);
        let _ = write!(html, "<h2>{}</h2>", escape(name));
        paragraphs(&mut html, text(&tag["description"]));
        for (path, item) in entries(&spec["paths"]) {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tags = operation["tags"].as_array();
                if tags.is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(name))) {
                    operation_section(&mut html, spec, method, path, operation);
                }
            }
        }
    }
    html.push_str("<h2>Schemas</h2>");
    for (name, schema) in entries(&spec["components"]["schemas"]) {
        let _ = write!(
            html,
            "<section id=\"schema-{0}\"><h3>{0}</h3>",
            escape(name)
        );
        paragraphs(&mut html, text(&schema["description"]));
        schema_table(&mut html, schema);
        html.push_str("</section>");
    }
    html.push_str("</body></html>");
    html
}

fn operation_section(html: &mut String, spec: &Value, method: &str, path: &str, op: &Value) {
    let _ = write!(
        html,
        "<section id=\"{}\"><h3><span class=\"m\">{}</span> <code>{}</code></h3><p><b>{}</b></p>",
        escape(text(&op["operationId"])),
        method,
        escape(path),
        escape(text(&op["summary"])),
    );
    paragraphs(html, text(&op["description"]));
    if let Some(parameters) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>");
        for parameter in parameters {
            let required = parameter["required"] == Value::Bool(true);
            row(
                html,
                &[
                    field(text(&parameter["name"]), required),
                    escape(text(&parameter["in"])),
                    type_of(&parameter["schema"]),
                    inline_code(text(&parameter["description"])),
                ],
            );
        }
        html.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        html.push_str("<p>Body: ");
        for (media, body) in content {
            let _ = write!(
                html,
                "<code>{}</code> {} ",
                escape(media),
                type_of(&body["schema"])
            );
        }
        html.push_str("</p>");
    }
    html.push_str("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
    for (status, response) in entries(&op["responses"]) {
        let response = resolve(spec, response);
        let body = response["content"]
            .as_object()
            .and_then(|content| content.values().next())
            .map(|media| type_of(&media["schema"]))
            .unwrap_or_default();
        let meaning = inline_code(text(&response["description"]));
        row(html, &[escape(status), meaning, body]);
    }
    html.push_str("</table></section>");
}

fn schema_table(html: &mut String, schema: &Value) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    html.push_str("<table><tr><th>field</th><th>type</th><th></th></tr>");
    for (name, property) in properties {
        let description = inline_code(text(&property["description"]));
        let name = field(name, required.contains(&name.as_str()));
        row(html, &[name, type_of(property), description]);
    }
    html.push_str("</table>");
}

/// A schema in a few words, linking to named schemas.
/// One table row of cells already escaped.
fn row(html: &mut String, cells: &[String]) {
    html.push_str("<tr>");
    for cell in cells {
        let _ = write!(html, "<td>{cell}</td>");
    }
    html.push_str("</tr>");
}

/// A field's name, marked when it is required.
fn field(name: &str, required: bool) -> String {
    let mark = if required { " (required)" } else { "" };
    format!("<code>{}</code>{mark}", escape(name))
}

fn type_of(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let names: Vec<String> = alternatives.iter().map(type_of).collect();
        return names.join(" or ");
    }
    let kind = match &schema["type"] {
        Value::String(kind) => escape(kind),
        Value::Array(kinds) => kinds
            .iter()
            .map(|kind| escape(text(kind)))
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    if kind.starts_with("array") {
        return format!("array of {}", type_of(&schema["items"]));
    }
    kind
}

/// A `$ref` to a shared response, or the response itself.
fn resolve<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    response["$ref"]
        .as_str()
        .and_then(|target| target.strip_prefix('#'))
        .and_then(|pointer| spec.pointer(pointer))
        .unwrap_or(response)
}

fn entries(value: &Value) -> impl Iterator<Item = (&str, &Value)> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| (key.as_str(), value))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn paragraphs(html: &mut String, text: &str) {
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let _ = write!(html, "<p>{}</p>", inline_code(paragraph));
    }
}

/// Escapes `text` and turns its `backticked` spans into code.
fn inline_code(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// Text made safe inside HTML elements and double-quoted attributes.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_title_or_target_is_text() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn text_from_the_spec_cannot_inject_markup() {
        assert_eq!(
            inline_code("<script>`a<b`</script>"),
            "&lt;script&gt;<code>a&lt;b</code>&lt;/script&gt;"
        );
    }

    #[test]
    fn the_page_lists_every_operation_of_the_document() {
        let spec = crate::http::openapi::Document::build().spec;
        let page = render(&spec);
        for (_, item) in entries(&spec["paths"]) {
            for method in METHODS {
                if let Some(id) = item[method]["operationId"].as_str() {
                    assert!(page.contains(&format!("id=\"{id}\"")), "{id} is missing");
                }
            }
        }
    }
}
