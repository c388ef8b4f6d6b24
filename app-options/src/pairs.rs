//! The adapter from option pairs to an options struct.
//!
//! Options arrive as `key value` pairs: CLI words (`uri tcp://0.0.0.0/7 mss
//! 1200 fifo-size 64k`, every value a word) or a config table's entries
//! (`mss = 1200`, `fifo_size = "64k"`, values typed by TOML). Both become a
//! list of [`Value`]s under their keys and go through one serde
//! [`Deserializer`](serde::Deserializer), so a struct is defined once (with
//! `#[derive(Deserialize)]`), every field is parsed by one function whatever
//! the source, and every error names the key the user wrote.
//!
//! Keys may use `-` or `_` (`fifo-size`, `fifo_size`); `nodelay` and
//! `workers` are the old spellings of `no_delay` and `threads`.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// One option's value as given.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A word (every CLI value) or a TOML string.
    Str(String),
    /// A TOML integer.
    Int(i64),
    /// A TOML float.
    Float(f64),
    /// A TOML boolean.
    Bool(bool),
}

/// Option pairs in the order given.
pub type Pairs = Vec<(String, Value)>;

/// An option refused: the key as the user wrote it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    /// The key (`mss`, `fifo-size`, `app` for the whole thing).
    pub key: String,
    /// Why, e.g. `0 is outside 88..=9000`.
    pub reason: String,
}

impl OptionsError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> OptionsError {
        OptionsError { key: key.into(), reason: reason.into() }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for OptionsError {}

/// Splits `key value key value ...` into pairs; a key without a value is an error.
pub fn word_pairs(words: &[&str]) -> Result<Pairs, OptionsError> {
    let mut pairs = Vec::with_capacity(words.len() / 2);
    let mut it = words.iter();
    while let Some(&k) = it.next() {
        let v = it.next().ok_or_else(|| OptionsError::new(k, "needs a value"))?;
        pairs.push((k.to_string(), Value::Str(v.to_string())));
    }
    Ok(pairs)
}

/// The field name a key stands for: `-` as `_`, old spellings as the new (`nodelay`, `workers`).
pub fn field_name(key: &str) -> String {
    match key {
        "nodelay" => "no_delay".into(),
        "workers" => "threads".into(),
        k => k.replace('-', "_"),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The error the deserializer raises; the key is filled in where it is known.
#[derive(Debug)]
pub(crate) struct DeError {
    key: Option<String>,
    reason: String,
}

impl DeError {
    fn keyed(mut self, key: &str) -> DeError {
        self.key.get_or_insert_with(|| key.to_string());
        self
    }

    pub(crate) fn into_options_error(self) -> OptionsError {
        OptionsError { key: self.key.unwrap_or_else(|| "options".into()), reason: self.reason }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{k}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for DeError {}

/// Reason of an unknown key (the struct-level code may say who takes it instead).
pub(crate) const UNKNOWN: &str = "unknown option";

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { key: None, reason: msg.to_string() }
    }

    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> Self {
        DeError { key: None, reason: UNKNOWN.into() }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        // Aliases such as `global,local` are accepted but not advertised.
        let shown: Vec<&str> = expected.iter().copied().filter(|v| !v.contains(',')).collect();
        DeError { key: None, reason: format!("{variant:?} is not {}", or_list(&shown)) }
    }

    fn missing_field(field: &'static str) -> Self {
        let reason = if field == "uri" { "is required (e.g. uri udp://0.0.0.0/7)" } else { "is required" };
        DeError { key: Some(field.into()), reason: reason.into() }
    }

    fn duplicate_field(_field: &'static str) -> Self {
        DeError { key: None, reason: "is given twice".into() }
    }
}

/// Deserializes `T` (a struct) from `pairs`.
pub(crate) fn from_pairs<T: DeserializeOwned>(pairs: &[(String, Value)]) -> Result<T, DeError> {
    // Serde's derive refuses a repeated field before its value is read, where
    // the key is not known; say which here.
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(earlier, _)| field_name(earlier) == field_name(k)) {
            return Err(DeError { key: Some(k.clone()), reason: "is given twice".into() });
        }
    }
    T::deserialize(MapDe { pairs, next: 0 })
}

/// The pairs as a map.
struct MapDe<'a> {
    pairs: &'a [(String, Value)],
    next: usize,
}

impl<'de> de::Deserializer<'de> for MapDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.pairs.get(self.next) else { return Ok(None) };
        let name: de::value::StringDeserializer<DeError> = field_name(key).into_deserializer();
        seed.deserialize(name).map(Some).map_err(|e| e.keyed(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = &self.pairs[self.next];
        self.next += 1;
        seed.deserialize(ValueDe(value)).map_err(|e| e.keyed(key))
    }
}

/// One value.
struct ValueDe<'a>(&'a Value);

impl<'de> de::Deserializer<'de> for ValueDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Str(s) => visitor.visit_str(s),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Bool(b) => visitor.visit_bool(*b),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The field names of struct `T`, read off its derived `Deserialize`.
pub(crate) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fields")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    struct Probe;
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(f)) => f,
        Ok(_) => &[],
    }
}

/// Collects any serde map (a TOML table, JSON object) into [`Pairs`], so the
/// kinds' `Deserialize` impls run the same adapter as the CLI.
pub(crate) struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Pairs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of options")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>().map_err(|e| de::Error::custom(format!("{key}: {e}")))?;
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a word, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Str(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v).map(Value::Int).map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn words_pair_up() {
        let p = word_pairs(&["uri", "tcp://0.0.0.0/7", "mss", "1200"]).unwrap();
        assert_eq!(p[1], ("mss".to_string(), Value::Str("1200".into())));
        assert_eq!(word_pairs(&["uri", "x", "mss"]).unwrap_err().to_string(), "mss: needs a value");
        assert!(word_pairs(&[]).unwrap().is_empty());
    }

    #[test]
    fn keys_take_either_spelling() {
        assert_eq!(field_name("fifo-size"), "fifo_size");
        assert_eq!(field_name("nodelay"), "no_delay");
        assert_eq!(field_name("workers"), "threads");
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    }
}
