//! File-name patterns: globs over a listing (docs/datasets.md "Registration", default `*.parquet`, `*` never
//! crosses `/`) and the seed's running-number patterns (`part-{:05}.parquet`, Python format
//! syntax `{}` / `{:05}` / `{:5}`).

use crate::StorageError;
use globset::{GlobBuilder, GlobMatcher};

/// A compiled glob; `*` and `?` do not match `/`.
pub fn compile(pattern: &str) -> Result<GlobMatcher, StorageError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| StorageError::InvalidPath(format!("bad pattern '{pattern}': {e}")))
}

/// Whether a pattern is a running-number pattern (contains a `{...}` placeholder).
pub fn is_running_number(pattern: &str) -> bool {
    pattern.contains('{') && pattern.contains('}')
}

/// Expands a running-number pattern for part `i`: `{}` → `7`, `{:05}` → `00007`,
/// `{:5}` → `    7` (as Python's `str.format`). `{{`/`}}` are literal braces.
pub fn format_running_number(pattern: &str, i: usize) -> Result<String, StorageError> {
    let bad = |why: &str| StorageError::InvalidPath(format!("bad running-number pattern '{pattern}': {why}"));
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut placeholders = 0;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                placeholders += 1;
                let spec = spec.strip_prefix("0").map_or(spec.as_str(), |s| if s.is_empty() { "0" } else { s });
                let fmt = spec.strip_prefix(':').unwrap_or(if spec.is_empty() || spec == "0" { "" } else { "?" });
                if fmt == "?" {
                    return Err(bad("only {}, {:N} and {:0N} are supported"));
                }
                if fmt.is_empty() {
                    out.push_str(&i.to_string());
                } else if let Some(w) = fmt.strip_prefix('0') {
                    let w: usize = w.parse().map_err(|_| bad("width must be a number"))?;
                    out.push_str(&format!("{i:0w$}"));
                } else {
                    let w: usize = fmt.parse().map_err(|_| bad("width must be a number"))?;
                    out.push_str(&format!("{i:>w$}"));
                }
            }
            '}' => return Err(bad("unmatched '}'")),
            c => out.push(c),
        }
    }
    if placeholders != 1 {
        return Err(bad("needs exactly one {} placeholder"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_star_does_not_cross_slash() {
        let g = compile("*.parquet").unwrap();
        assert!(g.is_match("part-0.parquet"));
        assert!(!g.is_match("sub/part-0.parquet"));
        assert!(!g.is_match("part-0.parquet.tmp"));
        assert!(compile("sub/*.parquet").unwrap().is_match("sub/a.parquet"));
        assert!(compile("bl*.123").unwrap().is_match("blah-1.123"));
        assert!(compile("[").is_err());
    }

    #[test]
    fn running_numbers_follow_python_format() {
        assert_eq!(format_running_number("part-{:05}.parquet", 7).unwrap(), "part-00007.parquet");
        assert_eq!(format_running_number("part-{}.parquet", 12).unwrap(), "part-12.parquet");
        assert_eq!(format_running_number("p{:3}", 7).unwrap(), "p  7");
        assert_eq!(format_running_number("{{x}}-{:02}", 3).unwrap(), "{x}-03");
        assert_eq!(format_running_number("a{0}", 3).unwrap(), "a3");
        assert!(format_running_number("part.parquet", 1).is_err());
        assert!(format_running_number("{}-{}", 1).is_err());
        assert!(format_running_number("{:x5}", 1).is_err());
        assert!(format_running_number("a}", 1).is_err());
        assert!(is_running_number("part-{:05}.parquet") && !is_running_number("*.parquet"));
    }
}
