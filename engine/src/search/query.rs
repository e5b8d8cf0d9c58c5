//! The FT.SEARCH query language (dialect 2), the parts applications use: `*`, terms, prefixes
//! (`hel*`), phrases, `@text:(...)`, `@tag:{a | b}`, `@num:[lo (hi]`, intersection by
//! juxtaposition, union with `|`, negation with `-`, parentheses, `$param` substitution, and a
//! trailing vector clause `=>[KNN k @field $vec [EF_RUNTIME n] [AS name]]`.

use std::collections::HashMap;

use bytes::Bytes;

/// A filter over documents.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A word in one TEXT field, or any when `field` is None. `prefix` matches words that
    /// start with it.
    Term {
        field: Option<String>,
        word: String,
        prefix: bool,
    },
    /// Consecutive words.
    Phrase {
        field: Option<String>,
        words: Vec<String>,
    },
    /// Any of these tag values (a trailing `*` makes a prefix).
    Tag {
        field: String,
        values: Vec<String>,
    },
    Range {
        field: String,
        lo: f64,
        lo_excl: bool,
        hi: f64,
        hi_excl: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    pub k: usize,
    pub field: String,
    pub vector: Bytes,
    pub ef_runtime: Option<usize>,
    /// The name the distance is returned under (`__<field>_score` by default).
    pub score_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Node,
    pub knn: Option<Knn>,
}

/// Most nearest neighbours a query may ask for.
pub const MAX_K: usize = 1_000_000;
const MAX_DEPTH: usize = 64;

pub fn syntax(at: usize, what: &str) -> String {
    format!("Syntax error at offset {at} near {what}")
}

/// Parses `q` with `params` (PARAMS name value...).
pub fn parse(q: &[u8], params: &HashMap<String, Bytes>) -> Result<Query, String> {
    let (filter_src, knn_src) = split_knn(q);
    let mut p = P {
        s: filter_src,
        i: 0,
        params,
    };
    let filter = p.union(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(syntax(p.i, &String::from_utf8_lossy(&p.s[p.i..])));
    }
    let knn = match knn_src {
        None => None,
        Some(src) => Some(parse_knn(src, params)?),
    };
    Ok(Query { filter, knn })
}

/// Splits off the trailing `=>[...]` clause: the last `=>`, outside quotes, followed by a
/// bracket.
fn split_knn(q: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut quote = false;
    let mut found = None;
    let mut i = 0;
    while i < q.len() {
        match q[i] {
            b'\\' => i += 1,
            b'"' => quote = !quote,
            b'=' if !quote && q.get(i + 1) == Some(&b'>') => {
                let rest = q[i + 2..].trim_ascii_start();
                if rest.first().is_some_and(|c| *c == b'[' || *c == b'{') {
                    found = Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    match found {
        Some(i) => (&q[..i], Some(&q[i + 2..])),
        None => (q, None),
    }
}

fn param<'a>(
    tok: &'a str,
    params: &'a HashMap<String, Bytes>,
) -> Result<std::borrow::Cow<'a, str>, String> {
    match tok.strip_prefix('$') {
        Some(name) => params
            .get(name)
            .map(|v| String::from_utf8_lossy(v))
            .ok_or_else(|| format!("No such parameter `{name}`")),
        None => Ok(std::borrow::Cow::Borrowed(tok)),
    }
}

fn parse_knn(src: &[u8], params: &HashMap<String, Bytes>) -> Result<Knn, String> {
    let s = String::from_utf8_lossy(src);
    let s = s.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| syntax(0, s))?;
    let toks: Vec<&str> = inner.split_whitespace().collect();
    if toks.len() < 4 || !toks[0].eq_ignore_ascii_case("KNN") {
        return Err(syntax(0, s));
    }
    let k: i64 = param(toks[1], params)?
        .parse()
        .map_err(|_| syntax(0, toks[1]))?;
    if k < 0 || k as usize > MAX_K {
        return Err(format!("Invalid K value: {k}"));
    }
    let field = toks[2]
        .strip_prefix('@')
        .ok_or_else(|| syntax(0, toks[2]))?
        .to_string();
    let name = toks[3]
        .strip_prefix('$')
        .ok_or_else(|| syntax(0, toks[3]))?;
    let vector = params
        .get(name)
        .cloned()
        .ok_or_else(|| format!("No such parameter `{name}`"))?;
    let mut knn = Knn {
        k: k as usize,
        score_name: format!("__{field}_score"),
        field,
        vector,
        ef_runtime: None,
    };
    let mut i = 4;
    while i < toks.len() {
        let opt = toks[i].to_ascii_uppercase();
        let val = toks.get(i + 1).ok_or_else(|| syntax(0, toks[i]))?;
        match opt.as_str() {
            "AS" => knn.score_name = param(val, params)?.to_string(),
            "EF_RUNTIME" => {
                let ef: usize = param(val, params)?
                    .parse()
                    .ok()
                    .filter(|&e| e > 0)
                    .ok_or_else(|| "Invalid EF_RUNTIME value".to_string())?;
                knn.ef_runtime = Some(ef);
            }
            "EPSILON" => {}
            _ => return Err(syntax(0, toks[i])),
        }
        i += 2;
    }
    Ok(knn)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    params: &'a HashMap<String, Bytes>,
}

fn is_sep(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b'.'
                | b'<'
                | b'>'
                | b'{'
                | b'}'
                | b'['
                | b']'
                | b'"'
                | b'\''
                | b':'
                | b';'
                | b'!'
                | b'@'
                | b'#'
                | b'$'
                | b'%'
                | b'^'
                | b'&'
                | b'*'
                | b'('
                | b')'
                | b'-'
                | b'+'
                | b'='
                | b'~'
                | b'|'
                | b'/'
        )
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn err<T>(&self) -> Result<T, String> {
        let near = String::from_utf8_lossy(&self.s[self.i.min(self.s.len())..]).to_string();
        Err(syntax(
            self.i,
            if near.is_empty() { "<end>" } else { &near },
        ))
    }

    fn union(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("Query nested too deeply".into());
        }
        let mut alts = vec![self.intersect(depth)?];
        loop {
            self.ws();
            if self.peek() == Some(b'|') {
                self.i += 1;
                alts.push(self.intersect(depth)?);
            } else {
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::All)
        } else {
            Node::Or(alts)
        })
    }

    fn intersect(&mut self, depth: usize) -> Result<Node, String> {
        let mut parts = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                None | Some(b'|' | b')') => break,
                _ => parts.push(self.unary(depth)?),
            }
        }
        match parts.len() {
            0 => self.err(),
            1 => Ok(parts.pop().unwrap_or(Node::All)),
            _ => Ok(Node::And(parts)),
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("Query nested too deeply".into());
        }
        self.ws();
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(Node::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(b'(') => {
                self.i += 1;
                let n = self.union(depth + 1)?;
                self.ws();
                if self.peek() != Some(b')') {
                    return self.err();
                }
                self.i += 1;
                Ok(n)
            }
            Some(b'*') => {
                self.i += 1;
                Ok(Node::All)
            }
            Some(b'@') => {
                self.i += 1;
                let field = self.name();
                if field.is_empty() || self.peek() != Some(b':') {
                    return self.err();
                }
                self.i += 1;
                self.ws();
                self.field_expr(field, depth)
            }
            Some(b'"') => {
                let words = self.phrase()?;
                Ok(Node::Phrase { field: None, words })
            }
            // A word, or a `$name` parameter standing for one.
            Some(c) if !is_sep(c) || c == b'\\' || c == b'$' => {
                let (w, prefix) = self.word()?;
                Ok(Node::Term {
                    field: None,
                    word: w,
                    prefix,
                })
            }
            _ => self.err(),
        }
    }

    fn phrase(&mut self) -> Result<Vec<String>, String> {
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != b'"') {
            self.i += 1;
        }
        if self.peek() != Some(b'"') {
            return self.err();
        }
        let text = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
        self.i += 1;
        Ok(tokenize(&text))
    }

    /// A field or parameter name: letters, digits and `_`.
    fn name(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).to_string()
    }

    /// A bare word (with `\` escapes), lowercased; a trailing `*` makes it a prefix. A `$name`
    /// is replaced by its parameter.
    fn word(&mut self) -> Result<(String, bool), String> {
        let mut w = Vec::new();
        if self.peek() == Some(b'$') {
            self.i += 1;
            let name = self.name();
            let v = param(&format!("${name}"), self.params)?.to_lowercase();
            return Ok((v, false));
        }
        while let Some(c) = self.peek() {
            if c == b'\\' {
                if let Some(&n) = self.s.get(self.i + 1) {
                    w.push(n);
                    self.i += 2;
                    continue;
                }
            }
            if is_sep(c) {
                break;
            }
            w.push(c);
            self.i += 1;
        }
        let prefix = self.peek() == Some(b'*');
        if prefix {
            self.i += 1;
        }
        if w.is_empty() {
            return self.err();
        }
        Ok((String::from_utf8_lossy(&w).to_lowercase(), prefix))
    }

    fn field_expr(&mut self, field: String, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("Query nested too deeply".into());
        }
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut values = Vec::new();
                let mut cur = Vec::new();
                loop {
                    match self.peek() {
                        None => return self.err(),
                        Some(b'\\') if self.i + 1 < self.s.len() => {
                            cur.push(self.s[self.i + 1]);
                            self.i += 2;
                        }
                        Some(c @ (b'|' | b'}')) => {
                            self.i += 1;
                            let v = String::from_utf8_lossy(&cur).trim().to_string();
                            cur.clear();
                            if !v.is_empty() {
                                values.push(param(&v, self.params)?.to_string());
                            }
                            if c == b'}' {
                                break;
                            }
                        }
                        Some(c) => {
                            cur.push(c);
                            self.i += 1;
                        }
                    }
                }
                if values.is_empty() {
                    return self.err();
                }
                Ok(Node::Tag { field, values })
            }
            Some(b'[') => {
                self.i += 1;
                let end = self.s[self.i..]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|p| p + self.i)
                    .ok_or_else(|| syntax(self.i, "["))?;
                let inner = String::from_utf8_lossy(&self.s[self.i..end]).to_string();
                let toks: Vec<&str> = inner
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|t| !t.is_empty())
                    .collect();
                if toks.len() != 2 {
                    return Err(syntax(self.i, &inner));
                }
                let bound = |t: &str| -> Result<(f64, bool), String> {
                    let (t, excl) = match t.strip_prefix('(') {
                        Some(r) => (r, true),
                        None => (t, false),
                    };
                    let v = param(t, self.params)?;
                    let (v, excl) = match v.strip_prefix('(') {
                        Some(r) => (r.to_string(), true),
                        None => (v.to_string(), excl),
                    };
                    let x = match v.to_ascii_lowercase().as_str() {
                        "inf" | "+inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        s => s
                            .parse::<f64>()
                            .ok()
                            .filter(|x| !x.is_nan())
                            .ok_or_else(|| format!("Expecting numeric or parameter near {t}"))?,
                    };
                    Ok((x, excl))
                };
                let (lo, lo_excl) = bound(toks[0])?;
                let (hi, hi_excl) = bound(toks[1])?;
                self.i = end + 1;
                Ok(Node::Range {
                    field,
                    lo,
                    lo_excl,
                    hi,
                    hi_excl,
                })
            }
            Some(b'(') => {
                self.i += 1;
                let n = self.union(depth + 1)?;
                self.ws();
                if self.peek() != Some(b')') {
                    return self.err();
                }
                self.i += 1;
                Ok(scope(n, &field))
            }
            Some(b'"') => {
                let words = self.phrase()?;
                Ok(Node::Phrase {
                    field: Some(field),
                    words,
                })
            }
            Some(b'-') => {
                self.i += 1;
                let n = self.field_expr(field, depth + 1)?;
                Ok(Node::Not(Box::new(n)))
            }
            _ => {
                let (w, prefix) = self.word()?;
                Ok(Node::Term {
                    field: Some(field),
                    word: w,
                    prefix,
                })
            }
        }
    }
}

/// Restricts the unfielded terms of `n` to `field` (`@f:(a | b)`).
fn scope(n: Node, field: &str) -> Node {
    match n {
        Node::And(v) => Node::And(v.into_iter().map(|n| scope(n, field)).collect()),
        Node::Or(v) => Node::Or(v.into_iter().map(|n| scope(n, field)).collect()),
        Node::Not(n) => Node::Not(Box::new(scope(*n, field))),
        Node::Term {
            field: None,
            word,
            prefix,
        } => Node::Term {
            field: Some(field.to_string()),
            word,
            prefix,
        },
        Node::Phrase { field: None, words } => Node::Phrase {
            field: Some(field.to_string()),
            words,
        },
        other => other,
    }
}

/// Splits text into lowercase words at RediSearch's separators.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii() && is_sep(c as u8) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        let mut p = HashMap::new();
        p.insert("vec".to_string(), Bytes::from_static(b"abcd"));
        p.insert("lo".to_string(), Bytes::from_static(b"2"));
        parse(s.as_bytes(), &p).unwrap()
    }

    #[test]
    fn parses_the_forms_applications_use() {
        assert_eq!(q("*").filter, Node::All);
        let k = q("*=>[KNN 10 @embedding $vec AS score]");
        assert_eq!(k.filter, Node::All);
        let knn = k.knn.unwrap();
        assert_eq!(
            (knn.k, &knn.field[..], &knn.score_name[..]),
            (10, "embedding", "score")
        );
        assert_eq!(knn.vector, Bytes::from_static(b"abcd"));
        let h = q("(@user_id:[$lo 2])=>[KNN 1 @v $vec EF_RUNTIME 50]");
        assert_eq!(
            h.filter,
            Node::Range {
                field: "user_id".into(),
                lo: 2.0,
                lo_excl: false,
                hi: 2.0,
                hi_excl: false
            }
        );
        assert_eq!(h.knn.unwrap().score_name, "__v_score");
        assert_eq!(
            q("@t:{ a | b\\ c }").filter,
            Node::Tag {
                field: "t".into(),
                values: vec!["a".into(), "b c".into()]
            }
        );
        assert_eq!(
            q("@n:[(1 +inf]").filter,
            Node::Range {
                field: "n".into(),
                lo: 1.0,
                lo_excl: true,
                hi: f64::INFINITY,
                hi_excl: false
            }
        );
        assert!(matches!(q("hello wor* | -x").filter, Node::Or(_)));
        assert!(matches!(q("@title:(foo bar)").filter, Node::And(_)));
    }

    #[test]
    fn malformed_queries_are_refused() {
        let p = HashMap::new();
        let deep = format!("{}x", "-".repeat(100_000));
        assert!(parse(deep.as_bytes(), &p).is_err());
        let deep = format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(deep.as_bytes(), &p).is_err());
        let deep = format!("@t:{}x", "-".repeat(100_000));
        assert!(parse(deep.as_bytes(), &p).is_err());
        for s in [
            "@",
            "(a",
            "@n:[1]",
            "@n:[a b]",
            "*=>[KNN x @v $vec]",
            "*=>[KNN 3 @v $missing]",
            "@t:{}",
            "a |",
        ] {
            assert!(parse(s.as_bytes(), &p).is_err(), "{s}");
        }
    }
}
