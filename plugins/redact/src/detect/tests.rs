//! Unit tests of `detect`.

use super::*;

fn redact_all(text: &str) -> String {
    Detector::default()
        .redact(text, &mut Counts::default())
        .unwrap_or_else(|| text.to_string())
}

#[test]
fn emails_are_found_with_sensible_edges() {
    assert_eq!(redact_all("mail john.doe+x@mail.example.co.uk."), "mail [EMAIL].");
    assert_eq!(redact_all("<a@b.io>, (c_d@e-f.org)"), "<[EMAIL]>, ([EMAIL])");
    for not_email in [
        "a@b",
        "x@localhost",
        "@example.com",
        "a@b.c1",
        "me@-x.com",
        "user@ host.com",
    ] {
        assert_eq!(redact_all(not_email), not_email);
    }
}

#[test]
fn card_numbers_need_the_luhn_check() {
    assert_eq!(redact_all("card 4111 1111 1111 1111 ok"), "card [CARD] ok");
    assert_eq!(redact_all("4111-1111-1111-1111"), "[CARD]");
    assert_eq!(redact_all("amex 378282246310005."), "amex [CARD].");
    assert_eq!(redact_all("4111 1111 1111 1112"), "4111 1111 1111 1112");
    assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
}

#[test]
fn phone_numbers_match_common_formats_and_skip_dates_ids_and_addresses() {
    for phone in [
        "+1 555 123 4567",
        "+15551234567",
        "+44 20 7946 0958",
        "555-123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "020 7946 0958",
    ] {
        assert_eq!(
            redact_all(&format!("call {phone} now")),
            "call [PHONE] now",
            "{phone}"
        );
    }
    for not_phone in [
        "2024-01-15 10:30",
        "id 1700000000123",
        "pi 3.14159265358",
        "ip 192.168.100.200",
        "version 1.2.3",
        "abc5551234567",
        "555-1234",
        "x-555-123-4567",
    ] {
        assert_eq!(redact_all(not_phone), not_phone, "{not_phone}");
    }
}

#[test]
fn known_key_formats_are_secrets() {
    for key in [
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "sk-ant-api03-abcdefghijklmnopqrstu",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
        "github_pat_11ABCDEFG0123456789_abcdefghij",
        "glpat-abcdefghij0123456789",
        "xoxb-123456789012-abcdef",
        "AIzaSyA-0123456789abcdefghijklmnopqrstu",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ] {
        assert_eq!(
            redact_all(&format!("key={key}, done")),
            "key=[SECRET], done",
            "{key}"
        );
    }
    assert_eq!(
        redact_all("Authorization: Bearer abcdefabcdefabcdef"),
        "Authorization: Bearer [SECRET]"
    );
    assert_eq!(redact_all("sk-short"), "sk-short");
    assert_eq!(redact_all("AKIAIOSFODNN7EXAMPLEX"), "AKIAIOSFODNN7EXAMPLEX");
}

#[test]
fn generic_tokens_need_length_mixed_classes_and_entropy() {
    let token = "Zx9Qm2Lr7Tb4Wk8Hn3Vc6Pf1Ys5Gd0Jq";
    assert_eq!(redact_all(&format!("token {token}.")), "token [SECRET].");
    assert_eq!(redact_all("dGhpcyBpcyBhIHNlY3JldCB2YWx1ZQ3x=="), "[SECRET]");
    for benign in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "550e8400-e29b-41d4-a716-446655440000",
        "internationalization_and_localization_guide",
        "/usr/local/lib/python3.11/site-packages/requests",
        "get_user_by_id_and_timestamp_version2",
    ] {
        assert_eq!(redact_all(benign), benign, "{benign}");
    }
}

#[test]
fn categories_placeholders_and_allow_list_are_honoured() {
    let d = Detector::new(
        &[Category::Email],
        vec![(Category::Email, "<redacted>".into())],
        &["Support@Example.com".to_string()],
        32,
        4.0,
    );
    let mut counts = Counts::default();
    let out = d
        .redact("a@b.io support@example.com 555-123-4567", &mut counts)
        .unwrap();
    assert_eq!(out, "<redacted> support@example.com 555-123-4567");
    assert_eq!((counts.get(Category::Email), counts.total()), (1, 1));
}

#[test]
fn overlapping_matches_keep_the_first_and_longest() {
    let d = Detector::default();
    let m = d.find("sk-abcdefghijklmnopqrstuvwxyz0123@example.com");
    assert_eq!(m.len(), 1, "{m:?}");
}

#[test]
fn non_ascii_text_is_safe_around_matches() {
    assert_eq!(
        redact_all("é a@b.io ü +1 555 123 4567 ñ"),
        "é [EMAIL] ü [PHONE] ñ"
    );
    assert_eq!(redact_all("日本語のテキスト"), "日本語のテキスト");
}
