//! `check --format junit`: the report as JUnit XML, the format CI systems (GitHub Actions
//! reporters, GitLab, Jenkins) show as test results.
//!
//! One `<testsuite>` for the plugin, one `<testcase>` per row: a FAIL row carries a
//! `<failure>`, a WARN row passes and says its reason in `<system-out>` (JUnit has no
//! warnings), a PASS row is empty. The counts are in the suite's attributes.

use std::fmt::Write as _;

use crate::cmd::check::Report;
use crate::contract::Verdict;

/// Text escaped for an XML attribute or text node. Characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline and carriage return) become `U+FFFD`, so a
/// plugin's odd output in a reason can never make the document invalid.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The report as a JUnit XML document; `seconds` is how long the check took.
pub fn render(report: &Report, seconds: f64) -> String {
    let suite = report.plugin.as_deref().unwrap_or(&report.file);
    let class = format!("bifrost-wasm.check.{suite}");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"bifrost-wasm check\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{seconds:.3}\">",
        report.rows.len(),
        report.summary.fail
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{seconds:.3}\">",
        escape(suite),
        report.rows.len(),
        report.summary.fail
    );
    let _ = writeln!(
        out,
        "    <properties><property name=\"file\" value=\"{}\"/><property name=\"warnings\" value=\"{}\"/></properties>",
        escape(&report.file),
        report.summary.warn
    );
    for row in &report.rows {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&class),
            escape(&row.check)
        );
        match row.result {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Warn => {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>WARN: {}</system-out>\n    </testcase>",
                    escape(&row.reason)
                );
            }
            Verdict::Fail => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{0}\" type=\"FAIL\">{0}</failure>\n    </testcase>",
                    escape(&row.reason)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::check::Row;

    #[test]
    fn markup_and_control_characters_cannot_break_the_document() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\u{0}\tz\n"), "x\u{FFFD}y\u{FFFD}\tz\n");
        assert_eq!(escape("été 😀"), "été 😀");
    }

    #[test]
    fn a_fail_row_is_a_failure_and_a_warn_row_passes_with_its_reason() {
        let rows = vec![
            Row {
                check: "load".into(),
                result: Verdict::Pass,
                reason: "ok".into(),
            },
            Row {
                check: "init: null config".into(),
                result: Verdict::Warn,
                reason: "refused <null>".into(),
            },
            Row {
                check: "bad input: empty".into(),
                result: Verdict::Fail,
                reason: "trapped & \"died\"".into(),
            },
        ];
        let report = Report::new(Some("p".into()), "p.wasm".into(), rows);
        let xml = render(&report, 1.5);
        assert!(
            xml.contains("<testsuite name=\"p\" tests=\"3\" failures=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"bifrost-wasm.check.p\" name=\"load\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>WARN: refused &lt;null&gt;</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"trapped &amp; &quot;died&quot;\" type=\"FAIL\">"),
            "{xml}"
        );
        assert!(xml.ends_with("</testsuites>\n"));
    }
}
