//! `guard`: a Bifrost plugin that enforces a gateway's model policy in `pre_hook`.
//!
//! For every request, in this order:
//!
//! 1. **Alias**: a requested model named in `aliases` is rewritten to its target (`model` or
//!    `provider/model`, which also sets the provider).
//! 2. **Allow / deny lists** of providers and models (patterns with `*`, matched
//!    case-insensitively against the model and against `provider/model`). A deny match wins
//!    over an allow match; a non-empty allow list admits only what it matches. A refused
//!    request is answered with a Bifrost error, status 403, type `forbidden`, and never
//!    reaches a provider.
//! 3. **Token cap** (chat, text-completion and Responses requests): the request's token
//!    limit above `max_completion_tokens` is lowered to it, and set to it when absent (a
//!    provider's own default may be larger). The limit is `params.max_completion_tokens` for
//!    chat (a legacy `params.max_tokens` above the cap is lowered too), `params.max_tokens`
//!    for a text completion and `params.max_output_tokens` for a Responses request (what an
//!    Anthropic `/v1/messages` request becomes).
//! 4. **System prompt** (chat and Responses requests): `system_prompt` is inserted as the
//!    first message when no `system` or `developer` message is present — for a Responses
//!    request as a `{"type":"message","role":"system","content":…}` item, and not when its
//!    `params.instructions` (the Responses API's system prompt) is set. Text completions have
//!    no messages and get none.
//!
//! Embedding, speech, transcription and image requests get the alias, the lists and the
//! fallbacks, and nothing else. A Responses request in the flat shape reads as chat (its
//! `input` array looks like chat's): it is capped by `max_completion_tokens`, and its system
//! prompt is a `{"role":"system","content":…}` message, which the Responses API accepts.
//! 5. **Fallbacks**: the fallbacks configured for the (resolved) model are appended to the
//!    request's `fallbacks`, skipping ones already there and ones the lists would refuse.
//!
//! Every edit is spliced into the request in the shape it came in; nothing else changes.
//! The context gets `guard` (`allowed` or `denied`), `guard_reason` when denied, and
//! `guard_changes`, the list of edits made (e.g. `["alias fast -> openai/gpt-4o-mini",
//! "max_completion_tokens 8192 -> 1024"]`).

use std::collections::BTreeMap;

use bifrost_wasm_sdk::prelude::*;

/// The plugin's configuration (every key optional; the default changes nothing).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Providers admitted (patterns); empty admits every provider.
    pub allow_providers: Vec<String>,
    /// Providers refused (patterns).
    pub deny_providers: Vec<String>,
    /// Models admitted (patterns, matched against `model` and `provider/model`); empty admits
    /// every model.
    pub allow_models: Vec<String>,
    /// Models refused (patterns).
    pub deny_models: Vec<String>,
    /// Requested model → target (`model` or `provider/model`).
    pub aliases: BTreeMap<String, String>,
    /// Cap on the completion's tokens: `params.max_completion_tokens` (chat),
    /// `params.max_tokens` (text completions), `params.max_output_tokens` (Responses).
    pub max_completion_tokens: Option<u64>,
    /// System prompt inserted when a chat or Responses request has no system or developer
    /// message (nor, for Responses, `params.instructions`).
    pub system_prompt: Option<String>,
    /// Model pattern → fallbacks to append, each `provider/model`.
    pub fallbacks: BTreeMap<String, Vec<String>>,
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (ASCII
/// case-insensitive).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// An allow list and a deny list of patterns.
#[derive(Debug, Clone, Default)]
struct Lists {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Lists {
    /// `Err(reason)` when one of `names` is denied, or none is allowed by a non-empty allow
    /// list.
    fn check(&self, what: &str, names: &[&str]) -> Result<(), String> {
        for pattern in &self.deny {
            if let Some(name) = names.iter().find(|n| glob(pattern, n)) {
                return Err(format!("{what} `{name}` is denied by `{pattern}`"));
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| names.iter().any(|n| glob(p, n))) {
            return Err(format!(
                "{what} `{}` is not in the allow list",
                names[names.len() - 1]
            ));
        }
        Ok(())
    }
}

/// A `provider/model` pair from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    provider: Option<String>,
    model: String,
}

impl Target {
    fn parse(text: &str, what: &str, require_provider: bool) -> Result<Target, String> {
        match text.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(Target {
                provider: Some(p.to_string()),
                model: m.to_string(),
            }),
            None if !require_provider && !text.is_empty() => Ok(Target {
                provider: None,
                model: text.to_string(),
            }),
            _ => Err(format!(
                "{what}: `{text}` must be {}",
                if require_provider {
                    "`provider/model`"
                } else {
                    "a model or `provider/model`"
                }
            )),
        }
    }
}

/// The guard plugin.
#[derive(Debug)]
pub struct Guard {
    providers: Lists,
    models: Lists,
    aliases: BTreeMap<String, Target>,
    max_completion_tokens: Option<u64>,
    system_prompt: Option<String>,
    fallbacks: Vec<(String, Vec<Target>)>,
}

/// The error a refused request is answered with (403, type `forbidden`, no fallbacks).
pub fn forbidden(reason: &str) -> BifrostError {
    BifrostError::new(&format!(
        "request refused by the gateway's model policy: {reason}"
    ))
    .with_type("forbidden")
    .with_code("403")
    .with_status(403)
    .with_allow_fallbacks(false)
}

/// Only the role of a message (everything else is skipped unread).
#[derive(Deserialize)]
struct Role {
    #[serde(default)]
    role: Option<String>,
}

/// The message the plugin inserts (a plain struct: smaller code than the typed
/// `ChatMessage` with its catch-all map).
#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

/// The system message item the plugin inserts into a Responses request.
#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    role: &'a str,
    content: &'a str,
}

/// A fallback's `provider` and `model` (other members are skipped unread).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pair {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

impl Guard {
    fn check(&self, provider: &str, model: &str) -> Result<(), String> {
        self.providers.check("provider", &[provider])?;
        let qualified = format!("{provider}/{model}");
        self.models.check("model", &[model, &qualified])
    }

    /// Applies the cap to `params`; returns a description of the change.
    fn cap_tokens(&self, request: &mut LlmRequest) -> HookResult<Option<String>> {
        let Some(cap) = self.max_completion_tokens else {
            return Ok(None);
        };
        // The kind's own limit, and (chat) a legacy one that is only ever lowered.
        let (limit, legacy) = match request.kind() {
            RequestKind::Chat => ("max_completion_tokens", Some("max_tokens")),
            RequestKind::TextCompletion => ("max_tokens", None),
            RequestKind::Responses => ("max_output_tokens", None),
            _ => return Ok(None),
        };
        let mut params = match request.field::<RawJson>("params") {
            Some(p) if p.is_object() => p,
            _ => RawJson::empty_object(),
        };
        // The value and its JSON text (reported as written: no float formatting code needed).
        let number = |raw: &RawJson, key: &str| {
            let text = raw.get(key)?.trim().to_string();
            serde_json::from_str::<f64>(&text).ok().map(|n| (n, text))
        };
        let mut changes = Vec::new();
        match number(&params, limit) {
            Some((n, _)) if n <= cap as f64 => {}
            current => {
                params.set_path(&[limit], &cap)?;
                let from = current.map_or_else(|| "unset".to_string(), |(_, text)| text);
                changes.push(format!("{limit} {from} -> {cap}"));
            }
        }
        if let Some(legacy) = legacy {
            if let Some((_, text)) = number(&params, legacy).filter(|(n, _)| *n > cap as f64) {
                params.set_path(&[legacy], &cap)?;
                changes.push(format!("{legacy} {text} -> {cap}"));
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        request.set_field("params", &params)?;
        Ok(Some(changes.join(", ")))
    }

    /// Inserts the system prompt when no system or developer message is present.
    fn add_system_prompt(&self, request: &mut LlmRequest) -> HookResult<bool> {
        let Some(prompt) = &self.system_prompt else {
            return Ok(false);
        };
        if request.kind() == RequestKind::Responses {
            let Some(view) = request.responses() else {
                return Ok(false);
            };
            if view.has_system_prompt() {
                return Ok(false);
            }
            request.insert_message(
                0,
                &Item {
                    kind: "message",
                    role: "system",
                    content: prompt,
                },
            )?;
            return Ok(true);
        }
        if !request.is_chat() {
            return Ok(false);
        }
        let Some(roles) = request.field::<Vec<Role>>("input") else {
            return Ok(false);
        };
        let has_system = roles
            .iter()
            .any(|r| matches!(r.role.as_deref(), Some("system") | Some("developer")));
        if has_system {
            return Ok(false);
        }
        request.insert_message(
            0,
            &Message {
                role: "system",
                content: prompt,
            },
        )?;
        Ok(true)
    }

    /// Appends configured fallbacks for the model; returns how many were added.
    fn add_fallbacks(&self, request: &mut LlmRequest, provider: &str, model: &str) -> HookResult<usize> {
        let qualified = format!("{provider}/{model}");
        let existing: Vec<Pair> = request.field("fallbacks").unwrap_or_default();
        let mut added: Vec<Pair> = Vec::new();
        for (pattern, targets) in &self.fallbacks {
            if !glob(pattern, model) && !glob(pattern, &qualified) {
                continue;
            }
            for t in targets {
                let p = t.provider.as_deref().unwrap_or_default();
                let known = existing.iter().chain(&added).any(|f| {
                    f.provider.as_deref() == Some(p) && f.model.as_deref() == Some(t.model.as_str())
                });
                let is_self = p == provider && t.model == model;
                if !known && !is_self && self.check(p, &t.model).is_ok() {
                    added.push(Pair {
                        provider: Some(p.to_string()),
                        model: Some(t.model.clone()),
                    });
                }
            }
        }
        if !added.is_empty() {
            request.append_to_array("fallbacks", &added)?;
        }
        Ok(added.len())
    }
}

impl Plugin for Guard {
    const NAME: &'static str = "guard";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        let mut aliases = BTreeMap::new();
        for (name, target) in config.aliases {
            aliases.insert(
                name.clone(),
                Target::parse(&target, &format!("aliases.{name}"), false)?,
            );
        }
        let mut fallbacks = Vec::new();
        for (pattern, targets) in config.fallbacks {
            let parsed = targets
                .iter()
                .map(|t| Target::parse(t, &format!("fallbacks.{pattern}"), true))
                .collect::<Result<Vec<_>, _>>()?;
            fallbacks.push((pattern, parsed));
        }
        if config.max_completion_tokens == Some(0) {
            return Err(HookError::new("max_completion_tokens must be at least 1"));
        }
        if config
            .system_prompt
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(HookError::new(
                "system_prompt must not be empty (omit it to inject none)",
            ));
        }
        Ok(Guard {
            providers: Lists {
                allow: config.allow_providers,
                deny: config.deny_providers,
            },
            models: Lists {
                allow: config.allow_models,
                deny: config.deny_models,
            },
            aliases,
            max_completion_tokens: config.max_completion_tokens,
            system_prompt: config.system_prompt,
            fallbacks,
        })
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        let (mut provider, mut model) = input.get_provider_model();
        let mut changes: Vec<String> = Vec::new();

        let qualified = format!("{provider}/{model}");
        if let Some(target) = self.aliases.get(&model).or_else(|| self.aliases.get(&qualified)) {
            if let Some(p) = &target.provider {
                input.request.set_field("provider", p)?;
                provider = p.clone();
            }
            input.request.set_field("model", &target.model)?;
            changes.push(format!("alias {model} -> {provider}/{}", target.model));
            model = target.model.clone();
        }

        if let Err(reason) = self.check(&provider, &model) {
            input.context.set_value("guard", "denied");
            input.context.set_value("guard_reason", reason.as_str());
            if !changes.is_empty() {
                input.context.set_value("guard_changes", changes);
            }
            return Ok(input.short_circuit_error(&forbidden(&reason)));
        }

        if let Some(change) = self.cap_tokens(&mut input.request)? {
            changes.push(change);
        }
        if self.add_system_prompt(&mut input.request)? {
            changes.push("system_prompt".to_string());
        }
        if input.request.inner().is_some() {
            let n = self.add_fallbacks(&mut input.request, &provider, &model)?;
            if n > 0 {
                changes.push(format!("fallbacks +{n}"));
            }
        }
        input.context.set_value("guard", "allowed");
        input.context.set_value("guard_changes", changes);
        Ok(input.pass_through())
    }
}

bifrost_wasm_sdk::export_plugin!(Guard);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere_and_ignores_ascii_case() {
        assert!(glob("gpt-4*", "GPT-4o-mini"));
        assert!(glob("*mini", "gpt-4o-mini"));
        assert!(glob("openai/*", "openai/gpt-4o"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("gpt-4*", "gpt-3.5"));
        assert!(!glob("a*b", "ab-c"));
        assert!(!glob("", "x"));
    }

    #[test]
    fn deny_wins_over_allow_and_allow_lists_are_exclusive() {
        let lists = Lists {
            allow: vec!["gpt-4*".into()],
            deny: vec!["gpt-4-32k".into()],
        };
        assert!(lists.check("model", &["gpt-4o"]).is_ok());
        assert_eq!(
            lists.check("model", &["gpt-4-32k"]).unwrap_err(),
            "model `gpt-4-32k` is denied by `gpt-4-32k`"
        );
        assert!(lists
            .check("model", &["claude"])
            .unwrap_err()
            .contains("not in the allow list"));
    }

    #[test]
    fn config_targets_are_validated() {
        assert!(Target::parse("openai/gpt-4o", "x", true).is_ok());
        assert!(Target::parse("gpt-4o", "x", false).is_ok());
        let err = Target::parse("gpt-4o", "fallbacks.gpt-4o", true).unwrap_err();
        assert_eq!(err, "fallbacks.gpt-4o: `gpt-4o` must be `provider/model`");
        assert!(Target::parse("/x", "x", false).is_err());
    }
}
