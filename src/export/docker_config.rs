//! A Docker `config.json` file: merge only our `auths` entry, keep everything else, write
//! atomically (temp file in the same directory, fsync, rename) with mode 0600.

use super::config::DockerConfigConfig;
use super::target::{Action, Cred, Plan, Target, TargetError};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

pub struct DockerConfig {
    pub cfg: DockerConfigConfig,
}

impl DockerConfig {
    fn read(&self) -> Result<Map<String, Value>, TargetError> {
        match std::fs::read_to_string(&self.cfg.path) {
            Ok(text) if text.trim().is_empty() => Ok(Map::new()),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(TargetError(format!(
                    "{} is not a JSON object; not touching it",
                    self.cfg.path.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(TargetError(format!(
                "cannot read {}: {e}",
                self.cfg.path.display()
            ))),
        }
    }

    fn write(&self, doc: &Value) -> Result<(), TargetError> {
        let fail = |what: &str, e: std::io::Error| {
            TargetError(format!("{what} {}: {e}", self.cfg.path.display()))
        };
        let dir = match self.cfg.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail("cannot create the directory of", e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .tempfile_in(&dir)
            .map_err(|e| fail("cannot create a temp file beside", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("cannot set permissions for", e))?;
        }
        let mut text = serde_json::to_string_pretty(doc)
            .map_err(|e| TargetError(format!("cannot serialise the config: {e}")))?;
        text.push('\n');
        tmp.write_all(text.as_bytes())
            .map_err(|e| fail("cannot write", e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| fail("cannot sync", e))?;
        tmp.persist(&self.cfg.path)
            .map_err(|e| fail("cannot replace", e.error))?;
        Ok(())
    }
}

impl Target for DockerConfig {
    type State = Map<String, Value>;

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<Self::State>, TargetError> {
        let doc = self.read()?;
        if doc.get("auths").is_some_and(|a| !a.is_object()) {
            return Err(TargetError(format!(
                "{}: `auths` is not an object; not touching it",
                self.cfg.path.display()
            )));
        }
        let exists = doc.get("auths").and_then(|a| a.get(&cred.host)).is_some();
        let action = if exists {
            Action::Update
        } else {
            Action::Create
        };
        let detail = format!(
            "{}: auths[{:?}].auth={}",
            self.cfg.path.display(),
            cred.host,
            Cred::redacted(&cred.auth)
        );
        Ok(Plan {
            action,
            detail,
            problems: Vec::new(),
            state: doc,
        })
    }

    async fn apply(
        &self,
        cred: &Arc<Cred>,
        plan: Plan<Self::State>,
    ) -> Result<String, TargetError> {
        let mut doc = plan.state;
        let auths = doc.entry("auths").or_insert_with(|| json!({}));
        if let Value::Object(auths) = auths {
            auths.insert(
                cred.host.clone(),
                json!({ "auth": cred.auth.expose_secret() }),
            );
        }
        self.write(&Value::Object(doc))?;
        Ok(format!(
            "wrote auths[{:?}] in {}",
            cred.host,
            self.cfg.path.display()
        ))
    }
}
