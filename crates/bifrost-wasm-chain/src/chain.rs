//! The ordered plugins of a chain.

use std::fmt;
use std::sync::Arc;

use bifrost_wasm_host::{Hook, HookRunner};
use bifrost_wasm_types::shape::RequestShape;

use crate::config::FailurePolicy;
use crate::record::HookObserver;

/// One plugin in a chain.
#[derive(Clone)]
pub struct ChainPlugin {
    /// The name used in logs and errors (the config entry's name).
    pub name: String,
    /// What happens when it fails.
    pub policy: FailurePolicy,
    /// Runs its hooks (one shared instance, or a pool).
    pub runner: Arc<dyn HookRunner>,
    /// Which hooks the plugin implements (bit `Hook::index`), asked once.
    hooks: u8,
}

impl ChainPlugin {
    /// A chain member.
    pub fn new(name: impl Into<String>, policy: FailurePolicy, runner: Arc<dyn HookRunner>) -> Self {
        let hooks = Hook::ALL
            .into_iter()
            .filter(|h| runner.implements(*h))
            .fold(0u8, |bits, h| bits | 1 << h.index());
        ChainPlugin {
            name: name.into(),
            policy,
            runner,
            hooks,
        }
    }

    /// Whether the plugin implements `hook`.
    pub fn implements(&self, hook: Hook) -> bool {
        self.hooks & (1 << hook.index()) != 0
    }
}

impl fmt::Debug for ChainPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainPlugin")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The ordered plugins and the request shape sent to them.
#[derive(Clone)]
pub struct Chain {
    plugins: Vec<ChainPlugin>,
    shape: RequestShape,
    observer: Option<Arc<dyn HookObserver>>,
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("plugins", &self.plugins)
            .field("shape", &self.shape)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl Chain {
    /// A chain running `plugins` in this order (pre-hooks) and in reverse (post-hooks).
    pub fn new(plugins: Vec<ChainPlugin>, shape: RequestShape) -> Self {
        Chain {
            plugins,
            shape,
            observer: None,
        }
    }

    /// The chain with `observer` told of every hook call (e.g. a
    /// [`Recorder`](crate::record::Recorder)).
    pub fn with_observer(mut self, observer: Arc<dyn HookObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The observer of hook calls, if any.
    pub fn observer(&self) -> Option<&Arc<dyn HookObserver>> {
        self.observer.as_ref()
    }

    /// The plugins in pre-hook order.
    pub fn plugins(&self) -> &[ChainPlugin] {
        &self.plugins
    }

    /// The request shape sent to `pre_hook` (and the response shape sent to `post_hook`).
    pub fn shape(&self) -> RequestShape {
        self.shape
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when the chain has no plugins.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Whether any plugin implements `hook`.
    pub fn any_implements(&self, hook: Hook) -> bool {
        self.plugins.iter().any(|p| p.implements(hook))
    }
}
