//! The call protocol on well-behaved plugins: buffers, allocator variants, ABI
//! generations, configuration, pass-through.

use bifrost_wasm_host::{AbiGeneration, AllocatorVariant, ErrorKind, Hook};

use crate::wat::{self, INPUT};

fn live_blocks(instance: &mut bifrost_wasm_host::PluginInstance) -> String {
    instance.call(Hook::PostHook, b"{}").unwrap()
}

#[test]
fn round_trip_returns_the_hooks_output() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")]));
    let mut instance = plugin.instantiate(None).unwrap();
    assert_eq!(instance.call(Hook::PreHook, INPUT).unwrap().as_bytes(), INPUT);
}

#[test]
fn host_frees_input_and_output_with_their_lengths() {
    // FREE2 traps on a wrong length, a double free or a foreign pointer.
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &wat::echo("pre_hook"),
            &wat::live_blocks("post_hook"),
        ],
    ));
    let mut instance = plugin.instantiate(None).unwrap();
    for i in 0..50 {
        let input = format!(r#"{{"call":{i},"pad":"{}"}}"#, "x".repeat(i * 7));
        assert_eq!(instance.call(Hook::PreHook, input.as_bytes()).unwrap(), input);
    }
    // Only the stats hook's own input is live: every other buffer was freed.
    assert_eq!(live_blocks(&mut instance), r#"{"live":1}"#);
}

#[test]
fn one_argument_free_is_called_for_every_buffer() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            wat::MALLOC,
            wat::FREE1,
            &wat::echo("pre_hook"),
            &wat::live_blocks("post_hook"),
        ],
    ));
    assert_eq!(plugin.info().allocator, AllocatorVariant::MallocFree);
    let mut instance = plugin.instantiate(None).unwrap();
    for _ in 0..10 {
        instance.call(Hook::PreHook, INPUT).unwrap();
    }
    assert_eq!(live_blocks(&mut instance), r#"{"live":1}"#);
}

#[test]
fn plugin_malloc_and_plugin_free_are_used_when_exported() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            wat::PLUGIN_ALLOC,
            &wat::echo("pre_hook"),
            &wat::live_blocks("post_hook"),
        ],
    ));
    assert_eq!(plugin.info().allocator, AllocatorVariant::PluginMallocFree);
    let mut instance = plugin.instantiate(None).unwrap();
    for _ in 0..10 {
        assert_eq!(instance.call(Hook::PreHook, INPUT).unwrap().as_bytes(), INPUT);
    }
    assert_eq!(live_blocks(&mut instance), r#"{"live":1}"#);
}

#[test]
fn plugin_without_free_still_serves_calls() {
    let plugin = crate::load(&wat::module("", &[wat::MALLOC, &wat::echo("pre_hook")]));
    assert_eq!(plugin.info().allocator, AllocatorVariant::MallocOnly);
    let mut instance = plugin.instantiate(None).unwrap();
    for _ in 0..5 {
        assert_eq!(instance.call(Hook::PreHook, INPUT).unwrap().as_bytes(), INPUT);
    }
}

#[test]
fn gen2_http_intercept_serves_the_http_pre_hook() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("http_intercept")]));
    let info = plugin.info();
    assert_eq!(info.abi_generation, AbiGeneration::Gen2HttpIntercept);
    assert_eq!(info.hooks.len(), 1);
    assert_eq!(info.hooks[0].hook, Hook::HttpPreHook);
    assert_eq!(info.hooks[0].export, "http_intercept");
    assert!(plugin.has_hook(Hook::HttpPreHook));
    let mut instance = plugin.instantiate(None).unwrap();
    assert_eq!(instance.call(Hook::HttpPreHook, INPUT).unwrap().as_bytes(), INPUT);
}

#[test]
fn http_pre_hook_is_preferred_over_http_intercept() {
    let (seg_new, out_new) = wat::text_at(400, r#"{"from":"http_pre_hook"}"#);
    let (seg_old, out_old) = wat::text_at(440, r#"{"from":"http_intercept"}"#);
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &seg_new,
            &seg_old,
            &wat::hook("http_pre_hook", &out_new),
            &wat::hook("http_intercept", &out_old),
        ],
    ));
    assert_eq!(plugin.info().abi_generation, AbiGeneration::Gen3HttpPreHook);
    let mut instance = plugin.instantiate(None).unwrap();
    assert_eq!(
        instance.call(Hook::HttpPreHook, INPUT).unwrap(),
        r#"{"from":"http_pre_hook"}"#
    );
}

#[test]
fn missing_hook_is_reported_as_pass_through() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")]));
    let mut instance = plugin.instantiate(None).unwrap();
    assert!(!instance.has_hook(Hook::PostHook));
    assert_eq!(instance.call_hook(Hook::PostHook, INPUT).unwrap(), None);
    assert_eq!(
        instance
            .call_hook(Hook::PreHook, INPUT)
            .unwrap()
            .unwrap()
            .as_bytes(),
        INPUT
    );
    let err = instance.call(Hook::PostHook, INPUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HookNotImplemented { hook: Hook::PostHook }),
        "{err}"
    );
}

#[test]
fn init_accepts_empty_null_and_empty_object_config() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), wat::CONFIG_ECHO]));
    for (config, seen) in [
        (None, "{}"),
        (Some(""), "{}"),
        (Some("null"), "null"),
        (Some("{}"), "{}"),
        (
            Some(r#"{"custom_option":"value"}"#),
            r#"{"custom_option":"value"}"#,
        ),
    ] {
        let mut instance = plugin.instantiate(config).unwrap();
        assert_eq!(
            instance.call(Hook::HttpPostHook, b"{}").unwrap(),
            seen,
            "config {config:?}"
        );
    }
}

#[test]
fn empty_input_reaches_the_hook_through_a_real_buffer() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::live_blocks("pre_hook")]));
    let mut instance = plugin.instantiate(None).unwrap();
    // The one live block is the (one-byte) input buffer of the empty input.
    assert_eq!(instance.call(Hook::PreHook, b"").unwrap(), r#"{"live":1}"#);
}

#[test]
fn call_json_and_call_typed_round_trip_values() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")]));
    let mut instance = plugin.instantiate(None).unwrap();
    let value = serde_json::json!({"context": {"request_id": "r-1"}, "n": 12345678901234567_u64});
    assert_eq!(instance.call_json(Hook::PreHook, &value).unwrap(), value);
    let err = instance
        .call_typed::<_, Vec<u8>>(Hook::PreHook, &value)
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::OutputShape { .. }) && err.function() == Some("pre_hook"),
        "{err}"
    );
}

#[test]
fn plugin_info_describes_exports_imports_and_hooks() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &wat::echo("pre_hook"),
            &wat::echo("post_hook"),
            wat::CONFIG_ECHO,
        ],
    ));
    let info = plugin.info();
    assert_eq!(info.name, "wat-plugin");
    assert_eq!(plugin.name(), "wat-plugin");
    assert_eq!(info.source, "test-plugin");
    assert!(info.imports.is_empty());
    assert!(!info.wasi);
    assert!(info.has_init);
    assert!(!info.has_cleanup);
    assert_eq!(info.allocator, AllocatorVariant::MallocFreeWithSize);
    assert_eq!(info.abi_generation, AbiGeneration::NoHttpPreHook);
    let ty = |name: &str| {
        info.exports
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.ty.as_str())
    };
    assert_eq!(ty("get_name"), Some("func() -> i64"));
    assert_eq!(ty("free"), Some("func(i32, i32)"));
    assert_eq!(ty("pre_hook"), Some("func(i32, i32) -> i64"));
    assert_eq!(ty("memory"), Some("memory(1 pages)"));
    let hooks: Vec<Hook> = info.hooks.iter().map(|h| h.hook).collect();
    assert_eq!(hooks, [Hook::PreHook, Hook::PostHook, Hook::HttpPostHook]);
    let json = serde_json::to_value(info).unwrap();
    assert_eq!(json["allocator"], "malloc_free_with_size");
}

#[test]
fn hook_names_parse_with_the_old_alias() {
    assert_eq!("http_intercept".parse::<Hook>().unwrap(), Hook::HttpPreHook);
    assert_eq!("http_pre_hook".parse::<Hook>().unwrap(), Hook::HttpPreHook);
    assert_eq!("post_hook".parse::<Hook>().unwrap(), Hook::PostHook);
    assert!("on_request".parse::<Hook>().is_err());
    for hook in Hook::ALL {
        assert_eq!(hook.name().parse::<Hook>().unwrap(), hook);
    }
}

#[test]
fn output_nested_to_gos_limit_is_accepted_and_one_level_deeper_is_refused() {
    let plugin = crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")]));
    let mut instance = plugin.instantiate(None).unwrap();
    let nested = |arrays: usize| {
        format!(
            r#"{{"context":{{}},"request":{}1{}}}"#,
            "[".repeat(arrays),
            "]".repeat(arrays)
        )
    };
    // The envelope is one level; Go's encoding/json reads 10,000 levels and no more.
    let input = nested(9_999);
    assert_eq!(instance.call(Hook::PreHook, input.as_bytes()).unwrap(), input);
    let err = instance
        .call(Hook::PreHook, nested(10_000).as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("10000"), "{err}");
}

#[test]
fn epoch_tick_is_at_most_a_tenth_of_the_shortest_deadline() {
    use bifrost_wasm_host::HostConfig;
    use std::time::Duration;

    let default = HostConfig::default();
    assert_eq!(default.effective_tick(), Duration::from_millis(10));
    let short = HostConfig::default().with_deadline(Some(Duration::from_millis(20)));
    assert_eq!(short.effective_tick(), Duration::from_millis(2));
    let tiny = HostConfig::default().with_deadline(Some(Duration::from_micros(50)));
    assert_eq!(tiny.effective_tick(), Duration::from_micros(100));
}

#[test]
fn invalid_host_settings_are_rejected_with_the_reason() {
    use bifrost_wasm_host::{Host, HostConfig};

    for (config, needle) in [
        (HostConfig::default().with_memory_limit(1000), "memory_limit"),
        (
            HostConfig::default().with_deadline(Some(std::time::Duration::ZERO)),
            "deadline",
        ),
        (HostConfig::default().with_pooling_slots(0), "pooling_slots"),
        (HostConfig::default().with_max_wasm_stack(10), "max_wasm_stack"),
    ] {
        let err = Host::new(config).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}
