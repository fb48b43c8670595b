//! State a plugin keeps for a request between hooks, bounded.
//!
//! A plugin instance lives across requests, and one request reaches it several times:
//! `pre_hook` then `post_hook`, or one `http_stream_chunk_hook` per chunk. What a hook wants
//! to hand to a later hook of the same request (a cache key, text held back from a stream)
//! is kept in a [`RequestMap`] keyed by the request id ([`BifrostContext::request_id`]).
//!
//! Requests do not always reach their last hook (a client disconnects mid-stream, a later
//! plugin short-circuits, the host replaces the instance), so the map is bounded: when it is
//! full, inserting evicts the oldest entry, and [`RequestMap::evicted`] counts how often that
//! happened. Size it for the number of requests in flight at once.
//!
//! The `*_for` methods take the request id from a hook's context.
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//!
//! let mut pending: RequestMap<String> = RequestMap::new(2);
//! pending.insert("r1", "key-1".to_string());
//! pending.insert("r2", "key-2".to_string());
//! pending.insert("r3", "key-3".to_string()); // evicts r1, the oldest
//! assert_eq!(pending.remove("r1"), None);
//! assert_eq!(pending.remove("r3").as_deref(), Some("key-3"));
//! assert_eq!(pending.evicted(), 1);
//! ```
//!

use std::collections::{BTreeMap, HashMap};

use crate::context::BifrostContext;

/// A bounded map from request id to per-request state; the oldest entry is evicted when full.
#[derive(Debug, Clone)]
pub struct RequestMap<T> {
    capacity: usize,
    entries: HashMap<String, (u64, T)>,
    /// Insertion sequence number → request id, oldest first.
    order: BTreeMap<u64, String>,
    next: u64,
    evicted: u64,
}

impl<T> RequestMap<T> {
    /// A map holding at most `capacity` requests (at least 1).
    pub fn new(capacity: usize) -> Self {
        RequestMap {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            evicted: 0,
        }
    }

    /// The most requests held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no request is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries were evicted to make room since the map was created.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Stores `value` for `request_id`, replacing (and returning) any previous value. A new
    /// request evicts the oldest one when the map is full.
    pub fn insert(&mut self, request_id: &str, value: T) -> Option<T> {
        if let Some((_, old)) = self.entries.get_mut(request_id) {
            return Some(std::mem::replace(old, value));
        }
        if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.entries.remove(&oldest);
                self.evicted += 1;
            }
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, request_id.to_string());
        self.entries.insert(request_id.to_string(), (seq, value));
        None
    }

    /// The state of `request_id`.
    pub fn get(&self, request_id: &str) -> Option<&T> {
        self.entries.get(request_id).map(|(_, v)| v)
    }

    /// The state of `request_id`, mutably.
    pub fn get_mut(&mut self, request_id: &str) -> Option<&mut T> {
        self.entries.get_mut(request_id).map(|(_, v)| v)
    }

    /// The state of `request_id`, created with `make` (possibly evicting the oldest) when
    /// absent.
    pub fn get_or_insert_with(&mut self, request_id: &str, make: impl FnOnce() -> T) -> &mut T {
        if !self.entries.contains_key(request_id) {
            self.insert(request_id, make());
        }
        self.get_mut(request_id).expect("inserted above")
    }

    /// Removes and returns the state of `request_id` (a request's last hook calls this).
    pub fn remove(&mut self, request_id: &str) -> Option<T> {
        let (seq, value) = self.entries.remove(request_id)?;
        self.order.remove(&seq);
        Some(value)
    }

    /// Stores `value` for the request `context` belongs to ([`BifrostContext::request_id`]);
    /// `Err(value)` when the context carries no request id.
    pub fn insert_for(&mut self, context: &BifrostContext, value: T) -> Result<Option<T>, T> {
        match context.request_id() {
            Some(id) => Ok(self.insert(id, value)),
            None => Err(value),
        }
    }

    /// The state of the request `context` belongs to.
    pub fn get_for(&self, context: &BifrostContext) -> Option<&T> {
        self.get(context.request_id()?)
    }

    /// The state of the request `context` belongs to, mutably.
    pub fn get_mut_for(&mut self, context: &BifrostContext) -> Option<&mut T> {
        self.get_mut(context.request_id()?)
    }

    /// Removes and returns the state of the request `context` belongs to.
    pub fn remove_for(&mut self, context: &BifrostContext) -> Option<T> {
        self.remove(context.request_id()?)
    }

    /// Forgets every request.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_map_evicts_oldest_insertion_and_counts_it() {
        let mut m = RequestMap::new(3);
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(m.insert(id, i), None);
        }
        // Replacing a value keeps its age and evicts nothing.
        assert_eq!(m.insert("a", 10), Some(0));
        assert_eq!(m.evicted(), 0);
        m.insert("d", 3);
        assert_eq!(m.get("a"), None);
        assert_eq!(m.evicted(), 1);
        assert_eq!(m.len(), 3);
        assert_eq!(m.remove("b"), Some(1));
        m.insert("e", 4);
        assert_eq!(m.evicted(), 1, "a removed entry frees its slot");
        assert_eq!(
            (m.get("c"), m.get("d"), m.get("e")),
            (Some(&2), Some(&3), Some(&4))
        );
    }

    #[test]
    fn get_or_insert_with_creates_once() {
        let mut m = RequestMap::new(0);
        assert_eq!(m.capacity(), 1);
        m.get_or_insert_with("r", Vec::new).push(1);
        m.get_or_insert_with("r", Vec::new).push(2);
        assert_eq!(m.get("r"), Some(&vec![1, 2]));
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn context_keyed_methods_use_the_request_id_and_refuse_without_one() {
        let mut m = RequestMap::new(2);
        let ctx = BifrostContext::from_json(r#"{"request-id":"go-1"}"#).unwrap();
        assert_eq!(m.insert_for(&ctx, 7), Ok(None));
        assert_eq!(m.get("go-1"), Some(&7));
        *m.get_mut_for(&ctx).unwrap() += 1;
        assert_eq!(m.get_for(&ctx), Some(&8));
        assert_eq!(m.remove_for(&ctx), Some(8));
        assert_eq!(m.insert_for(&BifrostContext::new(), 1), Err(1));
        assert!(m.is_empty());
    }
}
