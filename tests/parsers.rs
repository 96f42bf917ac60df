//! Property tests of every parser that reads untrusted input: short codes, target URLs,
//! emails, usernames, timestamps, API-key scopes, the seed CSV readers and the JSON body
//! extractor. Each must never panic, and what it accepts must mean what it says.
//! `PROPTEST_CASES=100000 cargo test --test parsers` runs them longer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::Request;
use kurz::domain::{Email, Scope, ShortCode, TargetUrl, Timestamp, Username};
use kurz::http::extract::JsonObject;
use kurz::import::{parse_events, parse_urls, parse_users};
use proptest::prelude::*;

/// Text that mixes the ASCII structure parsers look for with anything Unicode has.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "(https?|ftp|javascript|data)://[a-z0-9.:@\\[\\]%/?#=&-]{0,60}",
        "[a-zA-Z0-9_-]{0,40}",
        "[\\x00-\\x1f\"',;\\\\\\n\\r]{0,20}",
    ]
}

proptest! {
    #[test]
    fn short_code_parsing_never_panics_and_accepts_only_its_alphabet(raw in nasty_text()) {
        if let Ok(code) = ShortCode::parse(&raw) {
            prop_assert!(code.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert_eq!(ShortCode::parse(code.as_str()).ok(), Some(code));
        }
        if let Ok(code) = ShortCode::parse_custom(&raw) {
            prop_assert!((3..=32).contains(&code.as_str().len()));
            prop_assert!(ShortCode::parse(code.as_str()).is_ok());
        }
    }

    #[test]
    fn generated_codes_always_parse(_ in 0..64u8) {
        let code = ShortCode::generate();
        prop_assert!(ShortCode::parse(code.as_str()).is_ok());
    }

    #[test]
    fn accepted_targets_are_http_and_usable_as_a_location_header(raw in nasty_text()) {
        if let Ok(target) = TargetUrl::parse(&raw) {
            let text = target.as_str();
            prop_assert!(text.starts_with("http://") || text.starts_with("https://"), "{}", text);
            prop_assert!(axum::http::HeaderValue::from_str(text).is_ok(), "{}", text);
            // Parsing is stable: what is stored reads back the same.
            prop_assert_eq!(TargetUrl::parse(text).map(|t| t.as_str().to_owned()), Ok(text.to_owned()));
        }
    }

    #[test]
    fn accepted_emails_have_one_at_and_no_whitespace(raw in nasty_text()) {
        if let Ok(email) = Email::parse(&raw) {
            let text = email.as_str();
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(!text.chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn accepted_usernames_have_no_control_characters(raw in nasty_text()) {
        if let Ok(name) = Username::parse(&raw) {
            prop_assert!(!name.as_str().chars().any(char::is_control));
            prop_assert!(!name.as_str().is_empty());
        }
    }

    #[test]
    fn timestamps_round_trip_through_the_wire_format(raw in nasty_text(), secs in 0i64..4_102_444_800) {
        let _ = Timestamp::parse(&raw);
        let at = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let ts = Timestamp::from_primitive(time::PrimitiveDateTime::new(at.date(), at.time()));
        prop_assert_eq!(Timestamp::parse(&ts.to_string()), Ok(ts));
    }

    #[test]
    fn scopes_parse_only_the_three_names(raw in nasty_text()) {
        if let Ok(scope) = Scope::parse(&raw) {
            prop_assert!(Scope::ALL.contains(&scope));
            prop_assert_eq!(scope.as_str(), raw.trim().to_ascii_lowercase());
        }
    }

    #[test]
    fn csv_readers_never_panic_on_arbitrary_files(
        header in prop_oneof![
            Just("id,username,email,created_at\n".to_owned()),
            Just("id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n".to_owned()),
            Just("id,url_id,user_id,event_type,timestamp,details\n".to_owned()),
            "[a-z_,]{0,40}\n",
        ],
        rows in proptest::collection::vec("[ -~]{0,60}", 0..8),
    ) {
        let file = header + &rows.join("\n");
        let _ = parse_users(file.as_bytes(), Some(100));
        let _ = parse_urls(file.as_bytes(), Some(100));
        let _ = parse_events(file.as_bytes(), Some(100));
    }

    #[test]
    fn well_formed_user_rows_are_read_back_exactly(
        id in 1i64..1_000_000,
        name in "[a-zA-Z0-9_]{1,30}",
        secs in 0i64..4_102_444_800,
    ) {
        let at = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let ts = Timestamp::from_primitive(time::PrimitiveDateTime::new(at.date(), at.time()));
        let file = format!("id,username,email,created_at\n{id},{name},{name}@example.com,{ts}\n");
        let users = parse_users(file.as_bytes(), None).unwrap();
        prop_assert_eq!(users.len(), 1);
        prop_assert_eq!(users[0].id, Some(id));
        prop_assert_eq!(&users[0].username, &name);
        prop_assert_eq!(users[0].created_at, Some(ts));
    }

    #[test]
    fn the_json_body_extractor_accepts_exactly_json_objects(body in prop_oneof![
        any::<Vec<u8>>(),
        nasty_text().prop_map(String::into_bytes),
        "\\{\"[a-z_]{1,12}\": ?(\"[ -~]{0,20}\"|[0-9]{1,6}|true|null|\\[\\])\\}".prop_map(String::into_bytes),
    ]) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let request = Request::builder()
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let parsed = runtime.block_on(JsonObject::from_request(request, &()));
        let is_object = matches!(serde_json::from_slice::<serde_json::Value>(&body), Ok(serde_json::Value::Object(_)));
        prop_assert_eq!(parsed.is_ok(), is_object);
    }
}
