//! `export` with API keys in AWS Secrets Manager and SSM Parameter Store (moto): the values
//! reach the platforms, each secret is read once per run, a missing one is exit 2 before any
//! write, and no value shows in the output.

mod export_common;

use export_common::*;

const PIPECAT_KEY: &str = "pk_test_pipecat_key";
const RUNPOD_KEY: &str = "rpa_test_runpod_key";

fn seed(moto: &Moto) {
    let keys = serde_json::json!({
        "pipecat": PIPECAT_KEY,
        "webhook": "https://hooks.example.invalid/ecr-export"
    });
    moto_call(
        moto,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        serde_json::json!({ "Name": "ecr-export/keys", "SecretString": keys.to_string() }),
    );
    moto_call(
        moto,
        "ssm",
        "AmazonSSM.PutParameter",
        serde_json::json!({ "Name": "/ecr-export/runpod", "Value": RUNPOD_KEY, "Type": "SecureString" }),
    );
}

fn envs(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.url()),
        ("AWS_ENDPOINT_URL_SSM", moto.url()),
    ]
}

fn config(world: &World, pipecat: &Proc, runpod: &Proc, pipecat_key: &str) -> std::path::PathBuf {
    world.config(&format!(
        r#"
[defaults]
notify_url = {{ secretsmanager = "ecr-export/keys", key = "webhook" }}
{}
[[target]]
name = "runpod"
type = "runpod"
registry_auth = "ECR Credentials"
api_key = {{ ssm = "/ecr-export/runpod" }}
base_url = "{}"
{}"#,
        source_and_pipecat(&pipecat.url(), pipecat_key),
        runpod.url(),
        docker_target(&world.path("docker/config.json"))
    ))
}

fn run(world: &World, config: &std::path::Path) -> Run {
    let envs = envs(&world.moto);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = config.display().to_string();
    let lock = world.path("run.lock").display().to_string();
    world.run(
        &["--config", &config, "--lock", &lock, "--output", "json"],
        &envs,
    )
}

#[test]
fn keys_from_secrets_manager_and_ssm_reach_the_platforms_one_read_per_secret() {
    let world = World::new();
    seed(&world.moto);
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    let runpod = Proc::python("tests/fakes/runpod.py", &[]);
    let config = config(
        &world,
        &pipecat,
        &runpod,
        r#"{ secretsmanager = "ecr-export/keys", key = "pipecat" }"#,
    );
    let out = run(&world, &config);
    assert_eq!(out.code, 0, "{}", out.all());
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON summary");
    assert_eq!(json["ok"], true, "{}", out.stdout);
    // The fakes accept only their own keys: the values came through.
    assert_eq!(
        pipecat.state()["state"]["sets"]["my-ecr-credentials"]["type"],
        "imagePullSecret",
        "{}",
        pipecat.state()
    );
    assert!(
        runpod.calls().iter().any(|(m, _)| m == "POST"),
        "{:?}",
        runpod.calls()
    );
    // The notify URL and the Pipecat key are two keys of one secret: one read.
    assert_eq!(world.moto.count("secretsmanager.GetSecretValue"), 1);
    assert_eq!(world.moto.count("AmazonSSM.GetParameter"), 1);
    assert_no_secret(
        &format!("{}\n{}", out.all(), world.logs()),
        &[PIPECAT_KEY, RUNPOD_KEY],
    );
}

#[test]
fn a_missing_secret_is_exit_2_before_any_call_or_write() {
    let world = World::new();
    seed(&world.moto);
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    let runpod = Proc::python("tests/fakes/runpod.py", &[]);
    for (reference, expected) in [
        (
            r#"{ secretsmanager = "ecr-export/missing" }"#,
            "Secrets Manager secret \"ecr-export/missing\"",
        ),
        (
            r#"{ secretsmanager = "ecr-export/keys", key = "nope" }"#,
            "has no key \"nope\"",
        ),
        (
            r#"{ ssm = "/ecr-export/missing" }"#,
            "SSM parameter \"/ecr-export/missing\"",
        ),
    ] {
        let config = config(&world, &pipecat, &runpod, reference);
        let out = run(&world, &config);
        assert_eq!(out.code, 2, "{reference}: {}", out.all());
        assert!(out.stderr.contains(expected), "{reference}: {}", out.stderr);
        assert!(out.stderr.contains("\"pipecat\".api_key"), "{}", out.stderr);
        assert_no_secret(&out.all(), &[PIPECAT_KEY, RUNPOD_KEY]);
    }
    assert!(pipecat.calls().is_empty() && runpod.calls().is_empty());
    assert_eq!(ecr_calls(&world.moto), 0);
    assert!(!world.path("docker/config.json").exists());
}
