//! Error messages for humans and logs, built from `Display` only.
//!
//! `Debug` forms of SDK and HTTP errors can hold whole raw responses — an STS or SSO reply the
//! SDK could not parse still carries the temporary keys in its body — so no error text in this
//! crate is ever built from `{:?}` (which `aws_smithy_types::error::display::DisplayErrorContext`
//! appends).

/// `error: source: source's source: …`, each level's `Display` only.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        // Some wrappers repeat their source's message in their own; don't print it twice.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn joins_display_of_every_level_and_never_debug() {
        let secret_body = Layer("body: SecretAccessKey=abc", None);
        let e = Layer(
            "service error",
            Some(Box::new(Layer(
                "unhandled response",
                Some(Box::new(secret_body)),
            ))),
        );
        // The Debug form would hold the whole tree; Display levels are what we print.
        assert_eq!(
            error_chain(&e),
            "service error: unhandled response: body: SecretAccessKey=abc"
        );
        let repeated = Layer("io: not found", Some(Box::new(Layer("not found", None))));
        assert_eq!(error_chain(&repeated), "io: not found");
    }
}
