use super::*;
use crate::domain::link_settings::PasswordHash;
use crate::domain::rules::{Device, Rule, Variant, When};

fn link(active: bool) -> Link {
    Link {
        id: 1,
        user_id: Some(2),
        short_code: "abc123".into(),
        target: "https://example.com/".into(),
        is_active: active,
        settings: None,
        password_hash: None,
    }
}

fn with(settings: LinkSettings) -> Link {
    Link {
        settings: Some(settings),
        ..link(true)
    }
}

fn at(raw: &str) -> Timestamp {
    Timestamp::parse(raw).unwrap_or_else(|_| Timestamp::now())
}

fn visit() -> Visit<'static> {
    Visit {
        at: at("2026-12-01T12:00:00"),
        referrer: None,
        user_agent: Some("curl/8"),
        accept_language: None,
        prefetch: false,
        client: None,
    }
}

fn human() -> Facts {
    Facts {
        visitor: Visitor {
            class: Some(VisitClass::Human),
            os: "iOS".into(),
            device: "mobile",
            ..Visitor::default()
        },
        ..Facts::default()
    }
}

fn redirect(target: &str, status: u16, chosen: Chosen, spends_cap: bool) -> Outcome<'_> {
    Outcome::Redirect {
        target,
        status,
        chosen,
        spends_cap,
    }
}

#[test]
fn an_active_link_redirects_to_its_target() {
    let link = link(true);
    assert_eq!(
        decide(Some(&link), &visit(), &Facts::default(), |_| None),
        redirect("https://example.com/", 302, Chosen::Target, false)
    );
}

#[test]
fn unknown_and_inactive_links_are_not_found_even_when_blocked() {
    let facts = Facts::default();
    assert_eq!(
        decide(None, &visit(), &facts, |_| Some("x".into())),
        Outcome::NotFound
    );
    let inactive = link(false);
    assert_eq!(
        decide(Some(&inactive), &visit(), &facts, |_| Some("x".into())),
        Outcome::NotFound
    );
}

#[test]
fn a_blocked_destination_is_refused_and_recorded_as_such() {
    let link = Arc::new(link(true));
    let outcome = decide(Some(&*link), &visit(), &Facts::default(), |_| {
        Some("example.com".into())
    });
    assert_eq!(
        outcome,
        Outcome::Blocked {
            entry: "example.com".into()
        }
    );
    let visited = visit().record(&link, &outcome);
    assert_eq!(visited.event_type(), event_type::BLOCKED);
    let details = serde_json::to_value(visited.details()).unwrap_or_default();
    assert_eq!(details["blocked_host"], "example.com");
    assert_eq!(details["referrer"], serde_json::Value::Null);
    assert_eq!(details["user_agent"], "curl/8");
    assert!(details.get("rule").is_none());
}

#[test]
fn expiry_ends_a_link_at_its_instant_and_the_fallback_takes_over() {
    let mut settings = LinkSettings {
        expires_at: Some(at("2026-12-01T12:00:00")),
        ..LinkSettings::default()
    };
    let before = Visit {
        at: at("2026-12-01T11:59:59"),
        ..visit()
    };
    let link = with(settings.clone());
    let facts = human();
    assert!(matches!(
        decide(Some(&link), &before, &facts, |_| None),
        Outcome::Redirect { .. }
    ));
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        Outcome::Ended(End::Expired)
    );
    settings.fallback_url = Some("https://later.example/".into());
    let link = with(settings);
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        redirect(
            "https://later.example/",
            302,
            Chosen::Fallback(End::Expired),
            false
        )
    );
}

#[test]
fn only_human_visits_of_a_capped_link_spend_and_an_exhausted_one_ends() {
    let link = with(LinkSettings {
        max_clicks: Some(5),
        redirect_type: Some(307),
        ..LinkSettings::default()
    });
    let mut facts = human();
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        redirect("https://example.com/", 307, Chosen::Target, true)
    );
    for class in [VisitClass::Bot, VisitClass::Preview, VisitClass::Prefetch] {
        facts.visitor.class = Some(class);
        assert!(matches!(
            decide(Some(&link), &visit(), &facts, |_| None),
            Outcome::Redirect {
                spends_cap: false,
                ..
            }
        ));
    }
    facts.exhausted = true;
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        Outcome::Ended(End::Exhausted)
    );
}

#[test]
fn a_password_locks_until_given_but_an_ended_link_says_so_first() {
    let Ok(hash) = PasswordHash::new("open sesame") else {
        panic!("hashing failed")
    };
    let mut link = Link {
        password_hash: Some(hash),
        ..link(true)
    };
    let mut facts = human();
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        Outcome::Locked
    );
    facts.unlocked = true;
    assert!(matches!(
        decide(Some(&link), &visit(), &facts, |_| None),
        Outcome::Redirect { .. }
    ));
    link.settings = Some(LinkSettings {
        expires_at: Some(at("2026-01-01T00:00:00")),
        ..LinkSettings::default()
    });
    facts.unlocked = false;
    assert_eq!(
        decide(Some(&link), &visit(), &facts, |_| None),
        Outcome::Ended(End::Expired)
    );
}

#[test]
fn rules_come_before_variants_and_the_choice_is_recorded() {
    let link = Arc::new(with(LinkSettings {
        rules: vec![
            Rule {
                when: When {
                    device: Some(Device::Android),
                    ..When::default()
                },
                target: "https://play.example/".into(),
            },
            Rule {
                when: When {
                    device: Some(Device::Ios),
                    ..When::default()
                },
                target: "https://apps.example/".into(),
            },
        ],
        variants: vec![Variant {
            url: "https://b.example/".into(),
            weight: 1,
        }],
        ..LinkSettings::default()
    }));
    let facts = human();
    let outcome = decide(Some(&*link), &visit(), &facts, |_| None);
    assert_eq!(
        outcome,
        redirect("https://apps.example/", 302, Chosen::Rule(1), false)
    );
    let details =
        serde_json::to_value(visit().record(&link, &outcome).details()).unwrap_or_default();
    assert_eq!(details["rule"], 1);
    assert_eq!(details["redirected_to"], "https://apps.example/");
    assert_eq!(details["original_url"], "https://example.com/");
    let desktop = Facts {
        visitor: Visitor {
            device: "desktop",
            ..Visitor::default()
        },
        ..Facts::default()
    };
    let outcome = decide(Some(&*link), &visit(), &desktop, |_| None);
    assert_eq!(
        outcome,
        redirect("https://b.example/", 302, Chosen::Variant(0), false)
    );
    // A rule's target on the blocklist is refused like the link's own.
    assert!(matches!(
        decide(Some(&*link), &visit(), &facts, |t| t
            .contains("apps")
            .then(|| "apps.example".into())),
        Outcome::Blocked { .. }
    ));
}

#[test]
fn a_visitors_texts_are_clipped_to_what_is_kept() {
    let agent = "a".repeat(MAX_USER_AGENT + 100);
    let referrer = format!("https://example.com/{}", "r".repeat(MAX_REFERRER));
    let language = "é".repeat(MAX_ACCEPT_LANGUAGE);
    let clipped = Visit {
        referrer: Some(&referrer),
        user_agent: Some(&agent),
        accept_language: Some(&language),
        ..visit()
    }
    .clipped();
    assert_eq!(clipped.user_agent.map(str::len), Some(MAX_USER_AGENT));
    assert_eq!(clipped.referrer.map(str::len), Some(MAX_REFERRER));
    // Two bytes a character: cut at the boundary below the limit, never inside one.
    assert_eq!(
        clipped.accept_language,
        Some("é".repeat(MAX_ACCEPT_LANGUAGE / 2).as_str())
    );
    let short = visit().clipped();
    assert_eq!(short.user_agent, Some("curl/8"));
    assert_eq!(short.referrer, None);
}
