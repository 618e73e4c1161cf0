//! serde for one TOML config table (export's and the helper's) with errors that name the key: each value is wrapped with its
//! key, so a type error says which key it is about. Messages never carry the offending value
//! (a secret pasted in the wrong place stays out of the terminal), only the key and what was
//! expected; an unknown key comes with the key it probably meant.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

/// What went wrong in a table: the key (when known) and why.
#[derive(Debug)]
pub struct KeyedError {
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for KeyedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyedError {}

impl de::Error for KeyedError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        KeyedError {
            key: None,
            message: msg.to_string(),
        }
    }
}

/// One value of the table, with its key.
struct Keyed {
    key: String,
    value: toml::Value,
}

impl Keyed {
    fn tag(key: String) -> impl FnOnce(toml::de::Error) -> KeyedError {
        move |e| KeyedError {
            key: Some(key),
            message: e.message().to_string(),
        }
    }
}

impl<'de> IntoDeserializer<'de, KeyedError> for Keyed {
    type Deserializer = Keyed;
    fn into_deserializer(self) -> Keyed {
        self
    }
}

impl<'de> de::Deserializer<'de> for Keyed {
    type Error = KeyedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyedError> {
        self.value
            .deserialize_any(visitor)
            .map_err(Keyed::tag(self.key))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyedError> {
        // Present means `Some`: a missing key never reaches a deserializer.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, KeyedError> {
        self.value
            .deserialize_newtype_struct(name, visitor)
            .map_err(Keyed::tag(self.key))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, KeyedError> {
        self.value
            .deserialize_enum(name, variants, visitor)
            .map_err(Keyed::tag(self.key))
    }

    serde::forward_to_deserialize_any! {
        bool u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 char str string unit seq
        bytes byte_buf map unit_struct tuple_struct struct tuple ignored_any identifier
    }
}

/// Deserializes `table` as `T`; an error is turned into `(key, reason)`.
pub fn from_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, (String, String)> {
    let present: Vec<String> = table.keys().cloned().collect();
    let pairs = table.into_iter().map(|(key, value)| {
        (
            key.clone(),
            Keyed {
                key: key.clone(),
                value,
            },
        )
    });
    T::deserialize(de::value::MapDeserializer::new(pairs)).map_err(|e| explain(e, &present))
}

/// `missing field `x``, `unknown field `x`, expected one of ...`, `invalid type: string "...",
/// expected a string` as `(key, reason)` in the config's words, without the value.
fn explain(e: KeyedError, present: &[String]) -> (String, String) {
    let message = e.message;
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return (field.to_string(), "missing required key".to_string());
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return (field.to_string(), unknown_key(field, &known, present));
    }
    let reason = match message.split_once(", expected ") {
        Some((head, expected))
            if head.starts_with("invalid type") || head.starts_with("invalid value") =>
        {
            let expected = match expected {
                "i64" | "u32" | "u64" | "usize" => "an integer",
                "a sequence" => "a list",
                "path string" => "a string",
                other => other,
            };
            format!("expected {expected}")
        }
        _ => message,
    };
    (e.key.unwrap_or_default(), reason)
}

/// The reason for an unknown key: the key it probably meant, and whether that one is set.
pub fn unknown_key(field: &str, known: &[&str], present: &[String]) -> String {
    let near = known
        .iter()
        .filter(|k| edit_distance(k, field) <= 2)
        .min_by_key(|k| edit_distance(k, field));
    match near {
        Some(near) if !present.iter().any(|p| p == near) => {
            format!("unknown key (did you mean `{near}`? `{near}` is not set)")
        }
        Some(near) => format!("unknown key (did you mean `{near}`?)"),
        None => format!("unknown key (expected one of: {})", known.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean" on short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Where and why the TOML is invalid, without the quoted source line that `toml`'s `Display`
/// shows: on a syntax error that line may hold a pasted API key.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let reason = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("invalid TOML at line {line}, column {column}: {reason}")
        }
        None => format!("invalid TOML: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        path: String,
        count: Option<u32>,
    }

    fn parse(text: &str) -> Result<T, (String, String)> {
        from_table(text.parse::<toml::Table>().expect("toml"))
    }

    #[test]
    fn errors_name_the_key_never_the_value() {
        assert_eq!(
            parse("paht = \"/x\"").unwrap_err(),
            (
                "paht".into(),
                "unknown key (did you mean `path`? `path` is not set)".into()
            )
        );
        assert_eq!(
            parse("count = 1").unwrap_err(),
            ("path".into(), "missing required key".into())
        );
        let (key, reason) = parse("path = \"/x\"\ncount = \"rpa_SECRET\"").unwrap_err();
        assert_eq!(key, "count");
        assert!(!reason.contains("rpa_SECRET"), "{reason}");
        assert_eq!(reason, "expected an integer");
    }

    #[test]
    fn near_keys_are_suggested() {
        assert_eq!(edit_distance("paht", "path"), 2);
        assert_eq!(edit_distance("namespace", "namespaces"), 1);
    }
}
