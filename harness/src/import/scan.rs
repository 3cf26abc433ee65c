//! A lexical scan of EDN text before the parser sees it: bracket depth, and where the forms
//! start.
//!
//! The `edn-format` parser recurses once per level of nesting, and takes time quadratic in
//! the depth: a history nested 10,000 deep overflowed the stack (exit 134, no file named)
//! and 5,000 took 3.7 s. So the depth is measured first, without recursion, outside strings,
//! comments and character literals, and text nested deeper than [`MAX_EDN_DEPTH`] is
//! refused naming its line. The same pass notes the line of each top-level form and of each
//! element of a top-level collection, so errors about an op can name its line, and text
//! after a history's one vector can be refused where it starts.

/// The deepest nesting of lists, vectors, maps and sets `gauntlet import` accepts: 128.
/// A Jepsen history is a vector of op maps whose values nest a few levels (a transaction's
/// micro-ops are at depth 4); 128 leaves room for any real value and keeps the parser's
/// recursion far from the stack's end.
pub const MAX_EDN_DEPTH: usize = 128;

/// A place in the text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// What the scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Where each top-level form starts.
    pub top: Vec<Place>,
    /// Where each element of the top-level collections starts, in order.
    pub inner: Vec<Place>,
    /// Where the first top-level form ends (just after it).
    pub first_end: Option<Place>,
}

/// Scans `text`; an error when it nests deeper than [`MAX_EDN_DEPTH`], naming where.
/// Unbalanced or unterminated text is left to the parser, which names it.
pub fn scan(text: &str) -> Result<Scan, String> {
    let b = text.as_bytes();
    let mut out = Scan::default();
    let mut line = 1;
    let mut line_start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    let place = |i: usize, line: usize, line_start: usize| Place {
        line,
        column: text[line_start..i].chars().count() + 1,
    };
    while i < b.len() {
        let c = b[i];
        let opener = matches!(c, b'(' | b'[' | b'{') || (c == b'#' && b.get(i + 1) == Some(&b'{'));
        let closer = matches!(c, b')' | b']' | b'}');
        // A form (or an element) starts here unless `c` is a separator, comment or closer
        // (a closer with nothing open counts: it is text after the forms).
        let starts =
            (!closer || depth == 0) && !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',' | b';');
        if starts {
            let at = place(i, line, line_start);
            match depth {
                0 => out.top.push(at),
                1 => out.inner.push(at),
                _ => {}
            }
        }
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
            }
            b';' => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |n| i + n)
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'\n') {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len()); // the closing quote
            }
            _ if opener => {
                depth += 1;
                if depth > MAX_EDN_DEPTH {
                    return Err(format!(
                        "{}: nested more than {MAX_EDN_DEPTH} deep (the limit of an EDN history)",
                        place(i, line, line_start)
                    ));
                }
                i += if c == b'#' { 2 } else { 1 };
            }
            _ if closer => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b',' => i += 1,
            _ => {
                // An atom (or a character literal: `\(` is the character, not a paren).
                if c == b'\\' {
                    i += 1;
                    while i < b.len() && !text.is_char_boundary(i + 1) {
                        i += 1;
                    }
                }
                i += 1;
                while i < b.len() && !is_delimiter(b[i]) {
                    i += 1;
                }
            }
        }
        // The first form ends when an atom at the top level was read, or its collection closed.
        if depth == 0 && out.first_end.is_none() && !out.top.is_empty() && (starts || closer) {
            out.first_end = Some(place(i.min(b.len()), line, line_start));
        }
    }
    Ok(out)
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t' | b'\r' | b'\n' | b',' | b';' | b'"' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Place {
        Place { line, column }
    }

    #[test]
    fn finds_forms_and_elements_outside_strings_comments_and_characters() {
        // Proves brackets inside strings, comments and character literals are not counted,
        // and each top-level form and element is placed at its line and column.
        let text = "; [[[ a comment\n[{:a \"x[[\\\"\"}\n {:c \\( :d #{1}} 7]\n{:e 1}";
        let s = scan(text).unwrap();
        assert_eq!(s.top, vec![at(2, 1), at(4, 1)]);
        let inner = vec![at(2, 2), at(3, 2), at(3, 18), at(4, 2), at(4, 5)];
        assert_eq!(s.inner, inner);
        assert_eq!(s.first_end, Some(at(3, 20)));
    }

    #[test]
    fn depth_beyond_the_limit_is_refused_naming_the_place() {
        // Proves a history nested one level deeper than the limit is refused before any
        // parse (10,000 levels overflowed the parser's stack), and the limit itself passes.
        let ok = format!("{}{}", "[".repeat(MAX_EDN_DEPTH), "]".repeat(MAX_EDN_DEPTH));
        scan(&ok).unwrap();
        let deep = format!("[\n {}", "(".repeat(10_000));
        let e = scan(&deep).unwrap_err();
        assert_eq!(
            e,
            format!(
                "line 2, column {}: nested more than 128 deep (the limit of an EDN history)",
                2 + MAX_EDN_DEPTH - 1
            )
        );
    }

    #[test]
    fn an_atom_alone_is_a_form() {
        let s = scan("  foo bar").unwrap();
        assert_eq!(s.top, vec![at(1, 3), at(1, 7)]);
        assert_eq!(s.first_end, Some(at(1, 6)));
    }
}
