//! The deployment files (Dockerfile, docker-compose.yml, deploy/k8s, deploy/compose,
//! .github/workflows) are checked with the strongest tools that run without a container
//! engine or a cluster, and against what the other tests prove: the nginx configuration of
//! deploy/nginx, the variables of docs/CONFIGURATION.md, port 5000, `/health` and `/ready`,
//! the drain timings, the monitoring targets.
//!
//! Tools (installed by .ci/run): docker-compose, yamllint, shellcheck (Debian), and
//! check-jsonschema, kubernetes-validate (PyPI; the latter brings PyYAML, used here to read
//! YAML as JSON).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kurz::Kurz;
use common::process::{clean_command, must_succeed, output_of, repo as root, tool as ok};
use common::wait::wait_for;
use serde_json::Value;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rest of the first line of `text` that starts with `prefix`.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}"))
}

/// `program args…` from the repository's root, whatever it exits with.
fn run(program: &str, args: &[&str]) -> Output {
    output_of(clean_command(program).args(args).current_dir(root()))
}

/// Every document of a YAML text, as JSON (PyYAML's safe loader).
fn yaml_docs(text: &str) -> Vec<Value> {
    let mut child = clean_command("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML could not read the YAML");
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("not a list: {other}"),
    }
}

fn yaml_file(path: &str) -> Vec<Value> {
    yaml_docs(&read(path))
}

/// The variables docs/CONFIGURATION.md documents (every `NAME` in its table).
fn documented_variables() -> Vec<String> {
    let doc = read("docs/CONFIGURATION.md");
    let mut vars = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for part in first.split('`').skip(1).step_by(2) {
            vars.push(part.to_string());
        }
    }
    assert!(vars.iter().any(|v| v == "KURZ_DRAIN_DELAY_MS"), "{vars:?}");
    vars
}

fn assert_documented(vars: &[String], names: impl IntoIterator<Item = String>, whence: &str) {
    for name in names {
        assert!(
            vars.contains(&name),
            "{whence} sets {name}, which docs/CONFIGURATION.md does not document"
        );
    }
}

/// An image reference with an exact tag: not `latest`, not a bare major version, not
/// untagged.
fn assert_pinned(image: &str, whence: &str) {
    let name = image.split('@').next().unwrap();
    let (repo, tag) = name
        .rsplit_once(':')
        .filter(|(repo, _)| !repo.is_empty() && !name.ends_with(']'))
        .unwrap_or_else(|| panic!("{whence}: image {image} has no tag"));
    assert!(!repo.ends_with('/'), "{whence}: {image}");
    assert!(tag != "latest", "{whence}: image {image} uses latest");
    // A version (1.22.1, v2.53.4, 15.12-bookworm) or a dated build (bookworm-20251229-slim).
    let dated = tag
        .split('-')
        .any(|part| part.len() == 8 && part.chars().all(|c| c.is_ascii_digit()));
    assert!(
        dated || (tag.contains('.') && tag.chars().any(|c| c.is_ascii_digit())),
        "{whence}: image {image} is not pinned to an exact version"
    );
}

/// The container side of a published port, in either of docker-compose's notations.
fn container_port(port: &Value) -> String {
    match port {
        Value::Object(long) => long["target"].to_string(),
        Value::String(short) => short
            .split('/')
            .next()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string(),
        other => panic!("port {other}"),
    }
}

fn millis(value: &Value) -> u64 {
    value.as_str().unwrap().parse().unwrap()
}

/// `45s`, `1m30s`, as docker-compose prints them.
fn seconds(duration: &str) -> u64 {
    let (mut total, mut number) = (0, String::new());
    for c in duration.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let n: u64 = number.parse().unwrap();
            number.clear();
            total += match c {
                's' => n,
                'm' => n * 60,
                'h' => n * 3600,
                _ => panic!("duration {duration}"),
            };
        }
    }
    total
}

const YAMLLINT: &str = "{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}";

#[test]
fn yaml_files_are_well_formed_and_scripts_pass_shellcheck() {
    ok(
        "yamllint",
        &[
            "--strict",
            "-d",
            YAMLLINT,
            "docker-compose.yml",
            "deploy/k8s",
            ".github/workflows",
        ],
    );
    // yamllint itself rejects what it should: a duplicated key.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "a: 1\na: 2\n").unwrap();
    assert!(
        !run("yamllint", &["-d", YAMLLINT, bad.to_str().unwrap()])
            .status
            .success()
    );

    ok(
        "shellcheck",
        &[
            "deploy/compose/rollout",
            "deploy/compose/nginx-start",
            "deploy/compose/kurz-probe",
        ],
    );
}

#[test]
fn the_dockerfile_is_multi_stage_pinned_non_root_with_a_health_check() {
    let dockerfile = read("Dockerfile");
    let args: Vec<(&str, &str)> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .collect();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    for from in &froms {
        let reference = from.split_whitespace().next().unwrap();
        let image = reference
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .map_or(reference, |arg| {
                args.iter().find(|(name, _)| *name == arg).unwrap().1
            });
        assert_pinned(image, "Dockerfile");
    }
    // The toolchain is the one of Cargo.toml's rust-version.
    let manifest = read("Cargo.toml");
    let rust_version = after(&manifest, "rust-version = ").trim_matches('"');
    assert!(
        dockerfile.contains(&format!("rust:{rust_version}.")),
        "the build image is not Rust {rust_version}"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    // Both stages are Debian 12, so the binary runs with the glibc it was linked against.
    assert!(args.iter().all(|(_, image)| image.contains("bookworm")));

    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "runs as {user}"
    );
    assert!(dockerfile.contains("KURZ_LISTEN=0.0.0.0:5000"));
    assert!(dockerfile.lines().any(|l| l == "EXPOSE 5000"));
    let healthcheck = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .to_string();
    assert!(
        healthcheck.contains(r#"CMD ["kurz-probe", "/health"]"#),
        "{healthcheck}"
    );
    assert!(dockerfile.contains("COPY deploy/compose/kurz-probe /usr/local/bin/kurz-probe"));
    // The build context holds what the build copies, and the probe.
    let ignore = read(".dockerignore");
    for kept in [
        "!Cargo.toml",
        "!Cargo.lock",
        "!build.rs",
        "!src/",
        "!migrations/",
        "!deploy/compose/kurz-probe",
    ] {
        assert!(ignore.lines().any(|l| l == kept), "{kept}");
    }
}

/// The probe the image's HEALTHCHECK and the compose health checks run, against a real
/// kurz: 0 for /health and /ready, 1 for a 404 and for nothing listening.
#[test]
fn the_health_probe_answers_from_a_real_kurz() {
    let mut kurz = Kurz::start(&[]);
    let port = kurz.port;
    let probe = |path: &str| {
        clean_command(root().join("deploy/compose/kurz-probe"))
            .arg(path)
            .env("KURZ_LISTEN", format!("0.0.0.0:{port}"))
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    wait_for("kurz ready by the probe", Duration::from_secs(20), || {
        probe("/ready") == Some(0)
    });
    assert_eq!(probe("/health"), Some(0));
    assert_eq!(probe("/no/such/path"), Some(1));
    kurz.kill9();
    assert_eq!(probe("/health"), Some(1));
}

#[test]
fn compose_is_valid_and_consistent_with_nginx_monitoring_and_configuration() {
    // docker-compose validates the file (schema, interpolation, references) and prints it
    // resolved: anchors merged, defaults filled in.
    let program = "docker-compose";
    // The web UI's session secret has no default (a known one would let anyone sign
    // cookies): without it the file does not resolve, and it names what is missing.
    let unset = output_of(
        clean_command(program)
            .args(["-f", "docker-compose.yml", "config"])
            .current_dir(root()),
    );
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("KURZ_SESSION_SECRET"));
    let secret = "s".repeat(64);
    let resolved = must_succeed(
        clean_command(program)
            .args(["-f", "docker-compose.yml", "config"])
            .env("KURZ_SESSION_SECRET", &secret)
            .current_dir(root()),
    );
    let compose = yaml_docs(&resolved).remove(0);
    let services = compose["services"].as_object().unwrap();
    let vars = documented_variables();

    let kurz: Vec<&str> = services
        .keys()
        .filter(|name| name.starts_with("kurz-"))
        .map(String::as_str)
        .collect();
    assert_eq!(kurz, ["kurz-1", "kurz-2"], "two kurz replicas");
    for replica in &kurz {
        assert_eq!(
            services[*replica]["environment"]["KURZ_SESSION_SECRET"], secret,
            "{replica}: every replica signs sessions with the one secret"
        );
    }
    for wanted in [
        "nginx",
        "postgres",
        "redis",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services.contains_key(wanted), "no {wanted} service");
    }

    for (name, service) in services {
        assert_eq!(service["restart"], "on-failure", "{name}: restart policy");
        assert_pinned(service["image"].as_str().unwrap(), name);
        if name != "fluent-bit" {
            assert!(
                service["healthcheck"]["test"].is_array(),
                "{name}: healthcheck"
            );
        }
    }

    let mut aliases = Vec::new();
    for name in &kurz {
        let service = &services[*name];
        let env = service["environment"].as_object().unwrap();
        assert_documented(&vars, env.keys().cloned(), name);
        assert_eq!(env["KURZ_LISTEN"], "0.0.0.0:5000", "{name}");
        assert_eq!(
            service["healthcheck"]["test"],
            serde_json::json!(["CMD", "kurz-probe", "/ready"])
        );
        // SIGTERM's drain fits before docker's SIGKILL.
        let budget = millis(&env["KURZ_DRAIN_DELAY_MS"]) + millis(&env["KURZ_SHUTDOWN_TIMEOUT_MS"]);
        let grace = seconds(service["stop_grace_period"].as_str().unwrap());
        assert!(
            grace * 1000 > budget,
            "{name}: stop_grace_period {grace}s < {budget} ms"
        );
        // Only nginx reaches the replicas: no published port.
        assert!(service.get("ports").is_none(), "{name} publishes a port");
        for alias in service["networks"]["frontend"]["aliases"]
            .as_array()
            .unwrap()
        {
            aliases.push(alias.as_str().unwrap().to_string());
        }
    }
    assert_eq!(aliases, ["kurz", "kurz"], "both replicas answer to `kurz`");
    // X-Forwarded-For is believed from the frontend network (nginx), which is that subnet.
    assert_eq!(
        compose["networks"]["frontend"]["ipam"]["config"][0]["subnet"],
        services["kurz-1"]["environment"]["KURZ_TRUSTED_PROXIES"]
    );

    // nginx runs the tested files, read-only, and balances over kurz:5000.
    let nginx = &services["nginx"];
    let volumes: Vec<String> = nginx["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for (file, target) in [
        ("deploy/nginx/nginx.conf", "/etc/nginx/nginx.conf"),
        ("deploy/nginx/kurz.conf", "/etc/nginx/kurz.conf"),
        ("deploy/nginx/server.conf", "/etc/nginx/server.conf"),
        (
            "deploy/nginx/render-upstream",
            "/opt/kurz-nginx/render-upstream",
        ),
        (
            "deploy/nginx/watch-upstream",
            "/opt/kurz-nginx/watch-upstream",
        ),
    ] {
        let source = root().join(file).canonicalize().unwrap();
        let wanted = format!("{}:{target}:ro", source.display());
        assert!(
            volumes.contains(&wanted),
            "nginx does not mount {file}: {volumes:?}"
        );
    }
    assert!(read("deploy/nginx/nginx.conf").contains("include kurz.conf;"));
    assert!(read("deploy/nginx/kurz.conf").contains("include upstream.conf;"));
    assert_eq!(nginx["command"], serde_json::json!(["kurz:5000"]));
    assert!(read("deploy/compose/nginx-start").contains("/etc/nginx/upstream.conf"));
    let server = read("deploy/nginx/server.conf");
    let listen = after(&server, "listen ").trim_end_matches(';');
    // `listen 80 reuseport backlog=…;`: the port is the first word.
    let listen_port = listen.split_whitespace().next().unwrap();
    assert_eq!(container_port(&nginx["ports"][0]), listen_port);
    assert_eq!(
        nginx["healthcheck"]["test"],
        serde_json::json!([
            "CMD",
            "/opt/kurz-nginx/kurz-probe",
            "/_nginx/health",
            listen_port
        ])
    );
    assert!(read("deploy/nginx/kurz.conf").contains("location = /_nginx/health"));

    // Prometheus scrapes the name the replicas answer to, on their port; alerts go to the
    // alertmanager service; Grafana reads the prometheus service.
    let prometheus = yaml_file("deploy/prometheus/prometheus.yml").remove(0);
    let kurz_job = prometheus["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["job_name"] == "kurz")
        .unwrap();
    let sd = &kurz_job["dns_sd_configs"][0];
    assert_eq!(sd["names"], serde_json::json!(["kurz"]));
    assert!(aliases.contains(&"kurz".to_string()));
    assert_eq!(sd["port"], 5000);
    let alertmanager = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        [0]
    .as_str()
    .unwrap();
    let (host, port) = alertmanager.split_once(':').unwrap();
    assert!(services.contains_key(host), "{alertmanager}");
    assert!(
        services[host]["command"]
            .to_string()
            .contains("/etc/alertmanager/alertmanager.yml")
    );
    assert_eq!(port, "9093");
    let datasource = yaml_file("deploy/grafana/provisioning/datasources/prometheus.yml").remove(0);
    assert_eq!(
        datasource["datasources"][0]["url"],
        "http://prometheus:9090"
    );
    for (service, dir) in [
        ("prometheus", "deploy/prometheus/prometheus.yml"),
        ("prometheus", "deploy/prometheus/rules"),
        ("alertmanager", "deploy/alertmanager/alertmanager.yml"),
        ("grafana", "deploy/grafana/provisioning"),
        ("grafana", "deploy/grafana/dashboards"),
    ] {
        let source = root().join(dir).canonicalize().unwrap();
        assert!(
            services[service]["volumes"]
                .to_string()
                .contains(&format!("\"{}:", source.display())),
            "{service} does not mount {dir}"
        );
    }
    // The secret files alertmanager.yml reads live in the mounted secrets directory.
    let am = read("deploy/alertmanager/alertmanager.yml");
    assert!(am.contains("/etc/alertmanager/secrets/"));
    assert!(
        services["alertmanager"]["volumes"]
            .to_string()
            .contains(":/etc/alertmanager/secrets:ro")
    );
    // The logging input port of deploy/logging.
    assert!(read("deploy/logging/fluent-bit.conf").contains("Port          24224"));
    assert_eq!(container_port(&services["fluent-bit"]["ports"][0]), "24224");
}

fn k8s_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["deploy/k8s", "deploy/k8s/postgres-ha"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(
                    path.strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    files.sort();
    files
}

/// Every Kubernetes manifest validated against the API's OpenAPI schemas (strict: unknown
/// fields fail). CloudNativePG's kinds are not in those schemas; their fields are checked
/// below instead.
#[test]
fn kubernetes_manifests_validate_against_their_schemas() {
    let files: Vec<String> = k8s_files()
        .into_iter()
        .filter(|f| !f.ends_with("kustomization.yaml"))
        .collect();
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(String::as_str));
    let out = run("kubernetes-validate", &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for resource in [
        "deployment/kurz ",
        "service/kurz ",
        "service/kurz-pods ",
        "horizontalpodautoscaler/kurz ",
        "poddisruptionbudget/kurz ",
        "configmap/kurz ",
        "deployment/kurz-redis ",
        "service/kurz-redis ",
        "namespace/kurz ",
    ] {
        assert!(
            text.contains(&format!("passed for resource {resource}")),
            "{resource} not validated:\n{text}"
        );
    }
    // Only the operator's kinds go unvalidated.
    let unvalidated = text.matches("Couldn't find schema").count();
    assert_eq!(unvalidated, 2, "{text}");

    // The validator rejects what it should.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        read("deploy/k8s/pdb.yaml").replace("maxUnavailable: 1", "maxUnavailable: 1\n  bogus: 1"),
    )
    .unwrap();
    assert!(
        !run("kubernetes-validate", &["--strict", bad.to_str().unwrap()])
            .status
            .success()
    );
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn kubernetes_manifests_are_consistent_with_kurz() {
    let kustomization = yaml_file("deploy/k8s/kustomization.yaml").remove(0);
    let listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("deploy/k8s/{}", r.as_str().unwrap()))
        .collect();
    let mut files = k8s_files();
    files.retain(|f| !f.ends_with("kustomization.yaml"));
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, files, "kustomization.yaml lists every manifest");
    let docs: Vec<Value> = files.iter().flat_map(|f| yaml_file(f)).collect();
    let vars = documented_variables();

    let config = find(&docs, "ConfigMap", "kurz");
    let data = config["data"].as_object().unwrap();
    assert_documented(&vars, data.keys().cloned(), "configmap.yaml");
    assert_eq!(data["KURZ_LISTEN"], "0.0.0.0:5000");

    let deployment = find(&docs, "Deployment", "kurz");
    let spec = &deployment["spec"];
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_pinned(container["image"].as_str().unwrap(), "deployment.yaml");
    assert_eq!(container["ports"][0]["containerPort"], 5000);
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/health");
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "http");
    }
    assert_eq!(container["envFrom"][0]["configMapRef"]["name"], "kurz");
    assert_documented(
        &vars,
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string()),
        "deployment.yaml",
    );
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["runAsUser"], 10001,
        "the Dockerfile's user"
    );
    assert!(read("Dockerfile").contains("USER 10001:10001"));
    // The endpoint goes (readiness 503 within one period) before the drain delay ends, and
    // the whole drain fits before SIGKILL.
    let drain = millis(&data["KURZ_DRAIN_DELAY_MS"]);
    let shutdown = millis(&data["KURZ_SHUTDOWN_TIMEOUT_MS"]);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace * 1000 > drain + shutdown, "grace {grace}s");
    let readiness = &container["readinessProbe"];
    let unready_after = readiness["periodSeconds"].as_u64().unwrap()
        * readiness["failureThreshold"].as_u64().unwrap();
    assert!(
        unready_after * 1000 * 2 <= drain,
        "drain {drain} ms too short"
    );

    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(spec["selector"]["matchLabels"], *labels);
    for (kind, name) in [("Service", "kurz"), ("Service", "kurz-pods")] {
        let service = find(&docs, kind, name);
        assert_eq!(service["spec"]["selector"], *labels, "{name}");
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    }
    assert_eq!(
        find(&docs, "Service", "kurz-pods")["spec"]["clusterIP"],
        "None"
    );
    let hpa = find(&docs, "HorizontalPodAutoscaler", "kurz");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "kurz");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    let pdb = find(&docs, "PodDisruptionBudget", "kurz");
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *labels);

    // Redis: the URL's host is the Service, on the container's port.
    assert_eq!(data["REDIS_URL"], "redis://kurz-redis:6379");
    find(&docs, "Service", "kurz-redis");
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        for c in d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            assert_pinned(c["image"].as_str().unwrap(), "deploy/k8s");
        }
    }

    // PostgreSQL HA: kurz goes through the Pooler (PgBouncer, transaction mode) with the
    // settings PgBouncer needs, migrates directly, and reads the Secret the operator writes
    // for the Cluster's owner.
    let cluster = docs
        .iter()
        .find(|d| d["kind"] == "Cluster" && d["apiVersion"] == "postgresql.cnpg.io/v1")
        .unwrap();
    let cluster_name = cluster["metadata"]["name"].as_str().unwrap();
    assert!(cluster["spec"]["instances"].as_u64().unwrap() >= 2);
    assert_eq!(
        cluster["spec"]["bootstrap"]["initdb"]["database"],
        data["DATABASE_NAME"]
    );
    assert_pinned(
        cluster["spec"]["imageName"].as_str().unwrap(),
        "cluster.yaml",
    );
    let pooler = docs.iter().find(|d| d["kind"] == "Pooler").unwrap();
    assert_eq!(pooler["spec"]["cluster"]["name"], cluster_name);
    assert_eq!(pooler["spec"]["pgbouncer"]["poolMode"], "transaction");
    assert_eq!(pooler["spec"]["type"], "rw");
    assert_eq!(data["DATABASE_HOST"], pooler["metadata"]["name"]);
    assert_eq!(data["KURZ_DB_STATEMENT_CACHE"], "0");
    assert_eq!(data["KURZ_DB_STATEMENT_TIMEOUT_MS"], "0");
    // Every secret comes from the database's (written by the operator) but the web UI's
    // session secret, one Secret for every pod (created by hand: docs/DEPLOY.md).
    let secret = format!("{cluster_name}-app");
    for env in container["env"].as_array().unwrap() {
        let expected = match env["name"].as_str() {
            Some("KURZ_SESSION_SECRET") => "kurz-session",
            _ => secret.as_str(),
        };
        assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], expected);
    }
    assert!(
        container["env"]
            .to_string()
            .contains(r#""name":"KURZ_SESSION_SECRET""#)
    );
    assert!(read("docs/DEPLOY.md").contains("create secret generic kurz-session"));
    assert!(
        container["env"]
            .to_string()
            .contains(r#""name":"KURZ_DB_MIGRATION_URL""#)
    );
    assert!(
        cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"]
            .to_string()
            .contains("statement_timeout")
    );
}

#[test]
fn workflows_validate_and_test_build_and_roll_out() {
    ok(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.github-workflows",
            ".github/workflows/ci.yml",
            ".github/workflows/cd.yml",
        ],
    );
    let ci = yaml_file(".github/workflows/ci.yml").remove(0);
    let job = &ci["jobs"]["test"];
    let compose = yaml_docs(&read("docker-compose.yml")).remove(0);
    // The same PostgreSQL and Redis as compose, on the ports the tests use.
    assert_eq!(
        job["services"]["postgres"]["image"],
        compose["services"]["postgres"]["image"]
    );
    assert_eq!(
        job["services"]["redis"]["image"],
        compose["services"]["redis"]["image"]
    );
    assert_eq!(job["services"]["postgres"]["ports"][0], "5432:5432");
    assert_eq!(job["services"]["redis"]["ports"][0], "6379:6379");
    let steps = job["steps"].to_string();
    for command in [
        "cargo fmt --all -- --check",
        "cargo clippy --all-targets --locked -- -D warnings",
        "cargo test --locked",
        "kubernetes-validate==",
        "check-jsonschema==",
    ] {
        assert!(steps.contains(command), "CI does not run {command}");
    }
    // The packages the test command (scripts/test, which .ci/run calls) installs, CI installs too.
    let ci_run = read("scripts/test");
    for package in [
        "yamllint",
        "docker-compose",
        "shellcheck",
        "pgbouncer",
        "nginx",
    ] {
        assert!(ci_run.contains(package), "scripts/test lacks {package}");
        assert!(steps.contains(package), "CI lacks {package}");
    }

    let cd = yaml_file(".github/workflows/cd.yml").remove(0);
    assert_eq!(
        cd["true"]["workflow_run"]["workflows"],
        serde_json::json!(["CI"])
    );
    assert_eq!(
        cd["true"]["workflow_run"]["branches"],
        serde_json::json!(["main"])
    );
    assert!(
        cd["jobs"]["image"]["if"]
            .as_str()
            .unwrap()
            .contains("'success'")
    );
    let k8s = cd["jobs"]["kubernetes"].to_string();
    for step in [
        "kubectl -n kurz set image deployment/kurz kurz=",
        "rollout status deployment/kurz",
        "rollout undo deployment/kurz",
    ] {
        assert!(k8s.contains(step), "CD lacks {step}");
    }
    assert_eq!(cd["jobs"]["kubernetes"]["needs"], "image");
    assert!(
        cd["jobs"]["droplet"]
            .to_string()
            .contains("deploy/compose/rollout")
    );
    // The Deployment's container is called what `set image` names.
    assert!(read("deploy/k8s/deployment.yaml").contains("- name: kurz\n"));
    // Every action is pinned to an exact version.
    for workflow in [".github/workflows/ci.yml", ".github/workflows/cd.yml"] {
        for line in read(workflow).lines().filter(|l| l.contains("uses:")) {
            let version = line.rsplit_once('@').unwrap().1;
            assert_eq!(version.split('.').count(), 3, "{workflow}: {line}");
        }
    }
}

#[test]
fn the_compose_rollout_refuses_images_without_an_exact_tag() {
    for image in ["ghcr.io/acme/kurz:latest", "ghcr.io/acme/kurz"] {
        let out = run("deploy/compose/rollout", &[image]);
        assert_eq!(out.status.code(), Some(2), "{image}");
    }
    assert_eq!(run("deploy/compose/rollout", &[]).status.code(), Some(2));
    let script = read("deploy/compose/rollout");
    for step in [
        "docker network disconnect",
        "--force-recreate",
        ".State.Health.Status",
        "rolling back",
    ] {
        assert!(script.contains(step), "rollout lacks {step}");
    }
    assert!(Path::new(&root().join("deploy/compose/env.example")).exists());
}
