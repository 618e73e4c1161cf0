//! User-facing commands beside the protocol actions and `export`: each parses its own
//! arguments with clap (off the hot path; `main` picks the command by its name first) and
//! returns the process exit code.

pub mod configure_docker;
pub mod docker_edit;
pub mod doctor;
pub mod policy;
pub mod registries;
