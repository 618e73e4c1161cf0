//! `export` to Kubernetes through the `kube` client against the fake API server
//! (tests/fakes/kubernetes.py): SSA with fieldManager, globs, type mismatch seen by the plan and
//! refused by the server (422), 403 in one namespace, ServiceAccount linking that keeps existing
//! pull secrets, a missing ServiceAccount that does not stop the secret, dry run.

mod export_common;

use export_common::*;

const TOKEN: &str = "kube-test-token";

fn kubeconfig(world: &World, server: &Proc) -> std::path::PathBuf {
    let path = world.path("kubeconfig");
    write_private(
        &path,
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: default\n\
             current-context: fake\nusers:\n- name: tester\n  user:\n    token: {TOKEN}\n",
            server.url()
        ),
    );
    path
}

fn config(
    world: &World,
    kubeconfig: &std::path::Path,
    namespaces: &str,
    extra: &str,
) -> std::path::PathBuf {
    world.config(&format!(
        "[defaults]\ntimeout = \"2s\"\nretries = 1\n\n[[source]]\nregion = \"us-east-1\"\n\n[[target]]\nname = \"k8s\"\ntype = \"kubernetes\"\n\
         kubeconfig = \"{}\"\ncontext = \"fake\"\nnamespaces = {namespaces}\nsecret_name = \"ecr-pull\"\n{extra}\n",
        kubeconfig.display()
    ))
}

fn run(world: &World, config: &std::path::Path, extra: &[&str]) -> Run {
    let config = config.display().to_string();
    let lock = world.path("lock").display().to_string();
    let mut args = vec!["--config", config.as_str(), "--lock", lock.as_str()];
    args.extend_from_slice(extra);
    world.run(&args, &[])
}

fn secret(server: &Proc, ns: &str) -> serde_json::Value {
    server.state()["state"]["secrets"][ns]["ecr-pull"].clone()
}

#[test]
fn applies_to_matching_namespaces_then_updates() {
    let world = World::new();
    let server = Proc::python(
        "tests/fakes/kubernetes.py",
        &["--namespaces", "default,ml-a,ml-b,ml-test,web"],
    );
    let kc = kubeconfig(&world, &server);
    let cfg = config(
        &world,
        &kc,
        r#"["default", "ml-*"]"#,
        "exclude_namespaces = [\"*-test\"]\nservice_accounts = [\"default\"]",
    );

    let dry = run(&world, &cfg, &["--dry-run", "--output", "json"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(
        server.calls().iter().all(|(m, _)| m == "GET"),
        "dry run only reads"
    );
    assert!(secret(&server, "default").is_null());

    let first = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(first.code, 0, "{}", first.all());
    let json: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
    assert_eq!(json["targets"][0]["action"], "create", "{}", first.stdout);
    for ns in ["default", "ml-a", "ml-b"] {
        let s = secret(&server, ns);
        assert_eq!(s["type"], "kubernetes.io/dockerconfigjson", "{ns}");
        assert_eq!(s["metadata"]["managedFields"][0]["manager"], "ecr-login");
        assert!(s["metadata"]["annotations"]["ecr-login/expires-at"].is_string());
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s["data"][".dockerconfigjson"].as_str().expect("data"))
            .expect("b64");
        let doc: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        let auths = doc["auths"].as_object().expect("auths");
        assert_eq!(auths.values().next().expect("one")["username"], "AWS");
        let sa = &server.state()["state"]["serviceaccounts"][ns]["default"];
        assert_eq!(
            sa["imagePullSecrets"],
            serde_json::json!([{"name": "existing-pull"}, {"name": "ecr-pull"}]),
            "{ns}: appended, not replaced"
        );
    }
    for ns in ["ml-test", "web", "kube-system"] {
        assert!(secret(&server, ns).is_null(), "{ns} is not selected");
    }
    let patches: Vec<_> = server
        .calls()
        .into_iter()
        .filter(|(m, p)| m == "PATCH" && p.contains("/secrets/"))
        .collect();
    assert!(
        patches
            .iter()
            .all(|(_, p)| p.contains("fieldManager=ecr-login") && p.contains("force=true")),
        "{patches:?}"
    );

    server.reset();
    let second = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.all());
    let json: serde_json::Value = serde_json::from_str(&second.stdout).expect("json");
    assert_eq!(json["targets"][0]["action"], "update");
    assert_eq!(secret(&server, "ml-a")["metadata"]["_applies"], 2);
    let sa_patches = server
        .calls()
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.contains("serviceaccounts"))
        .count();
    assert_eq!(sa_patches, 0, "already linked: no service account writes");
    let token = secret(&server, "ml-a")["data"][".dockerconfigjson"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_no_secret(
        &format!("{}{}{}", first.all(), second.all(), world.logs()),
        &[TOKEN, &token],
    );
}

#[test]
fn namespace_failures_are_isolated() {
    let world = World::new();
    let server = Proc::python(
        "tests/fakes/kubernetes.py",
        &[
            "--namespaces",
            "a,b,c",
            "--forbid-namespace",
            "b",
            "--opaque",
            "c/ecr-pull",
        ],
    );
    let kc = kubeconfig(&world, &server);
    let cfg = config(&world, &kc, r#"["a", "b", "c"]"#, "");
    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let error = serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json")["targets"][0]
        ["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("b: reading secret ecr-pull failed: HTTP 403"),
        "{error}"
    );
    assert!(
        error.contains("c: secret ecr-pull exists with type \"Opaque\""),
        "{error}"
    );
    assert_eq!(
        secret(&server, "a")["type"],
        "kubernetes.io/dockerconfigjson",
        "a still done"
    );
    assert_eq!(
        secret(&server, "c")["type"],
        "Opaque",
        "never deleted or recreated"
    );

    // A rejected token (401) fails the target with the API's answer.
    server.fault("auth", -1);
    let out = run(&world, &cfg, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("401"), "{}", out.stdout);
}

fn target_error(out: &Run) -> String {
    serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json")["targets"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn writes(server: &Proc, path_part: &str) -> usize {
    server
        .calls()
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.contains(path_part))
        .count()
}

/// The plan saw no secret, then another writer created an `Opaque` one: the server itself refuses
/// to change the type (422 Status `Invalid`). Reported as that namespace's error, never retried,
/// the other namespace still done, the foreign secret untouched.
#[test]
fn server_refuses_a_type_change_with_422() {
    let world = World::new();
    let server = Proc::python(
        "tests/fakes/kubernetes.py",
        &["--namespaces", "a,b", "--opaque-on-apply", "b/ecr-pull"],
    );
    let kc = kubeconfig(&world, &server);
    let cfg = config(&world, &kc, r#"["a", "b"]"#, "");
    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let error = target_error(&out);
    assert!(
        error.contains(
            "b: applying secret ecr-pull failed: HTTP 422: Invalid Secret \"ecr-pull\" is invalid: \
             type: Invalid value: \"kubernetes.io/dockerconfigjson\": field is immutable"
        ),
        "{error}"
    );
    assert!(!error.contains("a: "), "{error}");
    assert_eq!(
        secret(&server, "a")["type"],
        "kubernetes.io/dockerconfigjson"
    );
    assert_eq!(secret(&server, "b")["type"], "Opaque", "left as it is");
    assert_eq!(
        writes(&server, "/namespaces/b/secrets/"),
        1,
        "422 is not retried"
    );

    // The fake answers in the API's Status shape (what a real API server sends).
    let body = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ecr-pull"},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
    let (code, status) = request(
        server.port,
        "PATCH",
        "/api/v1/namespaces/b/secrets/ecr-pull?fieldManager=ecr-login&force=true",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/apply-patch+yaml"),
        ],
        &body.to_string(),
    );
    assert_eq!(code, 422);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["code"], 422);
    assert_eq!(status["details"]["kind"], "Secret");
    assert_eq!(status["details"]["causes"][0]["field"], "type");
}

/// A listed service account missing in one namespace is that namespace/account's error; the
/// secret is applied there all the same, and the other accounts are linked.
#[test]
fn missing_service_account_does_not_stop_the_secret() {
    let world = World::new();
    let server = Proc::python(
        "tests/fakes/kubernetes.py",
        &["--namespaces", "a,b", "--service-account", "a/builder"],
    );
    let kc = kubeconfig(&world, &server);
    let cfg = config(
        &world,
        &kc,
        r#"["a", "b"]"#,
        "service_accounts = [\"default\", \"builder\"]",
    );

    let dry = run(&world, &cfg, &["--dry-run", "--output", "json"]);
    assert_eq!(dry.code, 1, "{}", dry.all());
    assert!(
        target_error(&dry).contains("b: service account builder not found"),
        "{}",
        dry.stdout
    );
    assert!(server.calls().iter().all(|(m, _)| m == "GET"));

    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 1, "the requested link is missing: {}", out.all());
    let error = target_error(&out);
    assert!(
        error.contains("b: service account builder not found"),
        "{error}"
    );
    assert!(
        error.contains("applied secret ecr-pull in 2 of 2"),
        "{error}"
    );
    assert!(!error.contains("a: "), "{error}");
    for ns in ["a", "b"] {
        assert_eq!(
            secret(&server, ns)["type"],
            "kubernetes.io/dockerconfigjson",
            "{ns}: the secret is written"
        );
        assert_eq!(
            server.state()["state"]["serviceaccounts"][ns]["default"]["imagePullSecrets"],
            serde_json::json!([{"name": "existing-pull"}, {"name": "ecr-pull"}]),
            "{ns}"
        );
    }
    assert_eq!(
        server.state()["state"]["serviceaccounts"]["a"]["builder"]["imagePullSecrets"],
        serde_json::json!([{"name": "ecr-pull"}])
    );
    assert_eq!(writes(&server, "/namespaces/b/serviceaccounts/builder"), 0);

    // The fake's answer for the missing account is the API's 404 Status.
    let (code, status) = request(
        server.port,
        "GET",
        "/api/v1/namespaces/b/serviceaccounts/builder",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(code, 404);
    assert_eq!(
        status,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "serviceaccounts \"builder\" not found", "reason": "NotFound",
            "details": {"name": "builder", "kind": "serviceaccounts"}, "code": 404})
    );
}

/// An API server answering 429 with Retry-After to every call: with `retries = 2` the run
/// makes three attempts per call and ends within seconds with exit 1. (The `kube` client's own
/// retry layer would add 15 retries under each of ours and keep the run going for minutes.)
#[test]
fn a_throttling_api_server_is_retried_within_retries() {
    let world = World::new();
    let server = Proc::python("tests/fakes/kubernetes.py", &["--namespaces", "a,b"]);
    server.fault_on("mode=429&retry_after=1");
    let kc = kubeconfig(&world, &server);
    let cfg = world.config(&format!(
        "[defaults]\ntimeout = \"5s\"\nretries = 2\n\n[[source]]\nregion = \"us-east-1\"\n\n[[target]]\nname = \"k8s\"\ntype = \"kubernetes\"\n\
         kubeconfig = \"{}\"\ncontext = \"fake\"\nnamespaces = [\"*\"]\nsecret_name = \"ecr-pull\"\n",
        kc.display()
    ));
    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.elapsed < std::time::Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert!(target_error(&out).contains("429"), "{}", out.stdout);
    assert_eq!(
        server.calls().len(),
        3,
        "1 attempt + 2 retries: {:?}",
        server.calls()
    );
}

/// A cluster with more namespaces than one page: the list is read page by page (`limit`, then
/// the `continue` token the server handed out), so a namespace on the last page is found and no
/// answer grows with the cluster.
#[test]
fn namespace_lists_are_read_page_by_page() {
    let world = World::new();
    let many: Vec<String> = (0..1100).map(|i| format!("team-{i:04}")).collect();
    let namespaces = format!("{},zz-last", many.join(","));
    let server = Proc::python("tests/fakes/kubernetes.py", &["--namespaces", &namespaces]);
    let kc = kubeconfig(&world, &server);
    let cfg = config(&world, &kc, r#"["zz-*"]"#, "");
    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        secret(&server, "zz-last")["type"],
        "kubernetes.io/dockerconfigjson",
        "the namespace on the last page got its secret"
    );
    let lists: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|(m, p)| m == "GET" && p.starts_with("/api/v1/namespaces?"))
        .map(|(_, p)| p)
        .collect();
    // 1104 namespaces (the three system ones included) in pages of 500.
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(lists.iter().all(|p| p.contains("limit=500")), "{lists:?}");
    assert!(!lists[0].contains("continue="), "{lists:?}");
    assert!(
        lists[1..].iter().all(|p| p.contains("continue=")),
        "{lists:?}"
    );
}

/// A broken API server whose list never ends (every page carries a `continue` token) cannot
/// keep the run going or its memory growing: the target stops after a bounded number of pages
/// with an error that says so, and writes nothing from a list it could not finish.
#[test]
fn an_endless_namespace_list_is_cut_off() {
    let world = World::new();
    let server = Proc::python("tests/fakes/kubernetes.py", &["--endless-list"]);
    let kc = kubeconfig(&world, &server);
    let cfg = config(&world, &kc, r#"["ml-*"]"#, "");
    let out = run(&world, &cfg, &["--output", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all()
            .contains("the API server sent more than 200 pages"),
        "{}",
        out.all()
    );
    let calls = server.calls();
    let lists = calls
        .iter()
        .filter(|(m, p)| m == "GET" && p.starts_with("/api/v1/namespaces?"))
        .count();
    assert_eq!(lists, 200, "pages asked for");
    assert!(
        !calls.iter().any(|(m, _)| m == "PATCH"),
        "nothing written from an unfinished list: {calls:?}"
    );
}
