//! `docker-credential-ecr-login`: an Amazon ECR Docker credential helper and credential exporter.
//!
//! Data flows one way: `protocol` (wire format) → `registry` (which ECR) → `identity` (who asks)
//! → `cache` / `token` (fresh enough?) → `ecr` (fetch) → reply. `export` and `kubelet` (the
//! kubelet's image credential provider) reuse `routing` and `token`.

pub mod aws_profile;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod delegate;
pub mod ecr;
pub mod error_chain;
pub mod export;
pub mod fsutil;
pub mod helper;
pub mod helper_config;
pub mod identity;
pub mod json_doc;
pub mod kubelet;
pub mod logging;
pub mod protocol;
pub mod registry;
pub mod routing;
pub mod settings;
pub mod token;
pub mod toml_keys;
