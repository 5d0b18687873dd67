//! The relation expression over conditions: `$0 and ($name or not $2)`.
//!
//! Grammar (case-insensitive words, whitespace optional between tokens):
//! ```text
//! expr   := term (("or" | "||") term)*
//! term   := factor (("and" | "&&") factor)*
//! factor := ("not" | "!") factor | "(" expr ")" | ident
//! ident  := "$" [0-9]+ | "$" [A-Za-z][A-Za-z0-9_]*
//! ```
//! So `not` binds tighter than `and`, which binds tighter than `or` (docs/query-language.md "Conditions and relation").

use std::collections::HashMap;

/// A parsed relation; leaves are condition indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationExpr {
    Cond(usize),
    Not(Box<RelationExpr>),
    And(Vec<RelationExpr>),
    Or(Vec<RelationExpr>),
}

impl RelationExpr {
    /// Evaluates the expression given each condition's truth value.
    pub fn eval(&self, cond: &dyn Fn(usize) -> bool) -> bool {
        match self {
            RelationExpr::Cond(i) => cond(*i),
            RelationExpr::Not(e) => !e.eval(cond),
            RelationExpr::And(es) => es.iter().all(|e| e.eval(cond)),
            RelationExpr::Or(es) => es.iter().any(|e| e.eval(cond)),
        }
    }
    /// Condition indexes in order of appearance (with repeats).
    pub fn used_conditions(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }
    fn collect(&self, out: &mut Vec<usize>) {
        match self {
            RelationExpr::Cond(i) => out.push(*i),
            RelationExpr::Not(e) => e.collect(out),
            RelationExpr::And(es) | RelationExpr::Or(es) => es.iter().for_each(|e| e.collect(out)),
        }
    }
}

/// Why a relation was rejected (all reported as kind RELATION).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationError(pub String);

/// Simple relation operators that expand to `$0 <op> $1 ...`.
pub fn simple_op(relation: &str) -> Option<&'static str> {
    match relation.trim().to_ascii_lowercase().as_str() {
        "and" => Some("and"),
        "&&" => Some("&&"),
        "or" => Some("or"),
        "||" => Some("||"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Index(usize),
    Name(String),
    And,
    Or,
    Not,
    LParen,
    RParen,
}

fn around(src: &str, pos: usize) -> RelationError {
    let rest: String = src[pos..].chars().take(20).collect();
    if rest.is_empty() {
        RelationError("Query relation is invalid: unexpected end of relation".to_string())
    } else {
        RelationError(format!("Query relation is invalid around '{rest}'"))
    }
}

fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, RelationError> {
    let bytes = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let word_at = |i: usize, w: &str| src.len() >= i + w.len() && src[i..i + w.len()].eq_ignore_ascii_case(w);
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            b'(' => {
                out.push((Tok::LParen, start));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, start));
                i += 1;
            }
            b'&' if bytes.get(i + 1) == Some(&b'&') => {
                out.push((Tok::And, start));
                i += 2;
            }
            b'|' if bytes.get(i + 1) == Some(&b'|') => {
                out.push((Tok::Or, start));
                i += 2;
            }
            b'!' => {
                out.push((Tok::Not, start));
                i += 1;
            }
            b'$' => {
                i += 1;
                let first = bytes.get(i).copied();
                match first {
                    Some(d) if d.is_ascii_digit() => {
                        while i < bytes.len() && bytes[i].is_ascii_digit() {
                            i += 1;
                        }
                        // `$0and$1` is valid (word operators need no spaces), `$1a` is not.
                        let glued_op = word_at(i, "and") || word_at(i, "or");
                        if i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') && !glued_op {
                            return Err(around(src, start));
                        }
                        let idx = src[start + 1..i].parse::<usize>().map_err(|_| around(src, start))?;
                        out.push((Tok::Index(idx), start));
                    }
                    Some(a) if a.is_ascii_alphabetic() => {
                        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                            i += 1;
                        }
                        out.push((Tok::Name(src[start + 1..i].to_ascii_lowercase()), start));
                    }
                    _ => return Err(around(src, start)),
                }
            }
            _ if word_at(i, "and") => {
                out.push((Tok::And, start));
                i += 3;
            }
            _ if word_at(i, "or") => {
                out.push((Tok::Or, start));
                i += 2;
            }
            _ if word_at(i, "not") => {
                out.push((Tok::Not, start));
                i += 3;
            }
            _ => return Err(around(src, start)),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    names: &'a HashMap<String, usize>,
    n_conditions: usize,
    errors: Vec<RelationError>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn err_here(&self) -> RelationError {
        let at = self.toks.get(self.pos).map(|(_, p)| *p).unwrap_or(self.src.len());
        around(self.src, at)
    }
    fn expr(&mut self) -> Result<RelationExpr, RelationError> {
        let mut terms = vec![self.term()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 { terms.pop().unwrap_or(RelationExpr::Or(vec![])) } else { RelationExpr::Or(terms) })
    }
    fn term(&mut self) -> Result<RelationExpr, RelationError> {
        let mut factors = vec![self.factor()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.pop().unwrap_or(RelationExpr::And(vec![]))
        } else {
            RelationExpr::And(factors)
        })
    }
    fn factor(&mut self) -> Result<RelationExpr, RelationError> {
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(self.err_here());
        };
        match tok {
            Tok::Not => {
                self.pos += 1;
                Ok(RelationExpr::Not(Box::new(self.factor()?)))
            }
            Tok::LParen => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err_here());
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Index(i) => {
                self.pos += 1;
                if i >= self.n_conditions {
                    self.errors.push(RelationError(format!("Condition no. {i} does not exist")));
                }
                Ok(RelationExpr::Cond(i))
            }
            Tok::Name(n) => {
                self.pos += 1;
                match self.names.get(&n) {
                    Some(&i) => Ok(RelationExpr::Cond(i)),
                    None => {
                        self.errors.push(RelationError(format!("Condition named {n} does not exist")));
                        Ok(RelationExpr::Cond(usize::MAX))
                    }
                }
            }
            _ => Err(self.err_here()),
        }
    }
}

/// Parses a relation expression. `names` maps lower-cased condition names to indexes.
/// Returns every fault found (a syntax error stops parsing; undefined references are collected).
pub fn parse(
    src: &str,
    names: &HashMap<String, usize>,
    n_conditions: usize,
) -> Result<RelationExpr, Vec<RelationError>> {
    if src.trim().is_empty() {
        return Err(vec![RelationError("Relation cannot be an empty string".to_string())]);
    }
    let toks = tokenize(src).map_err(|e| vec![e])?;
    let mut p = Parser { src, toks, pos: 0, names, n_conditions, errors: Vec::new() };
    let e = p.expr().map_err(|e| vec![e])?;
    if p.pos != p.toks.len() {
        return Err(vec![p.err_here()]);
    }
    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> HashMap<String, usize> {
        [("name0".to_string(), 0), ("name2".to_string(), 2)].into_iter().collect()
    }

    fn show(e: &RelationExpr) -> String {
        match e {
            RelationExpr::Cond(i) => format!("c{i}"),
            RelationExpr::Not(e) => format!("!{}", show(e)),
            RelationExpr::And(es) => {
                format!("({})", es.iter().map(show).collect::<Vec<_>>().join(" & "))
            }
            RelationExpr::Or(es) => {
                format!("({})", es.iter().map(show).collect::<Vec<_>>().join(" | "))
            }
        }
    }

    #[test]
    fn valid_relations_parse_with_and_binding_tighter_than_or() {
        let cases = [
            ("$0 or $1 and $2 and $name0 or $name2", "(c0 | (c1 & c2 & c0) | c2)"),
            ("$0and$1", "(c0 & c1)"),
            ("( $1 and $2) || $name2 || ((  $name0 )  ) ", "((c1 & c2) | c2 | c0)"),
            ("$0 && $1 || $2", "((c0 & c1) | c2)"),
            ("not $0 and $1", "(!c0 & c1)"),
            ("!($0 or $1)", "!(c0 | c1)"),
            ("NOT not $NAME0", "!!c0"),
            ("$3", "c3"),
        ];
        for (src, want) in cases {
            let e = parse(src, &names(), 4).unwrap_or_else(|e| panic!("{src}: {e:?}"));
            assert_eq!(show(&e), want, "{src}");
        }
    }

    #[test]
    fn invalid_relations_are_rejected() {
        let cases = [
            "$1a",
            "$",
            "$a-3",
            "$a a",
            "$4",
            "$name3",
            "$1 and",
            "$1 $2",
            "$1 and ()",
            "(($1)))",
            "()",
            "$name0$1",
            "$name0 ($1)",
            ")",
            "$1 / $2",
            "*",
            "'$1'",
            "\"$1\"",
            "sys.exit(1)",
            "mosh",
            "",
            "   ",
            "not",
            "$1 not $2",
            "$1 or or $2",
            "($1",
            "$1 &| $2",
            "$1 & $2",
            "and $1",
        ];
        for src in cases {
            assert!(parse(src, &names(), 4).is_err(), "{src:?} should be invalid");
        }
    }

    #[test]
    fn evaluation_follows_boolean_logic() {
        let e = parse("not $0 and $1 or $2", &names(), 3).unwrap();
        for bits in 0..8u8 {
            let v = |i: usize| bits & (1 << i) != 0;
            assert_eq!(e.eval(&v), (!v(0) && v(1)) || v(2), "bits {bits:03b}");
        }
        assert_eq!(e.used_conditions(), vec![0, 1, 2]);
    }
}
