//! Reading a YAML document within a budget. YAML anchors and aliases let a small document stand
//! for a huge one (each alias repeats what its anchor names, and anchors can nest: a "billion
//! laughs" document of a few kilobytes expands to gigabytes). The reader counts every node as
//! the parser hands it over, aliases expanded, and stops at the first one over the budget, so
//! the work done on any document is bounded by the budget, not by what it expands to.

use std::cell::Cell;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_norway::{
    Mapping, Number, Value,
    value::{Tag, TaggedValue},
};

/// What one document may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Nodes (scalars, sequences, mappings), counted after aliases are expanded.
    pub max_nodes: usize,
    /// Nesting depth.
    pub max_depth: usize,
    /// Bytes of the document once written back out on its own (it is stored as one key).
    pub max_bytes: usize,
}

impl Budget {
    /// A real artifact has a few hundred nodes, a few levels deep, a few kilobytes long; these
    /// leave two orders of magnitude of room and still bound a document's cost to
    /// milliseconds. 1 MiB keeps a stored artifact well inside one etcd request (1.5 MiB).
    pub const DEFAULT: Budget = Budget {
        max_nodes: 100_000,
        max_depth: 64,
        max_bytes: 1024 * 1024,
    };
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// Why a document could not be read.
pub(crate) enum ReadError<E> {
    /// It went over the budget (the message names the limit).
    OverBudget(E),
    /// It is not valid YAML.
    Yaml(E),
}

/// Reads one document into a [`Value`], failing as soon as it goes over `budget`.
pub(crate) fn read<'de, D: Deserializer<'de>>(
    de: D,
    budget: Budget,
) -> Result<Value, ReadError<D::Error>> {
    let nodes = Cell::new(0);
    let over = Cell::new(false);
    let seed = Seed {
        budget: &budget,
        nodes: &nodes,
        over: &over,
        depth: 0,
    };
    seed.deserialize(de).map_err(|e| {
        if over.get() {
            ReadError::OverBudget(e)
        } else {
            ReadError::Yaml(e)
        }
    })
}

/// Whether a YAML reader error is one of the reader's own limits (aliases expanding to more
/// than a hundred times the document's events, or nesting past 128 levels), which it may reach
/// before the budget does.
pub(crate) fn reader_limit(message: &str) -> bool {
    message.contains("repetition limit exceeded") || message.contains("recursion limit exceeded")
}

#[derive(Clone, Copy)]
struct Seed<'b> {
    budget: &'b Budget,
    nodes: &'b Cell<usize>,
    /// Set when the budget refused a node.
    over: &'b Cell<bool>,
    depth: usize,
}

impl Seed<'_> {
    /// Counts one node; refuses it if it is over the budget.
    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.nodes.get() + 1;
        self.nodes.set(n);
        if n > self.budget.max_nodes {
            self.over.set(true);
            return Err(E::custom(format_args!(
                "the document has more than {} YAML nodes once anchors and aliases are expanded; the limit is {}",
                self.budget.max_nodes, self.budget.max_nodes
            )));
        }
        if self.depth > self.budget.max_depth {
            self.over.set(true);
            return Err(E::custom(format_args!(
                "the document nests deeper than {} levels; the limit is {}",
                self.budget.max_depth, self.budget.max_depth
            )));
        }
        Ok(())
    }

    fn child(&self) -> Seed<'_> {
        Seed {
            depth: self.depth + 1,
            ..*self
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Number(Number::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Number(Number::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Number(Number::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        self.deserialize(de)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        self.deserialize(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.count()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child())? {
            items.push(v);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.count()?;
        let mut out = Mapping::new();
        while let Some(k) = map.next_key_seed(self.child())? {
            let v = map.next_value_seed(self.child())?;
            out.insert(k, v);
        }
        Ok(Value::Mapping(out))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A tagged node (`!tag value`).
        self.count()?;
        let (tag, variant) = data.variant::<String>()?;
        let value = variant.newtype_variant_seed(self.child())?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, budget: Budget) -> Result<Value, String> {
        let de = serde_norway::Deserializer::from_str(text);
        read(de, budget).map_err(|e| match e {
            ReadError::OverBudget(e) => format!("over budget: {e}"),
            ReadError::Yaml(e) => e.to_string(),
        })
    }

    #[test]
    fn a_document_within_budget_reads_as_the_plain_reader_does() {
        let text = "a: &x [1, two, {b: !t c}]\nd: *x\ne: null\nf: 1.5\n";
        let plain: Value = serde_norway::from_str(text).unwrap();
        assert_eq!(read_str(text, Budget::DEFAULT), Ok(plain));
    }

    #[test]
    fn aliases_count_every_time_they_expand_and_the_reader_stops_at_the_limit() {
        // Each level doubles the one below: 2^20 leaves from a few hundred bytes.
        let mut text = String::from("l0: &l0 [x, x]\n");
        for i in 1..=20 {
            text.push_str(&format!("l{i}: &l{i} [*l{}, *l{}]\n", i - 1, i - 1));
        }
        let budget = Budget {
            max_nodes: 1000,
            ..Budget::DEFAULT
        };
        let e = read_str(&text, budget).unwrap_err();
        assert!(e.starts_with("over budget: "), "{e}");
        assert!(e.contains("more than 1000 YAML nodes"), "{e}");
        assert!(e.contains("the limit is 1000"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let text = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let budget = Budget {
            max_depth: 10,
            ..Budget::DEFAULT
        };
        let e = read_str(&text, budget).unwrap_err();
        assert!(e.contains("deeper than 10 levels"), "{e}");
    }
}
