use super::*;
use serde_json::json;

fn at(raw: &str) -> Timestamp {
    Timestamp::parse(raw).unwrap_or_else(|_| Timestamp::now())
}

fn accept(raw: &str) -> Result<String, String> {
    if raw.starts_with("https://") && !raw.contains("blocked.example") {
        Ok(raw.to_owned())
    } else {
        Err("must be an allowed https URL".into())
    }
}

fn iphone() -> Visitor {
    Visitor {
        class: Some(VisitClass::Human),
        browser: "Safari".into(),
        os: "iOS".into(),
        device: "mobile",
        language: Some("de".into()),
        country: Some("CH".into()),
        query: Some("utm_source=mail&x=%C3%A9".into()),
        sticky: 7,
    }
}

fn rules(value: serde_json::Value) -> Vec<Rule> {
    match parse_rules(&value, &accept) {
        Ok(rules) => rules,
        Err(problems) => panic!("rules refused: {problems:?}"),
    }
}

#[test]
fn each_condition_holds_or_not() {
    let visitor = iphone();
    let now = at("2026-12-01T12:00:00");
    let holds = |when: serde_json::Value| {
        rules(json!([{"when": when, "target": "https://x.example/"}]))[0]
            .when
            .holds(&visitor, now)
    };
    assert!(holds(json!({"device": "ios"})));
    assert!(holds(json!({"device": "mobile"})));
    assert!(!holds(json!({"device": "android"})));
    assert!(!holds(json!({"device": "desktop"})));
    assert!(!holds(json!({"device": "tablet"})));
    assert!(holds(json!({"os": "ios"})));
    assert!(!holds(json!({"os": "Android"})));
    assert!(holds(json!({"browser": "SAFARI"})));
    assert!(!holds(json!({"browser": "Chrome"})));
    assert!(holds(json!({"language": "DE"})));
    assert!(!holds(json!({"language": "fr"})));
    assert!(holds(json!({"country": "ch"})));
    assert!(!holds(json!({"country": "DE"})));
    assert!(holds(json!({"query": {"utm_source": "mail", "x": "é"}})));
    assert!(!holds(json!({"query": {"utm_source": "web"}})));
    assert!(holds(json!({"after": "2026-12-01T12:00:00"})));
    assert!(!holds(json!({"after": "2026-12-01T12:00:01"})));
    assert!(holds(json!({"before": "2026-12-01T12:00:01"})));
    assert!(!holds(json!({"before": "2026-12-01T12:00:00"})));
    // All conditions of one rule must hold.
    assert!(holds(
        json!({"device": "ios", "language": "de", "country": "CH"})
    ));
    assert!(!holds(json!({"device": "ios", "language": "fr"})));
}

#[test]
fn the_first_matching_rule_wins() {
    let list = rules(json!([
        {"when": {"device": "android"}, "target": "https://play.example/"},
        {"when": {"device": "ios"}, "target": "https://apps.example/"},
        {"when": {"language": "de"}, "target": "https://de.example/"},
    ]));
    let found = first_match(&list, &iphone(), Timestamp::now());
    assert_eq!(
        found.map(|(i, r)| (i, r.target.as_str())),
        Some((1, "https://apps.example/"))
    );
    let desktop = Visitor {
        os: "Windows".into(),
        device: "desktop",
        language: Some("en".into()),
        ..iphone()
    };
    assert!(first_match(&list, &desktop, Timestamp::now()).is_none());
}

#[test]
fn bad_rules_are_named_by_index_and_field() {
    let problems = match parse_rules(
        &json!([
            {"when": {"device": "ios"}, "target": "https://ok.example/"},
            {"when": {"device": "fridge", "country": "Germany"}, "target": "ftp://x"},
            {"when": {}, "target": "https://ok.example/"},
            {"when": {"after": "2027-01-01", "before": "2026-01-01"}, "target": "https://ok.example/"},
            {"when": {"colour": "red"}, "target": "https://blocked.example/"},
            "nonsense",
        ]),
        &accept,
    ) {
        Ok(_) => panic!("bad rules were accepted"),
        Err(problems) => problems,
    };
    let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
    for expected in [
        "rules[1].when.device",
        "rules[1].when.country",
        "rules[1].target",
        "rules[2].when",
        "rules[3].when.before",
        "rules[4].when.colour",
        "rules[4].target",
        "rules[5]",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert!(!fields.iter().any(|f| f.starts_with("rules[0]")));
}

#[test]
fn lists_are_bounded() {
    let many: Vec<_> = (0..=MAX_RULES)
        .map(|_| json!({"when": {"device": "ios"}, "target": "https://x.example/"}))
        .collect();
    assert!(parse_rules(&json!(many), &accept).is_err());
    assert!(parse_rules(&json!(many[..MAX_RULES]), &accept).is_ok());
    assert!(parse_rules(&json!({"device": "ios"}), &accept).is_err());
}

#[test]
fn variant_weights_must_be_positive_integers() {
    let bad = parse_variants(
        &json!([{"url": "https://a.example/", "weight": 0}, {"url": "https://b.example/", "weight": 1.5},
                {"url": "https://c.example/"}, {"url": "http:/nope", "weight": 1}]),
        &accept,
    );
    let fields: Vec<String> = bad
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(
        fields,
        [
            "variants[0].weight",
            "variants[1].weight",
            "variants[2].weight",
            "variants[3].url"
        ]
    );
}

/// splitmix64: well-spread numbers standing in for visitors' hashes.
fn spread(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn variants_split_by_weight_and_stick() {
    let variants = vec![
        Variant {
            url: "https://a.example/".into(),
            weight: 70,
        },
        Variant {
            url: "https://b.example/".into(),
            weight: 20,
        },
        Variant {
            url: "https://c.example/".into(),
            weight: 10,
        },
    ];
    let mut counts = [0u32; 3];
    for visitor in 0..10_000 {
        let Some((index, _)) = pick_variant(&variants, spread(visitor)) else {
            panic!("no variant picked")
        };
        counts[index] += 1;
        assert_eq!(
            pick_variant(&variants, spread(visitor)).map(|(i, _)| i),
            Some(index)
        );
    }
    for (count, weight) in counts.iter().zip([70.0, 20.0, 10.0]) {
        let share = f64::from(*count) / 100.0;
        assert!((share - weight).abs() <= 5.0, "{counts:?}");
    }
    assert!(pick_variant(&[], 3).is_none());
}
