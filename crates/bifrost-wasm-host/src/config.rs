//! Bifrost config.json plugin entries (work in progress).
