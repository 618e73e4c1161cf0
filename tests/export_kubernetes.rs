//! `export` to Kubernetes through the `kube` client against the fake API server
//! (tests/fakes/kubernetes.py): SSA with fieldManager, globs, 422 type mismatch, 403 in one
//! namespace, ServiceAccount linking that keeps existing pull secrets, dry run.

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

    // The server also refuses a type change itself (422), if the plan raced a writer.
    server.fault("auth", -1);
    let out = run(&world, &cfg, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("401"), "{}", out.stdout);
}
