//! `export` against platform endpoints that misbehave below the API contract (a Runpod API and a
//! Kubernetes API server each): a connection reset, truncated JSON, a 1 GiB body (declared, and
//! streamed without a length), an answer that stops mid-body and hangs. Each such target fails on its own with a clean message,
//! within its timeout, reading at most a bounded amount; the other targets succeed; nothing
//! prints a secret.

mod export_common;

use export_common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const KEY: &str = "rpa_fault_matrix_key_0123456789";

#[derive(Clone, Copy)]
enum Misbehaviour {
    Reset,
    TruncatedJson,
    HugeDeclared,
    HugeStreamed,
    HangMidBody,
}

/// A loopback server answering every request the same bad way; counts the body bytes it
/// managed to send.
struct BadServer {
    port: u16,
    sent: Arc<AtomicU64>,
}

impl BadServer {
    fn start(how: Misbehaviour) -> BadServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || answer(stream, how, &counter));
            }
        });
        BadServer { port, sent }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn answer(mut stream: TcpStream, how: Misbehaviour, sent: &AtomicU64) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let gib: u64 = 1 << 30;
    let chunk = vec![b' '; 64 * 1024];
    let mut send = |data: &[u8]| -> bool {
        let ok = stream.write_all(data).is_ok();
        if ok {
            sent.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        ok
    };
    match how {
        Misbehaviour::Reset => {
            // SO_LINGER 0: close with RST.
            use std::os::fd::AsRawFd as _;
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid socket and a correctly sized value.
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
        Misbehaviour::TruncatedJson => {
            let body = br#"{"registries":[{"id":"r1","name":"ECR Cred"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            send(head.as_bytes());
            send(body);
        }
        Misbehaviour::HugeDeclared => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {gib}\r\n\r\n{{\"registries\":["
            );
            send(head.as_bytes());
            let mut total = 0;
            while total < gib && send(&chunk) {
                total += chunk.len() as u64;
            }
        }
        Misbehaviour::HugeStreamed => {
            send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            let mut total = 0;
            while total < gib && send(&frame) {
                total += chunk.len() as u64;
            }
        }
        Misbehaviour::HangMidBody => {
            send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"registries\":[");
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}

#[test]
fn misbehaving_endpoints_fail_alone_and_cleanly() {
    let world = World::new();
    let kinds = [
        ("reset", Misbehaviour::Reset),
        ("truncated", Misbehaviour::TruncatedJson),
        ("huge-declared", Misbehaviour::HugeDeclared),
        ("huge-streamed", Misbehaviour::HugeStreamed),
        ("hang-mid-body", Misbehaviour::HangMidBody),
    ];
    // Each misbehaviour once behind a Runpod target (reqwest, our bounded reader) and once
    // behind a Kubernetes API server (the kube client, its answers bounded by a body limit).
    let mut servers = Vec::new();
    for (name, how) in kinds {
        servers.push((format!("runpod-{name}"), BadServer::start(how)));
        servers.push((format!("k8s-{name}"), BadServer::start(how)));
    }
    let mut config = String::from(
        "[defaults]\ntimeout = \"3s\"\nretries = 1\n[[source]]\nregion = \"us-east-1\"\n",
    );
    for (name, server) in &servers {
        if name.starts_with("k8s-") {
            let kubeconfig = world.path(&format!("{name}.kubeconfig"));
            write_private(
                &kubeconfig,
                &format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: bad\n  cluster:\n    server: {}\ncontexts:\n- name: bad\n  context:\n    cluster: bad\n    user: u\n\
                     current-context: bad\nusers:\n- name: u\n  user:\n    token: kube-fault-token\n",
                    server.url()
                ),
            );
            config.push_str(&format!(
                "[[target]]\nname = \"{name}\"\ntype = \"kubernetes\"\nkubeconfig = \"{}\"\nnamespaces = [\"default\"]\nsecret_name = \"ecr-pull\"\n",
                kubeconfig.display()
            ));
        } else {
            config.push_str(&format!(
                "[[target]]\nname = \"{name}\"\ntype = \"runpod\"\nregistry_auth = \"ECR Credentials\"\napi_key = {{ env = \"RUNPOD_API_KEY\" }}\nbase_url = \"{}\"\n",
                server.url()
            ));
        }
    }
    let good = world.path("good/config.json");
    config.push_str(&format!(
        "[[target]]\nname = \"good\"\ntype = \"docker-config\"\npath = \"{}\"\n",
        good.display()
    ));
    let path = world.config(&config);
    let run = world.run(
        &[
            "--config",
            path.to_str().expect("utf-8"),
            "--output",
            "json",
        ],
        &[("RUNPOD_API_KEY", KEY)],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json report");
    let rows = summary["targets"].as_array().expect("targets");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["target"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {}", run.stdout))
    };
    assert_eq!(row("good")["result"], "ok", "{}", run.stdout);
    let token: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).expect("good file")).expect("json");
    assert!(token["auths"].as_object().is_some_and(|a| a.len() == 1));
    for (name, server) in &servers {
        let r = row(name);
        assert_eq!(r["result"], "failed", "{name}: {}", run.stdout);
        let error = r["error"].as_str().unwrap_or_default();
        assert!(
            !error.is_empty() && !error.contains('\n'),
            "{name}: {error:?}"
        );
        let sent = server.sent.load(Ordering::Relaxed);
        assert!(sent < 64 << 20, "{name}: the client read {sent} bytes");
        report(&format!(
            "export vs {name} endpoint: failed cleanly (server got {} KiB out before the client stopped): {error}",
            sent / 1024
        ));
    }
    for name in [
        "runpod-huge-declared",
        "runpod-huge-streamed",
        "k8s-huge-declared",
        "k8s-huge-streamed",
    ] {
        assert!(
            row(name)["error"]
                .as_str()
                .unwrap_or("")
                .contains("larger than"),
            "{name}: {}",
            run.stdout
        );
    }
    // Ten bad targets in parallel, each bounded by 2 attempts of 3 s.
    assert!(
        run.elapsed < Duration::from_secs(30),
        "took {:?}",
        run.elapsed
    );
    assert_no_secret(
        &run.all(),
        &[KEY, "kube-fault-token", "123456789012-auth-token"],
    );
}

#[test]
fn docker_config_symlinked_by_another_user_to_roots_file_is_not_followed() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "docker_config_symlinked_by_another_user_to_roots_file_is_not_followed: skipped: needs root"
        );
        return;
    }
    let world = World::new();
    let nobody = |p: &std::path::Path| {
        std::os::unix::fs::lchown(p, Some(65534), Some(65534)).expect("chown")
    };
    // root's own JSON file, and a user's directory with a link the user made to it.
    let roots = world.path("etc/daemon.json");
    std::fs::create_dir_all(roots.parent().expect("dir")).expect("mkdir");
    std::fs::write(&roots, r#"{"log-driver":"journald"}"#).expect("w");
    let users = world.path("alice/.docker");
    std::fs::create_dir_all(&users).expect("mkdir");
    let hostile = users.join("config.json");
    std::os::unix::fs::symlink(&roots, &hostile).expect("symlink");
    nobody(&hostile);
    // The same user linking to their own file (a dotfile manager) is followed.
    let theirs = world.path("alice/dotfiles/docker.json");
    std::fs::create_dir_all(theirs.parent().expect("dir")).expect("mkdir");
    std::fs::write(&theirs, "{}").expect("w");
    nobody(&theirs);
    let own = world.path("alice/.docker/own.json");
    std::os::unix::fs::symlink(&theirs, &own).expect("symlink");
    nobody(&own);

    let config = world.config(&format!(
        "[[source]]\nregion = \"us-east-1\"\n[[target]]\nname = \"hostile\"\ntype = \"docker-config\"\npath = \"{}\"\n[[target]]\nname = \"own\"\ntype = \"docker-config\"\npath = \"{}\"\n",
        hostile.display(),
        own.display()
    ));
    let run = world.run(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let row = |name: &str| {
        summary["targets"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["target"] == name).cloned())
            .unwrap_or_default()
    };
    assert_eq!(row("hostile")["result"], "failed", "{}", run.stdout);
    assert!(
        row("hostile")["error"]
            .as_str()
            .unwrap_or("")
            .contains("not following it"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&roots).expect("read"),
        r#"{"log-driver":"journald"}"#,
        "root's file was written through another user's link"
    );
    assert_eq!(row("own")["result"], "ok", "{}", run.stdout);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&theirs).expect("read")).expect("json");
    assert!(
        written["auths"].is_object(),
        "the user's own link is followed"
    );
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(
        std::fs::metadata(&theirs).expect("stat").uid(),
        65534,
        "owner kept"
    );
}
