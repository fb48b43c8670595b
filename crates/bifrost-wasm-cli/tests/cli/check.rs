//! `bifrost-wasm check`.

use crate::support::{hello, redact, run};
use crate::wat;

/// Rows of a human report: (check, result, reason).
pub fn rows(report: &str) -> Vec<(String, String, String)> {
    report
        .lines()
        .skip_while(|l| !l.starts_with("CHECK"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (check, rest) = l.split_once("  ").expect("a row");
            let rest = rest.trim_start();
            let (result, reason) = rest.split_once("  ").unwrap_or((rest, ""));
            (
                check.trim().to_string(),
                result.to_string(),
                reason.trim().to_string(),
            )
        })
        .collect()
}

/// The row named `check`.
pub fn row<'a>(rows: &'a [(String, String, String)], check: &str) -> &'a (String, String, String) {
    rows.iter()
        .find(|r| r.0 == check)
        .unwrap_or_else(|| panic!("no row {check:?} in {rows:#?}"))
}

#[test]
fn hello_world_passes_every_check() {
    let plugin = hello();
    let out = run(&["check", &plugin]);
    assert_eq!(out.code, 0, "{out:#?}");
    let rows = rows(&out.stdout);
    assert!(rows.len() >= 40, "{rows:#?}");
    for (check, result, reason) in &rows {
        assert_eq!(result, "PASS", "{check}: {reason}");
    }
    // Intended edits are reported as changes, not failures.
    assert!(row(&rows, "lossless: post_hook go-envelope")
        .2
        .contains("changed on purpose: response.ChatResponse.model"));
    // Memory sizes depend on the plugin build; the rest of the report must not change.
    insta::with_settings!({filters => vec![(r"stable at \d+(\.\d+)? (B|KiB|MiB)", "stable at [SIZE]")]}, {
        insta::assert_snapshot!("check_hello_world", redact(&out.stdout, &plugin));
    });
}

#[test]
fn hello_world_report_as_json() {
    let plugin = hello();
    let out = run(&["check", &plugin, "--json", "--calls", "50"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["plugin"], "hello-world-wasm-rust");
    assert_eq!(report["passed"], true);
    assert_eq!(report["summary"]["fail"], 0);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(report["summary"]["pass"].as_u64().unwrap() as usize, rows.len());
    let memory = rows.iter().find(|r| r["check"] == "memory: pre_hook").unwrap();
    assert_eq!(memory["result"], "PASS");
    assert!(
        memory["reason"].as_str().unwrap().contains("over 50 calls"),
        "{memory}"
    );
}

#[test]
fn a_config_the_plugin_rejects_fails_init_and_skips_the_hooks() {
    let plugin = hello();
    let out = run(&["check", &plugin, "--config", r#"{"mock": "yes"}"#]);
    assert_eq!(out.code, 1, "{out:#?}");
    let rows = rows(&out.stdout);
    assert_eq!(row(&rows, "init: empty config").1, "PASS");
    let init = row(&rows, "init: --config");
    assert_eq!(init.1, "FAIL");
    assert!(init.2.contains("expected a boolean"), "{init:?}");
    let hooks = row(&rows, "hooks");
    assert!(
        hooks
            .2
            .starts_with("not run: no instance could be created with --config"),
        "{hooks:?}"
    );
}

#[test]
fn an_abi_broken_plugin_gets_one_fail_row_per_problem() {
    let file = wat::file("broken", &wat::abi_broken_plugin());
    let out = run(&["check", file.arg()]);
    assert_eq!(out.code, 1, "{out:#?}");
    insta::assert_snapshot!("check_abi_broken_plugin", redact(&out.stdout, file.arg()));
}

#[test]
fn a_trapping_hook_fails_its_rows_and_the_other_hook_still_passes() {
    let file = wat::file("trap", &wat::trapping_plugin());
    let out = run(&["check", file.arg(), "--calls", "20"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let rows = rows(&out.stdout);
    for check in [
        "pre_hook: go-envelope request",
        "lossless: pre_hook flat",
        "memory: pre_hook",
    ] {
        let (_, result, reason) = row(&rows, check);
        assert_eq!(result, "FAIL", "{check}");
        assert!(reason.contains("`pre_hook` trapped"), "{check}: {reason}");
    }
    for check in [
        "post_hook: go-envelope response",
        "lossless: post_hook snake",
        "memory: post_hook",
    ] {
        assert_eq!(row(&rows, check).1, "PASS", "{check}: {:?}", row(&rows, check));
    }
    let bad = row(&rows, "bad input: null fields");
    assert!(
        bad.2
            .starts_with("pre_hook: plugin `trap-plugin`: `pre_hook` trapped"),
        "{bad:?}"
    );
}

#[test]
fn a_plugin_that_loses_unknown_fields_fails_the_lossless_rows_only() {
    let file = wat::file("lossy", &wat::lossy_plugin());
    let out = run(&["check", file.arg(), "--calls", "20"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let rows = rows(&out.stdout);
    for (check, result, reason) in rows.iter().filter(|r| r.0.starts_with("lossless: ")) {
        assert_eq!(result, "FAIL", "{check}: {reason}");
        assert!(
            reason.contains("lost context.x_sentinel_ctx"),
            "{check}: {reason}"
        );
    }
    let go = row(&rows, "lossless: pre_hook go-envelope");
    assert!(
        go.2.contains("request.ChatRequest.fallbacks[0].x_sentinel_fallback"),
        "{go:?}"
    );
    assert!(go.2.contains("keep fields you do not know"), "{go:?}");
    // Without sentinels the same plugin is a perfect pass-through.
    for check in [
        "pre_hook: go-envelope request",
        "pre_hook: snake request",
        "post_hook: go-envelope response",
    ] {
        assert_eq!(row(&rows, check).1, "PASS", "{check}: {:?}", row(&rows, check));
    }
    assert_eq!(row(&rows, "memory: pre_hook").1, "PASS");
}

#[test]
fn an_echo_plugin_is_lossless_but_fails_the_bad_input_corpus() {
    let file = wat::file("echo", &wat::echo_plugin());
    let out = run(&["check", file.arg(), "--calls", "20"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let rows = rows(&out.stdout);
    for (check, result, reason) in rows.iter().filter(|r| r.0.starts_with("lossless: ")) {
        assert_eq!(result, "PASS", "{check}: {reason}");
    }
    // Generation 2 name only: a warning, not a failure.
    let hooks = row(&rows, "exports: hooks");
    assert_eq!(hooks.1, "WARN");
    assert!(hooks.2.contains("export both names"), "{hooks:?}");
    let invalid = row(&rows, "bad input: invalid JSON");
    assert_eq!(invalid.1, "FAIL");
    assert!(invalid.2.contains("returned invalid JSON"), "{invalid:?}");
    assert_eq!(
        row(&rows, "init").2,
        "not exported (optional): nothing to configure"
    );
}

#[test]
fn a_plugin_that_needs_a_config_is_warned_about_and_checked_with_one() {
    let file = wat::file("needs-config", &wat::needs_config_plugin());
    let out = run(&["check", file.arg(), "--calls", "20"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let refused = rows(&out.stdout);
    for check in ["init: empty config", "init: null config", "init: {} config"] {
        let (_, result, reason) = row(&refused, check);
        assert_eq!(result, "WARN", "{check}");
        assert!(
            reason.starts_with("refused: init returned 1;"),
            "{check}: {reason}"
        );
    }
    let hooks = row(&refused, "hooks");
    assert!(hooks.2.contains("pass one with --config JSON|FILE"), "{hooks:?}");

    let out = run(&["check", file.arg(), "--calls", "20", "--config", "[\"on\"]"]);
    let configured = rows(&out.stdout);
    assert_eq!(row(&configured, "init: --config").1, "PASS");
    assert_eq!(
        row(&configured, "lossless: pre_hook snake").1,
        "PASS",
        "{configured:#?}"
    );
    assert!(configured.iter().all(|r| r.0 != "hooks"), "{configured:#?}");
}

#[test]
fn junit_report_is_xml_with_one_failure_per_fail_row() {
    let file = wat::file("trap", &wat::trapping_plugin());
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = run(&[
        "check",
        file.arg(),
        "--calls",
        "20",
        "--format",
        "junit",
        "--output",
        report.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(std::fs::read_to_string(report.path()).unwrap(), out.stdout);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("name"), Some("trap-plugin"));
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(suite.attribute("tests"), Some(cases.len().to_string().as_str()));
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(
        suite.attribute("failures"),
        Some(failed.len().to_string().as_str())
    );
    assert!(failed.contains(&"pre_hook: go-envelope request"), "{failed:?}");
    assert!(!failed.contains(&"post_hook: go-envelope response"), "{failed:?}");
    let failure = cases
        .iter()
        .find(|c| c.attribute("name") == Some("pre_hook: go-envelope request"))
        .and_then(|c| c.children().find(|n| n.has_tag_name("failure")))
        .unwrap();
    assert!(failure
        .attribute("message")
        .unwrap()
        .contains("`pre_hook` trapped"));
}

#[test]
fn json_format_and_the_json_flag_print_the_same_report() {
    let plugin = hello();
    let a = run(&["check", &plugin, "--format", "json", "--calls", "10"]);
    let b = run(&["check", &plugin, "--json", "--calls", "10"]);
    assert_eq!(a.code, 0, "{a:#?}");
    let (mut a, mut b) = (a.json(), b.json());
    // Memory sizes are the same build's; the rows must match exactly.
    assert_eq!(
        a["rows"].as_array().unwrap().len(),
        b["rows"].as_array().unwrap().len()
    );
    a["rows"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !r["check"].as_str().unwrap().starts_with("memory"));
    b["rows"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !r["check"].as_str().unwrap().starts_with("memory"));
    assert_eq!(a, b);
}
