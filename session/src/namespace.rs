//! Application namespaces.
//!
//! A namespace is the world an application lives in: it names the FIB
//! (routing table) whose global session tables the app's global-scope
//! listeners go into and whose addresses it binds and connects with, it owns
//! a local session table for local-scope (same-node, cut-through) listeners,
//! and it may be tied to one interface. Joining a namespace other than the
//! default requires knowing its secret, which is how an operator keeps
//! tenants apart on one node. This mirrors VPP's `app_namespace.c`: the
//! default namespace (index 0, fib 0) always exists, and `app ns add` on an
//! existing id updates it in place.
//!
//! Namespaces are never deleted, so an application's namespace index can't
//! dangle and the default namespace can't be removed.

use std::collections::HashMap;

use crate::application::check_name;
use crate::error::SessionError;

/// Index of the default namespace, which always exists.
pub const DEFAULT_NAMESPACE_INDEX: u32 = 0;
/// Id of the default namespace.
pub const DEFAULT_NAMESPACE_ID: &str = "default";

/// One namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Index in the namespace table (0 = default).
    pub index: u32,
    /// Name given by the operator.
    pub id: String,
    /// Secret an application must present to attach in this namespace (ignored for the default).
    pub secret: u64,
    /// FIB whose global session tables this namespace's apps use.
    pub fib_index: u32,
    /// Interface the namespace is tied to, if any.
    pub sw_if_index: Option<u32>,
}

/// All namespaces, by index and by id.
#[derive(Debug, Clone)]
pub struct NamespaceTable {
    namespaces: Vec<Namespace>,
    by_id: HashMap<String, u32>,
}

impl Default for NamespaceTable {
    fn default() -> Self {
        Self::new()
    }
}

impl NamespaceTable {
    /// A table holding only the default namespace.
    pub fn new() -> Self {
        let default = Namespace {
            index: DEFAULT_NAMESPACE_INDEX,
            id: DEFAULT_NAMESPACE_ID.to_owned(),
            secret: 0,
            fib_index: 0,
            sw_if_index: None,
        };
        let by_id = HashMap::from([(default.id.clone(), DEFAULT_NAMESPACE_INDEX)]);
        Self { namespaces: vec![default], by_id }
    }

    /// Adds a namespace, or updates secret, fib and interface of an existing one; returns its index.
    ///
    /// Updating the fib only affects listeners created afterwards: existing
    /// ones stay in the tables they were registered in until they go away.
    pub fn add(
        &mut self,
        id: &str,
        secret: u64,
        fib_index: u32,
        sw_if_index: Option<u32>,
    ) -> Result<u32, SessionError> {
        check_name("namespace_id", id)?;
        if let Some(&index) = self.by_id.get(id) {
            let ns = &mut self.namespaces[index as usize];
            ns.secret = secret;
            ns.fib_index = fib_index;
            ns.sw_if_index = sw_if_index;
            return Ok(index);
        }
        let index = u32::try_from(self.namespaces.len())
            .map_err(|_| SessionError::invalid("namespace_id", "too many namespaces"))?;
        self.namespaces.push(Namespace { index, id: id.to_owned(), secret, fib_index, sw_if_index });
        self.by_id.insert(id.to_owned(), index);
        Ok(index)
    }

    /// The namespace with this index.
    pub fn get(&self, index: u32) -> Option<&Namespace> {
        self.namespaces.get(index as usize)
    }

    /// The namespace with this id.
    pub fn lookup(&self, id: &str) -> Option<&Namespace> {
        self.by_id.get(id).and_then(|&i| self.get(i))
    }

    /// Checks that an app may join namespace `id` with `secret`; returns the namespace index.
    ///
    /// An empty id or `default` names the default namespace, whose secret is
    /// not checked (every app may use it).
    pub fn validate(&self, id: &str, secret: u64) -> Result<u32, SessionError> {
        if id.is_empty() || id == DEFAULT_NAMESPACE_ID {
            return Ok(DEFAULT_NAMESPACE_INDEX);
        }
        let ns = self.lookup(id).ok_or_else(|| SessionError::InvalidNamespace(id.to_owned()))?;
        if ns.secret != secret {
            return Err(SessionError::WrongNamespaceSecret(id.to_owned()));
        }
        Ok(ns.index)
    }

    /// All namespaces, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Namespace> {
        self.namespaces.iter()
    }

    /// Number of namespaces, the default included.
    pub fn len(&self) -> usize {
        self.namespaces.len()
    }

    /// Always false: the default namespace always exists.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn default_always_present() {
        let t = NamespaceTable::new();
        assert_eq!(t.len(), 1);
        let d = t.get(DEFAULT_NAMESPACE_INDEX).unwrap();
        assert_eq!((d.id.as_str(), d.secret, d.fib_index), ("default", 0, 0));
        assert_eq!(t.lookup("default").unwrap().index, 0);
    }

    #[test]
    fn add_then_update_keeps_index() {
        let mut t = NamespaceTable::new();
        let a = t.add("blue", 42, 3, Some(1)).unwrap();
        assert_eq!(a, 1);
        let again = t.add("blue", 7, 4, None).unwrap();
        assert_eq!(again, a);
        assert_eq!(t.len(), 2);
        let ns = t.get(a).unwrap();
        assert_eq!((ns.secret, ns.fib_index, ns.sw_if_index), (7, 4, None));
        assert_eq!(t.add("red", 1, 0, None).unwrap(), 2);
        let ids: Vec<_> = t.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["default", "blue", "red"]);
    }

    #[test]
    fn bad_ids_name_the_key() {
        let mut t = NamespaceTable::new();
        for id in ["", "a b", "tab\there", &"x".repeat(65)] {
            match t.add(id, 0, 0, None) {
                Err(SessionError::InvalidValue { key, .. }) => assert_eq!(key, "namespace_id"),
                other => panic!("{id:?}: {other:?}"),
            }
        }
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn validate_rules() {
        let mut t = NamespaceTable::new();
        let blue = t.add("blue", 42, 3, None).unwrap();
        assert_eq!(t.validate("", 999), Ok(0));
        assert_eq!(t.validate("default", 999), Ok(0));
        assert_eq!(t.validate("blue", 42), Ok(blue));
        assert_eq!(t.validate("blue", 41), Err(SessionError::WrongNamespaceSecret("blue".into())));
        assert_eq!(t.validate("green", 42), Err(SessionError::InvalidNamespace("green".into())));
    }
}
