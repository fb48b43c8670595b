//! Deserialization helpers for values Go may send as `null`.

use serde::{Deserialize, Deserializer};

/// Deserializes `T`, mapping JSON `null` to `T::default()` (Go encodes nil maps, slices and
/// byte slices as `null`).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
