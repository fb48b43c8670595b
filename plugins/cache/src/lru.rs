//! A bounded least-recently-used map from cache key to chat response text.

use std::collections::{BTreeMap, HashMap};

use crate::Key;

/// Responses by key, bounded in count and in bytes; the least recently used goes first.
#[derive(Debug, Default)]
pub struct Lru {
    entries: HashMap<Key, (u64, String)>,
    /// Last use → key, least recent first.
    order: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    evicted: u64,
}

impl Lru {
    /// An empty cache of at most `max_entries` entries and `max_bytes` bytes of values.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Lru {
            max_entries: max_entries.max(1),
            max_bytes,
            ..Default::default()
        }
    }

    fn touch(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The value of `key`, marking it most recently used.
    pub fn get(&mut self, key: &Key) -> Option<&str> {
        let now = self.touch();
        let (used, _) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = now;
        self.order.insert(now, *key);
        self.entries.get(key).map(|(_, v)| v.as_str())
    }

    /// Stores `value` under `key` (replacing an older value), evicting least recently used
    /// entries until it fits. Returns false, storing nothing, when `value` alone is larger
    /// than the byte bound.
    pub fn put(&mut self, key: Key, value: String) -> bool {
        if value.len() > self.max_bytes {
            return false;
        }
        self.remove(&key);
        while self.entries.len() >= self.max_entries || self.bytes + value.len() > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, v)) = self.entries.remove(&oldest) {
                self.bytes -= v.len();
                self.evicted += 1;
            }
        }
        let now = self.touch();
        self.bytes += value.len();
        self.order.insert(now, key);
        self.entries.insert(key, (now, value));
        true
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&mut self, key: &Key) -> bool {
        match self.entries.remove(key) {
            Some((used, v)) => {
                self.order.remove(&used);
                self.bytes -= v.len();
                true
            }
            None => false,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of values held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries evicted to make room so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn least_recently_used_entry_is_evicted_first() {
        let mut lru = Lru::new(2, 1000);
        lru.put(k(1), "one".into());
        lru.put(k(2), "two".into());
        assert_eq!(lru.get(&k(1)), Some("one")); // 2 is now the least recently used
        lru.put(k(3), "three".into());
        assert_eq!(lru.get(&k(2)), None);
        assert_eq!(lru.get(&k(1)), Some("one"));
        assert_eq!(lru.get(&k(3)), Some("three"));
        assert_eq!(lru.evicted(), 1);
    }

    #[test]
    fn byte_bound_evicts_until_the_value_fits_and_rejects_oversized_values() {
        let mut lru = Lru::new(10, 10);
        lru.put(k(1), "aaaa".into());
        lru.put(k(2), "bbbb".into());
        assert!(lru.put(k(3), "cccccc".into()));
        assert_eq!(lru.get(&k(1)), None);
        assert_eq!(lru.bytes(), 10);
        assert!(!lru.put(k(4), "x".repeat(11)));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn replacing_a_key_keeps_the_byte_count_right() {
        let mut lru = Lru::new(10, 100);
        lru.put(k(1), "aaaa".into());
        lru.put(k(1), "bb".into());
        assert_eq!((lru.len(), lru.bytes()), (1, 2));
        assert!(lru.remove(&k(1)));
        assert!(lru.is_empty());
        assert_eq!(lru.bytes(), 0);
    }
}
