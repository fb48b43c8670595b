//! `bench` with no, one and several `--against` baselines, on small WAT plugins and a few
//! iterations (the numbers are not checked, only the report's shape).

use crate::support::run;
use crate::wat;

/// A short run of `pre_hook` only, plus `extra` arguments.
fn bench(plugin: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec![
        "bench",
        plugin,
        "--hooks",
        "pre_hook",
        "--iterations",
        "10",
        "--warmup",
        "0",
        "--instances",
        "1",
        "--loads",
        "1",
        "--no-cache",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn without_against_there_is_no_ratio() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let out = bench(echo.arg(), &["--json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["interleaved"], false);
    let row = &report["rows"][0];
    assert_eq!(row["plugins"].as_array().unwrap().len(), 1);
    assert!(
        row.get("ratio_p50").is_none() && row.get("ratios").is_none(),
        "{row}"
    );
}

#[test]
fn one_against_keeps_the_single_ratio_column_and_fields() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let other = wat::file("other", &wat::echo_plugin());
    let out = bench(echo.arg(), &["--against", other.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains("the two plugins interleaved"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("B/A p50") && out.stdout.contains("B/A mean"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("C/A"), "{}", out.stdout);

    let out = bench(echo.arg(), &["--against", other.arg(), "--json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["interleaved"], true);
    let row = &report["rows"][0];
    assert_eq!(row["plugins"].as_array().unwrap().len(), 2);
    assert!(row["ratio_p50"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["ratio_mean"].as_f64().unwrap() > 0.0, "{row}");
    assert_eq!(row["ratios"].as_array().unwrap().len(), 1, "{row}");
    assert_eq!(row["ratios"][0]["p50"], row["ratio_p50"]);
}

#[test]
fn several_against_give_one_ratio_per_baseline_in_text_and_json() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let lossy = wat::file("lossy", &wat::lossy_plugin());
    let trap = wat::file("trap", &wat::trapping_plugin());
    let args = ["--against", lossy.arg(), "--against", trap.arg()];
    let out = bench(echo.arg(), &args);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("the 3 plugins interleaved"), "{}", out.stdout);
    assert!(out.stdout.contains("[C] trap-plugin"), "{}", out.stdout);
    for column in ["B/A p50", "B/A mean", "C/A p50", "C/A mean"] {
        assert!(out.stdout.contains(column), "{column}:\n{}", out.stdout);
    }
    // The trapping baseline has no time, so its ratio is `-`; the other one has a ratio.
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("pre_hook_225b"))
        .unwrap();
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    assert_eq!(cells.len(), 6, "{line}");
    assert!(cells[4].ends_with('x') && cells[4].contains("x "), "{line}");
    assert_eq!(
        cells[5].split_whitespace().collect::<Vec<_>>(),
        ["-", "-"],
        "{line}"
    );
    assert!(
        out.stdout.contains("note (pre_hook): trap-plugin failed"),
        "{}",
        out.stdout
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = bench(echo.arg(), &json_args);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    let names: Vec<_> = report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, ["echo-plugin", "lossy-plugin", "trap-plugin"]);
    for row in report["rows"].as_array().unwrap() {
        assert_eq!(row["plugins"].as_array().unwrap().len(), 3, "{row}");
        let ratios = row["ratios"].as_array().unwrap();
        assert_eq!(ratios.len(), 2, "{row}");
        assert_eq!(ratios[0]["against"], "lossy-plugin");
        assert!(ratios[0]["p50"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(ratios[1]["against"], "trap-plugin");
        assert!(ratios[1]["p50"].is_null(), "{row}");
        assert_eq!(row["ratio_p50"], ratios[0]["p50"]);
    }
}

#[test]
fn against_config_given_once_applies_to_every_baseline() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let needs = wat::file("needs", &wat::needs_config_plugin());
    let out = bench(
        echo.arg(),
        &[
            "--against",
            needs.arg(),
            "--against",
            needs.arg(),
            "--against-config",
            "[1]",
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("C/A p50"), "{}", out.stdout);
}

#[test]
fn against_config_may_be_given_per_baseline_in_order() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let needs = wat::file("needs", &wat::needs_config_plugin());
    let args = ["--against", echo.arg(), "--against", needs.arg()];
    let mut good = args.to_vec();
    good.extend(["--against-config", "{}", "--against-config", "[1]"]);
    let out = bench(echo.arg(), &good);
    assert_eq!(out.code, 0, "{out:#?}");
    // Swapped, the second baseline gets `{}`, which it refuses.
    let mut swapped = args.to_vec();
    swapped.extend(["--against-config", "[1]", "--against-config", "{}"]);
    let out = bench(echo.arg(), &swapped);
    assert_ne!(out.code, 0, "{out:#?}");
}

#[test]
fn a_wrong_number_of_against_configs_is_a_usage_error() {
    let echo = wat::file("echo", &wat::echo_plugin());
    let out = bench(
        echo.arg(),
        &[
            "--against",
            echo.arg(),
            "--against-config",
            "{}",
            "--against-config",
            "{}",
        ],
    );
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("--against-config was given 2 times for 1 --against plugins"),
        "{}",
        out.stderr
    );
}
