//! A JSON object whose values stay exactly as written, in the file's order.
//!
//! Both writers of other tools' Docker config files (`export`'s docker-config target and
//! `configure-docker`) change one or two entries and must give every other value back byte for
//! byte. Decoding into `serde_json::Value` and encoding again would not: a float or an integer
//! beyond 64 bits comes back rounded (`1.5555555555555555e89` as `…557e89`), and a number out of
//! f64's range (`1e400`) does not decode at all. So values are kept as their JSON text
//! ([`RawValue`]), and only the entries being changed are ever decoded.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap as _;
use serde_json::value::RawValue;
use std::fmt;

/// A JSON object's entries in order. A key given twice keeps its first place and its last
/// value, as serde_json's order-preserving map does.
#[derive(Clone, Debug)]
pub struct InOrder<K, V>(pub Vec<(K, V)>);

/// A JSON object with every value as written.
pub type Entries = InOrder<String, Box<RawValue>>;

impl<K, V> Default for InOrder<K, V> {
    fn default() -> Self {
        InOrder(Vec::new())
    }
}

impl<K: AsRef<str>, V> InOrder<K, V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0
            .iter_mut()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    /// Replaces the value in place, or appends the entry.
    pub fn insert(&mut self, key: K, value: V) {
        match self.get_mut(key.as_ref()) {
            Some(slot) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let at = self.0.iter().position(|(k, _)| k.as_ref() == key)?;
        Some(self.0.remove(at).1)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for InOrder<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Entries {
    /// The value of `key` as written.
    pub fn raw(&self, key: &str) -> Option<&RawValue> {
        self.get(key).map(|v| &**v)
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Entries::default();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.insert(key, value);
                }
                Ok(entries)
            }
        }
        d.deserialize_map(Object)
    }
}

/// The entries of a value, each as written; `None` if it is not an object.
pub fn entries_of(raw: &RawValue) -> Option<Entries> {
    serde_json::from_str(raw.get()).ok()
}

/// A value that is a JSON string, decoded; `None` for anything else.
pub fn string_of(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_as_written_in_order() {
        let text = r#"{"z": 1.5555555555555555e89, "big": 123456789012345678901234567890, "far": 1e400, "a": {"x" : [1,2]}, "z": 2}"#;
        let doc: Entries = serde_json::from_str(text).expect("object");
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["z", "big", "far", "a"]);
        assert_eq!(doc.get("z").map(|v| v.get()), Some("2"));
        assert_eq!(
            serde_json::to_string(&doc).expect("serialises"),
            r#"{"z":2,"big":123456789012345678901234567890,"far":1e400,"a":{"x" : [1,2]}}"#
        );
        assert!(serde_json::from_str::<Entries>("[1]").is_err());
        assert_eq!(
            doc.get("a").and_then(|a| entries_of(a)).map(|e| e.0.len()),
            Some(1)
        );
        assert_eq!(doc.get("z").and_then(|z| string_of(z)), None);
    }
}
