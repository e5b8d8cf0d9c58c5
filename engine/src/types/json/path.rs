//! JSONPath, the subset RedisJSON applications use, and RedisJSON's legacy path syntax.
//!
//! A path is parsed once into [`Step`]s and evaluated against a document into concrete
//! locations ([`Loc`]): the keys and indexes that lead from the root to each match. Reads follow
//! a location; writes follow it mutably, so one evaluator serves every command.
//!
//! Supported: `$`, `.name`, `['name']` and `["name"]` (several separated by commas), `.*` and
//! `[*]`, `..` (recursive descent), array indexes (negative from the end, several separated by
//! commas), slices `[start:end:step]`, and filters `[?(@.a > 1 && @.b == "x")]` comparing
//! relative paths with literals. A legacy path (`.`, `.a.b`, `a[0]`) is the same path with only
//! its first match used, as RedisJSON's legacy commands do.

use serde_json::Value as J;

/// One step from a node to the nodes it selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Object members by name.
    Keys(Vec<String>),
    /// Every member of an object, every element of an array.
    Wild,
    /// Array elements by position; negative counts from the end.
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>, i64),
    /// The next step applied to this node and every node below it.
    Descend,
    Filter(Expr),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    /// A bare operand: true when a relative path selects something that is not `false`/`null`.
    Exists(Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@` followed by steps.
    Rel(Vec<Step>),
    Lit(J),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One segment of a concrete location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Idx(usize),
}

pub type Loc = Vec<Seg>;

/// A parsed path.
#[derive(Debug, Clone)]
pub struct Path {
    pub steps: Vec<Step>,
    /// Written in the legacy syntax: commands reply with the first match, not an array.
    pub legacy: bool,
    /// As the client wrote it (error messages quote it).
    pub text: String,
}

impl Path {
    pub fn parse(text: &[u8]) -> Result<Path, String> {
        let s = std::str::from_utf8(text).map_err(|_| "path is not valid UTF-8".to_string())?;
        let (body, legacy) = if let Some(rest) = s.strip_prefix('$') {
            (rest.to_string(), false)
        } else if s == "." || s.is_empty() {
            (String::new(), true)
        } else if s.starts_with('.') || s.starts_with('[') {
            (s.to_string(), true)
        } else {
            (format!(".{s}"), true)
        };
        let mut p = Parser {
            s: body.as_bytes(),
            i: 0,
            depth: 0,
        };
        let steps = p.steps(false)?;
        if p.i != p.s.len() {
            return Err(format!("unexpected character at position {}", p.i + 1));
        }
        Ok(Path {
            steps,
            legacy,
            text: s.to_string(),
        })
    }

    /// The root path, in the legacy syntax.
    pub fn root_legacy() -> Path {
        Path {
            steps: Vec::new(),
            legacy: true,
            text: ".".into(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every location the path selects in `doc`, in document order.
    pub fn eval(&self, doc: &J) -> Vec<Loc> {
        let mut out = Vec::new();
        eval_steps(&self.steps, doc, &mut out);
        out
    }

    /// For a path that ends in a plain member name: the parent's path and the name (where a
    /// write that finds nothing may create the member).
    pub fn parent_and_key(&self) -> Option<(Path, String)> {
        match self.steps.last()? {
            Step::Keys(k) if k.len() == 1 => {
                if self.steps.len() >= 2 && self.steps[self.steps.len() - 2] == Step::Descend {
                    return None;
                }
                let parent = Path {
                    steps: self.steps[..self.steps.len() - 1].to_vec(),
                    legacy: self.legacy,
                    text: self.text.clone(),
                };
                Some((parent, k[0].clone()))
            }
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Filters open around the current position.
    depth: usize,
}

/// Deepest nesting of filters and brackets accepted.
const MAX_NESTING: usize = 32;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at position {}", self.i + 1))
    }

    /// Steps until the end, or (inside a filter) until an operator or a closing parenthesis.
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'.' => {
                    self.i += 1;
                    if self.peek() == Some(b'.') {
                        self.i += 1;
                        steps.push(Step::Descend);
                        if self.peek() == Some(b'[') {
                            continue;
                        }
                    }
                    if self.peek() == Some(b'*') {
                        self.i += 1;
                        steps.push(Step::Wild);
                    } else {
                        let start = self.i;
                        while let Some(c) = self.peek() {
                            if matches!(c, b'.' | b'[')
                                || (in_filter && !(c.is_ascii_alphanumeric() || c == b'_'))
                            {
                                break;
                            }
                            self.i += 1;
                        }
                        if self.i == start {
                            return self.err("expected a member name");
                        }
                        let name = std::str::from_utf8(&self.s[start..self.i])
                            .map_err(|_| "bad member name".to_string())?;
                        steps.push(Step::Keys(vec![name.to_string()]));
                    }
                }
                b'[' => {
                    self.i += 1;
                    steps.push(self.bracket()?);
                }
                _ if in_filter => break,
                _ => return self.err("unexpected character"),
            }
        }
        Ok(steps)
    }

    fn bracket(&mut self) -> Result<Step, String> {
        self.skip_ws();
        let step = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Step::Wild
            }
            Some(b'\'' | b'"') => {
                let mut keys = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b',') {
                        break;
                    }
                    self.i += 1;
                    self.skip_ws();
                    keys.push(self.quoted()?);
                }
                Step::Keys(keys)
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                if self.peek() != Some(b'(') {
                    return self.err("expected '(' after '?'");
                }
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return self.err("filters nested too deeply");
                }
                let e = self.expr(0)?;
                self.depth -= 1;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("expected ')'");
                }
                self.i += 1;
                Step::Filter(e)
            }
            _ => self.index_or_slice()?,
        };
        self.skip_ws();
        if self.peek() != Some(b']') {
            return self.err("expected ']'");
        }
        self.i += 1;
        Ok(step)
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = self.peek().unwrap_or(0);
        if q != b'\'' && q != b'"' {
            return self.err("expected a quoted name");
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => return self.err("unterminated string"),
                    }
                    self.i += 1;
                }
                Some(c) if c == q => {
                    self.i += 1;
                    break;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| "bad member name".to_string())
    }

    fn int(&mut self) -> Result<Option<i64>, String> {
        self.skip_ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start {
            return Ok(None);
        }
        let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        t.parse::<i64>()
            .map(Some)
            .or_else(|_| self.err("bad array index"))
    }

    fn index_or_slice(&mut self) -> Result<Step, String> {
        let first = self.int()?;
        self.skip_ws();
        if self.peek() == Some(b':') {
            self.i += 1;
            let end = self.int()?;
            self.skip_ws();
            let mut step = 1;
            if self.peek() == Some(b':') {
                self.i += 1;
                step = self.int()?.unwrap_or(1);
                if step <= 0 {
                    return self.err("slice step must be positive");
                }
            }
            return Ok(Step::Slice(first, end, step));
        }
        let Some(first) = first else {
            return self.err("expected an index, a name or '*'");
        };
        let mut idx = vec![first];
        loop {
            self.skip_ws();
            if self.peek() != Some(b',') {
                break;
            }
            self.i += 1;
            match self.int()? {
                Some(n) => idx.push(n),
                None => return self.err("expected an index"),
            }
        }
        Ok(Step::Indexes(idx))
    }

    /// Precedence climbing: `||` (0) below `&&` (1).
    fn expr(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_NESTING {
            return self.err("filter nested too deeply");
        }
        let mut left = self.and_expr(depth)?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                let right = self.and_expr(depth)?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, String> {
        let mut left = self.unary(depth)?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                let right = self.unary(depth)?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_NESTING {
            return self.err("filter nested too deeply");
        }
        self.skip_ws();
        match self.peek() {
            Some(b'!') if self.s.get(self.i + 1) != Some(&b'=') => {
                self.i += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(b'(') => {
                self.i += 1;
                let e = self.expr(depth + 1)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("expected ')'");
                }
                self.i += 1;
                Ok(e)
            }
            _ => {
                let left = self.operand()?;
                self.skip_ws();
                let rest = &self.s[self.i..];
                let op = [
                    (&b"=="[..], Op::Eq),
                    (b"!=", Op::Ne),
                    (b"<=", Op::Le),
                    (b">=", Op::Ge),
                    (b"<", Op::Lt),
                    (b">", Op::Gt),
                ]
                .into_iter()
                .find(|(t, _)| rest.starts_with(t));
                match op {
                    Some((t, op)) => {
                        self.i += t.len();
                        let right = self.operand()?;
                        Ok(Expr::Cmp(left, op, right))
                    }
                    None => Ok(Expr::Exists(left)),
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Rel(self.steps(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Lit(J::String(self.quoted()?))),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')
                }) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                match serde_json::from_str::<J>(t) {
                    Ok(v @ J::Number(_)) => Ok(Operand::Lit(v)),
                    _ => self.err("bad number"),
                }
            }
            _ => {
                for (word, v) in [
                    ("true", J::Bool(true)),
                    ("false", J::Bool(false)),
                    ("null", J::Null),
                ] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(Operand::Lit(v));
                    }
                }
                self.err("expected a filter operand")
            }
        }
    }
}

/// Applies the steps one at a time to the set of locations reached so far, each location kept
/// once (in document order), so repeated `..` costs at most the document's size per step.
fn eval_steps(steps: &[Step], root: &J, out: &mut Vec<Loc>) {
    let mut cur: Vec<Loc> = vec![Vec::new()];
    for step in steps {
        let mut next = Vec::new();
        for l in &cur {
            let Some(node) = get(root, l) else { continue };
            let mut loc = l.clone();
            match step {
                Step::Descend => descendants(node, &mut loc, &mut next),
                step => apply(step, node, &mut loc, &mut next),
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(next.len());
        next.retain(|l| seen.insert(l.clone()));
        cur = next;
        if cur.is_empty() {
            break;
        }
    }
    out.extend(cur);
}

/// The node at `loc` and every node below it, in pre-order.
fn descendants(node: &J, loc: &mut Loc, out: &mut Vec<Loc>) {
    out.push(loc.clone());
    for_children(node, loc, |child, loc| descendants(child, loc, out));
}

/// One (non-descending) step from the node at `loc`.
fn apply(step: &Step, node: &J, loc: &mut Loc, out: &mut Vec<Loc>) {
    let mut push = |loc: &mut Loc, seg: Seg| {
        loc.push(seg);
        out.push(loc.clone());
        loc.pop();
    };
    match step {
        Step::Descend => {}
        Step::Keys(keys) => {
            if let J::Object(m) = node {
                for k in keys {
                    if m.contains_key(k) {
                        push(loc, Seg::Key(k.clone()));
                    }
                }
            }
        }
        Step::Wild => for_children(node, loc, |_, loc| out.push(loc.clone())),
        Step::Indexes(idx) => {
            if let J::Array(a) = node {
                for &i in idx {
                    if let Some(p) = resolve_index(i, a.len()) {
                        push(loc, Seg::Idx(p));
                    }
                }
            }
        }
        Step::Slice(start, end, step) => {
            if let J::Array(a) = node {
                let n = a.len() as i64;
                let norm = |x: i64| if x < 0 { (n + x).max(0) } else { x.min(n) };
                let s = start.map_or(0, norm);
                let e = end.map_or(n, norm);
                let mut i = s;
                while i < e {
                    push(loc, Seg::Idx(i as usize));
                    match i.checked_add(*step) {
                        Some(next) => i = next,
                        None => break,
                    }
                }
            }
        }
        Step::Filter(e) => for_children(node, loc, |child, loc| {
            if test(e, child) {
                out.push(loc.clone());
            }
        }),
    }
}

fn for_children(node: &J, loc: &mut Loc, mut f: impl FnMut(&J, &mut Loc)) {
    match node {
        J::Object(m) => {
            for (k, v) in m {
                loc.push(Seg::Key(k.clone()));
                f(v, loc);
                loc.pop();
            }
        }
        J::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                loc.push(Seg::Idx(i));
                f(v, loc);
                loc.pop();
            }
        }
        _ => {}
    }
}

/// A possibly negative index into an array of `len` elements.
pub fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let p = if i < 0 { len as i64 + i } else { i };
    (p >= 0 && (p as usize) < len).then_some(p as usize)
}

fn test(e: &Expr, node: &J) -> bool {
    match e {
        Expr::Or(a, b) => test(a, node) || test(b, node),
        Expr::And(a, b) => test(a, node) && test(b, node),
        Expr::Not(a) => !test(a, node),
        Expr::Exists(o) => operand_values(o, node)
            .iter()
            .any(|v| !matches!(v, J::Null | J::Bool(false))),
        Expr::Cmp(a, op, b) => {
            let (l, r) = (operand_values(a, node), operand_values(b, node));
            l.iter().any(|x| r.iter().any(|y| compare(x, *op, y)))
        }
    }
}

fn operand_values<'a>(o: &'a Operand, node: &'a J) -> Vec<&'a J> {
    match o {
        Operand::Lit(v) => vec![v],
        Operand::Rel(steps) => {
            let mut locs = Vec::new();
            eval_steps(steps, node, &mut locs);
            locs.iter().filter_map(|l| get(node, l)).collect()
        }
    }
}

fn compare(a: &J, op: Op, b: &J) -> bool {
    use std::cmp::Ordering::*;
    let ord = match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()),
        (J::String(x), J::String(y)) => Some(x.cmp(y)),
        (J::Bool(x), J::Bool(y)) => Some(x.cmp(y)),
        (J::Null, J::Null) => Some(Equal),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, o) => o == Some(Equal),
        (Op::Ne, o) => o != Some(Equal),
        (_, None) => false,
        (Op::Lt, Some(o)) => o == Less,
        (Op::Le, Some(o)) => o != Greater,
        (Op::Gt, Some(o)) => o == Greater,
        (Op::Ge, Some(o)) => o != Less,
    }
}

/// The node at a location.
pub fn get<'a>(mut node: &'a J, loc: &[Seg]) -> Option<&'a J> {
    for s in loc {
        node = match (s, node) {
            (Seg::Key(k), J::Object(m)) => m.get(k)?,
            (Seg::Idx(i), J::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

pub fn get_mut<'a>(mut node: &'a mut J, loc: &[Seg]) -> Option<&'a mut J> {
    for s in loc {
        node = match (s, node) {
            (Seg::Key(k), J::Object(m)) => m.get_mut(k)?,
            (Seg::Idx(i), J::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(doc: &J, p: &str) -> Vec<J> {
        let path = Path::parse(p.as_bytes()).unwrap();
        path.eval(doc)
            .iter()
            .map(|l| get(doc, l).unwrap().clone())
            .collect()
    }

    #[test]
    fn selects_what_jsonpath_selects() {
        let d = json!({"a": {"b": 1, "c": [1, 2, 3]}, "x": [{"b": 2}, {"b": 3, "y": true}]});
        assert_eq!(sel(&d, "$"), vec![d.clone()]);
        assert_eq!(sel(&d, "."), vec![d.clone()]);
        assert_eq!(sel(&d, "$.a.b"), vec![json!(1)]);
        assert_eq!(sel(&d, "a.b"), vec![json!(1)]);
        assert_eq!(sel(&d, "$['a']['c'][1]"), vec![json!(2)]);
        assert_eq!(sel(&d, "$.a.c[-1]"), vec![json!(3)]);
        assert_eq!(sel(&d, "$.a.c[0,2]"), vec![json!(1), json!(3)]);
        assert_eq!(sel(&d, "$.a.c[1:]"), vec![json!(2), json!(3)]);
        assert_eq!(sel(&d, "$.a.c[:2]"), vec![json!(1), json!(2)]);
        assert_eq!(sel(&d, "$.a.c[::2]"), vec![json!(1), json!(3)]);
        assert_eq!(sel(&d, "$..b"), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(sel(&d, "$.x[*].b"), vec![json!(2), json!(3)]);
        assert_eq!(sel(&d, "$.x[?(@.b > 2)].b"), vec![json!(3)]);
        assert_eq!(sel(&d, "$.x[?(@.y)].b"), vec![json!(3)]);
        assert_eq!(
            sel(&d, "$.x[?(@.b == 2 || @.y == true)].b"),
            vec![json!(2), json!(3)]
        );
        assert_eq!(sel(&d, "$.x[?(@.b >= 2 && !@.y)].b"), vec![json!(2)]);
        assert_eq!(sel(&d, "$.nope"), Vec::<J>::new());
        assert_eq!(sel(&d, "$.a.*").len(), 2);
    }

    #[test]
    fn hostile_paths_stay_bounded() {
        let deep = format!("$.a{}", "[?(@".repeat(10_000));
        assert!(Path::parse(deep.as_bytes()).is_err());
        let nots = format!("$[?({}@.a)]", "!".repeat(10_000));
        assert!(Path::parse(nots.as_bytes()).is_err());
        let d = json!([1, 2, 3]);
        assert_eq!(sel(&d, "$[1::9223372036854775807]"), vec![json!(2)]);
        // Repeated descents visit each node once per step.
        let mut doc = json!(1);
        for _ in 0..100 {
            doc = json!({"a": doc, "b": [doc.clone()]});
            if doc.to_string().len() > 100_000 {
                break;
            }
        }
        let many = format!("${}", "..*".repeat(20));
        let all = sel(&doc, "$..*").len();
        assert!(sel(&doc, &many).len() <= all);
    }

    #[test]
    fn bad_paths_are_refused() {
        for p in [
            "$.",
            "$[",
            "$[1",
            "$.a[?(@.b >)]",
            "$['a",
            "$x",
            "$.a[1:2:0]",
        ] {
            assert!(Path::parse(p.as_bytes()).is_err(), "{p}");
        }
    }
}
