//! Interning of JSON values, so register states are small integers that hash fast.

use std::collections::HashMap;

use serde_json::Value;

/// Interned id of `null` (the value of a key never written).
pub const NULL: u32 = 0;

/// A table of the distinct values in a history. Ids are dense, `0` is `null`.
#[derive(Debug, Clone)]
pub struct Values {
    ids: HashMap<String, u32>,
    texts: Vec<String>,
}

impl Default for Values {
    fn default() -> Self {
        Self::new()
    }
}

impl Values {
    /// A table holding only `null`.
    pub fn new() -> Self {
        let mut ids = HashMap::new();
        ids.insert("null".to_string(), NULL);
        Values {
            ids,
            texts: vec!["null".to_string()],
        }
    }

    /// The id of `v` (canonical JSON text; objects have sorted keys), adding it if new.
    pub fn intern(&mut self, v: &Value) -> u32 {
        let text = v.to_string();
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).expect("fewer than 2^32 distinct values");
        self.ids.insert(text.clone(), id);
        self.texts.push(text);
        id
    }

    /// The JSON text of an id.
    pub fn show(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or("?", String::as_str)
    }

    /// How many distinct values are interned.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// True when only `null` is interned.
    pub fn is_empty(&self) -> bool {
        self.texts.len() <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_share_an_id_and_null_is_zero() {
        let mut v = Values::new();
        assert_eq!(v.intern(&Value::Null), NULL);
        let a = v.intern(&json!({"b": 1, "a": 2}));
        let b = v.intern(&json!({"a": 2, "b": 1}));
        assert_eq!(a, b);
        assert_ne!(v.intern(&json!(1)), v.intern(&json!("1")));
        assert_eq!(v.show(a), r#"{"a":2,"b":1}"#);
    }
}
