//! `export`: push ECR credentials to platforms that only store a static registry password.

/// Entry point for `docker-credential-ecr-login export ...`; returns the process exit code.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    let _ = args;
    eprintln!("docker-credential-ecr-login export: not available in this build yet");
    2
}
