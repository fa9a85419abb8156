//! Property tests: preparation is idempotent and canonicalising.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use waxwing_jid::Jid;

/// Strings biased towards JID syntax: separators, case, fullwidth forms,
/// combining marks, RTL letters, ß, emoji, spaces and controls.
fn jidish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]{1,6}",
        2 => Just("@".to_owned()),
        2 => Just("/".to_owned()),
        2 => Just(".".to_owned()),
        1 => prop::sample::select(vec![
            "ß", "Ä", "ｊ", "\u{FF20}", "\u{FF0F}", "\u{301}", "\u{5D0}", "\u{627}", "📱", " ", "\u{200B}",
            "\u{FE0F}", "ﬀ", "İ", "Σ", "ς", "[", "]", ":", "::1", "xn--", "-", "\u{3002}", "\u{7}",
            "\u{E000}", "Ⅻ", "㍿", "ǅ",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..8).prop_map(|pieces| pieces.concat())
}

fn hash_of(jid: &Jid) -> u64 {
    let mut hasher = DefaultHasher::new();
    jid.hash(&mut hasher);
    hasher.finish()
}

/// Reversible-looking respellings: each maps to the same prepared form
/// under nodeprep and nameprep (ASCII case, fullwidth forms).
fn respell(s: &str, upper: bool, fullwidth: bool) -> String {
    s.chars()
        .map(|c| {
            let c = if upper { c.to_ascii_uppercase() } else { c };
            if fullwidth && c.is_ascii_alphanumeric() {
                char::from_u32(u32::from(c) - 0x20 + 0xFF00).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_then_parse_is_identity(s in jidish()) {
        if let Ok(jid) = Jid::parse(&s) {
            // Through Display on purpose: that is what goes on the wire.
            let shown = jid.to_string();
            let again = Jid::parse(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&jid), "input {:?}", s);
            let rebuilt = Jid::new(jid.node(), jid.domain(), jid.resource());
            prop_assert_eq!(rebuilt.as_ref(), Ok(&jid));
            prop_assert_eq!(jid.bare().is_bare(), true);
            let bare = jid.bare().to_string();
            prop_assert_eq!(Jid::parse(&bare), Ok(jid.bare()));
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(jid) = Jid::parse(&s) {
            let shown = jid.to_string();
            prop_assert_eq!(Jid::parse(&shown), Ok(jid));
        }
    }

    #[test]
    fn equal_prepared_forms_compare_equal(
        node in "[a-z0-9]{1,10}",
        domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,2}",
        resource in "[a-zA-Z0-9 ]{0,5}[a-zA-Z0-9]",
        upper in any::<bool>(),
        fullwidth in any::<bool>(),
        trailing_dot in any::<bool>(),
    ) {
        let canonical = Jid::new(Some(&node), &domain, Some(&resource)).unwrap();
        let spelled = format!(
            "{}@{}{}/{}",
            respell(&node, upper, fullwidth),
            respell(&domain, upper, fullwidth),
            if trailing_dot { "." } else { "" },
            resource,
        );
        let other = Jid::parse(&spelled).unwrap();
        prop_assert_eq!(&other, &canonical);
        prop_assert_eq!(other.cmp(&canonical), std::cmp::Ordering::Equal);
        prop_assert_eq!(hash_of(&other), hash_of(&canonical));
        prop_assert_eq!(other.to_string(), canonical.to_string());
    }
}
