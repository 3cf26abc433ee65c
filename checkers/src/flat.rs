//! A scanner for the small flat values the checkers read on every op (`{"lock":"l3","token":3,
//! "ttl_ms":2000}`), so the per-op path does not go through serde's derive machinery.
//!
//! It accepts only the compact shape the harness writes: an object whose keys are plain
//! strings and whose values are plain strings (no escapes) or unsigned integers as JSON spells
//! them. For anything else it gives up (`None`) and the caller decodes with serde, which then
//! decides: the same value for a valid object, or the same error as before for a bad one. A
//! wanted field that is missing, repeated or of another type also gives up, so serde's message
//! ("missing field", "duplicate field", "invalid type") is kept.

/// A field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flat<'a> {
    Str(&'a str),
    U64(u64),
}

/// The values of the keys `want` in the flat object `text`, in the order of `want`; `None`
/// when `text` is not of the simple shape or a wanted key is missing or repeated.
pub(crate) fn fields<'a, const N: usize>(text: &'a str, want: [&str; N]) -> Option<[Flat<'a>; N]> {
    let mut out: [Option<Flat<'a>>; N] = [None; N];
    let mut rest = text.strip_prefix('{')?;
    if rest != "}" {
        loop {
            let (key, r) = plain_str(rest)?;
            let r = r.strip_prefix(':')?;
            let (value, r) = if r.starts_with('"') {
                let (s, r) = plain_str(r)?;
                (Flat::Str(s), r)
            } else {
                let (n, r) = plain_u64(r)?;
                (Flat::U64(n), r)
            };
            if let Some(i) = want.iter().position(|w| *w == key) {
                if out[i].replace(value).is_some() {
                    return None;
                }
            }
            if let Some(r) = r.strip_prefix(',') {
                rest = r;
            } else if r == "}" {
                break;
            } else {
                return None;
            }
        }
    }
    let mut done = [Flat::U64(0); N];
    for (d, o) in done.iter_mut().zip(out) {
        *d = o?;
    }
    Some(done)
}

/// `"S"` at the start of `s` (no escapes): S and what follows.
pub(crate) fn plain_str(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.bytes().position(|c| c == b'"' || c == b'\\')?;
    if s.as_bytes()[end] != b'"' {
        return None;
    }
    Some((&s[..end], &s[end + 1..]))
}

/// A `u64` at the start of `s` as serde_json reads one (digits, no leading zero, no
/// overflow; a fraction or exponent fails later on the next expected byte).
pub(crate) fn plain_u64(s: &str) -> Option<(u64, &str)> {
    let b = s.as_bytes();
    let mut n: u64 = 0;
    let mut i = 0;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    if i == 0 || (i > 1 && b[0] == b'0') {
        return None;
    }
    Some((n, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_compact_shape_in_any_key_order() {
        // Proves wanted keys are found wherever they are and others are skipped.
        let t = r#"{"lock":"l3","token":3,"ttl_ms":2000}"#;
        assert_eq!(
            fields(t, ["ttl_ms", "lock"]),
            Some([Flat::U64(2000), Flat::Str("l3")])
        );
        assert_eq!(fields(t, ["token"]), Some([Flat::U64(3)]));
        assert_eq!(fields("{}", ["token"]), None);
        assert_eq!(fields("{}", []), Some([]));
    }

    #[test]
    fn gives_up_on_anything_serde_must_judge() {
        // Proves every shape outside the simple one is left to serde.
        for t in [
            r#"{"lock":"l3","lock":"l4"}"#,              // repeated
            r#"{"lock":"l\"3"}"#,                        // escape
            r#"{"lock": "l3"}"#,                         // whitespace
            r#"{"lock":"l3","x":[1]}"#,                  // nested
            r#"{"lock":"l3","x":-1}"#,                   // negative
            r#"{"lock":"l3","x":1.5}"#,                  // fraction
            r#"{"lock":"l3","x":01}"#,                   // leading zero
            r#"{"lock":"l3","x":99999999999999999999}"#, // overflow
            r#"{"lock":"l3""#,                           // cut off
            r#"{"lock":"l3"} "#,                         // trailing
            r#"["lock"]"#,
        ] {
            assert_eq!(fields(t, ["lock"]), None, "{t}");
        }
    }
}
