//! User-facing commands beyond the credential-helper protocol (clap-parsed, off the hot path).
pub mod doctor;
