//! RediSearch's expression language, the part applications use: `FT.CREATE ... FILTER`,
//! `FT.AGGREGATE ... APPLY` and `FT.AGGREGATE ... FILTER`.
//!
//! ```text
//! expr   := or
//! or     := and ('||' and)*
//! and    := not ('&&' not)*
//! not    := '!' not | cmp
//! cmp    := sum (('==' | '!=' | '<' | '<=' | '>' | '>=') sum)?
//! sum    := prod (('+' | '-') prod)*
//! prod   := pow (('*' | '/' | '%') pow)*
//! pow    := unary ('^' pow)?
//! unary  := '-' unary | atom
//! atom   := number | 'string' | "string" | @name | name '(' [expr (',' expr)*] ')' | '(' expr ')'
//! ```
//!
//! Values are numbers, strings or null (a property the row lacks). Two strings compare as
//! text; a string and a number compare as numbers when the string reads as one (a hash field
//! "2005" is greater than 2000). Arithmetic on something that is not a number gives null. A value is true when it
//! is a non-zero number or a non-empty string.

use std::cmp::Ordering;

/// Deepest nesting of parentheses and prefix operators accepted.
const MAX_DEPTH: usize = 64;
/// Most operators and operands in one expression: evaluating recurses once per operator, so
/// a long chain like `1+1+...` must be bounded as nesting is.
const MAX_NODES: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Num(f64),
    Str(String),
}

impl Val {
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok().filter(|n: &f64| !n.is_nan()),
            Val::Null => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Val),
    Prop(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    Upper,
    Lower,
    StartsWith,
    Contains,
    StrLen,
    Substr,
    Exists,
    Abs,
    Ceil,
    Floor,
    Sqrt,
    Log,
    Log2,
    Exp,
}

impl Func {
    /// The function called `name`, with its least and most argument counts.
    fn named(name: &str) -> Option<(Func, usize, usize)> {
        use Func::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "upper" => (Upper, 1, 1),
            "lower" => (Lower, 1, 1),
            "startswith" => (StartsWith, 2, 2),
            "contains" => (Contains, 2, 2),
            "strlen" => (StrLen, 1, 1),
            "substr" => (Substr, 3, 3),
            "exists" => (Exists, 1, 1),
            "abs" => (Abs, 1, 1),
            "ceil" => (Ceil, 1, 1),
            "floor" => (Floor, 1, 1),
            "sqrt" => (Sqrt, 1, 1),
            "log" => (Log, 1, 1),
            "log2" => (Log2, 1, 1),
            "exp" => (Exp, 1, 1),
            _ => return None,
        })
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("Syntax error at offset {}: {what}", self.i))
    }

    /// Counts one more node of the tree against [`MAX_NODES`].
    fn node(&mut self) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.err("expression too long");
        }
        Ok(())
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let mut l = self.and()?;
        while self.eat("||") {
            self.node()?;
            let r = self.and()?;
            l = Expr::Bin(Op::Or, Box::new(l), Box::new(r));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        while self.eat("&&") {
            self.node()?;
            let r = self.not()?;
            l = Expr::Bin(Op::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    /// `!` binds looser than comparisons, as in RediSearch: `!@a == 1` is `!(@a == 1)`.
    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            self.node()?;
            self.deeper()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.sum()?;
        // Two-character operators first.
        let op = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, op)| op);
        match op {
            Some(op) => {
                self.node()?;
                Ok(Expr::Bin(op, Box::new(l), Box::new(self.sum()?)))
            }
            None => Ok(l),
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.chain(&[(b'+', Op::Add), (b'-', Op::Sub)], Self::prod)
    }

    fn prod(&mut self) -> Result<Expr, String> {
        self.chain(
            &[(b'*', Op::Mul), (b'/', Op::Div), (b'%', Op::Mod)],
            Self::pow,
        )
    }

    /// Operands parsed by `next`, joined left to right by the one-character operators `ops`.
    fn chain(
        &mut self,
        ops: &[(u8, Op)],
        next: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut l = next(self)?;
        loop {
            let c = self.peek();
            let Some(&(_, op)) = ops.iter().find(|(t, _)| Some(*t) == c) else {
                return Ok(l);
            };
            self.i += 1;
            self.node()?;
            l = Expr::Bin(op, Box::new(l), Box::new(next(self)?));
        }
    }

    fn pow(&mut self) -> Result<Expr, String> {
        let l = self.unary()?;
        if self.eat("^") {
            self.node()?;
            self.deeper()?;
            let r = self.pow()?;
            self.depth -= 1;
            return Ok(Expr::Bin(Op::Pow, Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() != Some(b'-') {
            return self.atom();
        }
        self.i += 1;
        self.node()?;
        self.deeper()?;
        let e = Box::new(self.unary()?);
        self.depth -= 1;
        Ok(Expr::Neg(e))
    }

    fn name(&mut self) -> &str {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }

    fn atom(&mut self) -> Result<Expr, String> {
        self.node()?;
        match self.peek() {
            None => self.err("unexpected end of expression"),
            Some(b'(') => {
                self.i += 1;
                let e = self.or()?;
                if !self.eat(")") {
                    return self.err("missing `)`");
                }
                Ok(e)
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return self.err("unterminated string"),
                        Some(b'\\') if self.s.get(self.i + 1).is_some() => {
                            out.push(self.s[self.i + 1]);
                            self.i += 2;
                        }
                        Some(&c) if c == q => {
                            self.i += 1;
                            break;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Expr::Lit(Val::Str(String::from_utf8_lossy(&out).into())))
            }
            Some(b'@') => {
                self.i += 1;
                let n = self.name().to_string();
                if n.is_empty() {
                    return self.err("a property name must follow `@`");
                }
                Ok(Expr::Prop(n))
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
                    || (self.i > start
                        && matches!(self.s.get(self.i), Some(b'+' | b'-'))
                        && matches!(self.s[self.i - 1], b'e' | b'E'))
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                match t.parse::<f64>() {
                    Ok(n) if !n.is_nan() => Ok(Expr::Lit(Val::Num(n))),
                    _ => self.err(&format!("bad number `{t}`")),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let n = self.name().to_string();
                let Some((f, least, most)) = Func::named(&n) else {
                    return self.err(&format!("unknown function `{n}`"));
                };
                if !self.eat("(") {
                    return self.err(&format!("`(` expected after `{n}`"));
                }
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.or()?);
                        if self.eat(")") {
                            break;
                        }
                        if !self.eat(",") {
                            return self.err("`,` or `)` expected");
                        }
                    }
                }
                if args.len() < least || args.len() > most {
                    return self.err(&format!("wrong number of arguments for `{n}`"));
                }
                Ok(Expr::Call(f, args))
            }
            Some(c) => self.err(&format!("unexpected `{}`", c as char)),
        }
    }
}

impl Expr {
    pub fn parse(s: &str) -> Result<Expr, String> {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
            nodes: 0,
        };
        let e = p.or()?;
        if p.peek().is_some() {
            return p.err("unexpected text after the expression");
        }
        Ok(e)
    }

    /// The properties the expression reads.
    pub fn props(&self, out: &mut Vec<String>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Prop(p) => {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Expr::Not(e) | Expr::Neg(e) => e.props(out),
            Expr::Bin(_, l, r) => {
                l.props(out);
                r.props(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.props(out)),
        }
    }

    /// The value of the expression, properties read through `get`.
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<Val>) -> Val {
        match self {
            Expr::Lit(v) => v.clone(),
            Expr::Prop(p) => get(p).unwrap_or(Val::Null),
            Expr::Not(e) => Val::Num(!e.eval(get).truthy() as u8 as f64),
            Expr::Neg(e) => e.eval(get).num().map_or(Val::Null, |n| Val::Num(-n)),
            Expr::Bin(Op::And, l, r) => {
                Val::Num((l.eval(get).truthy() && r.eval(get).truthy()) as u8 as f64)
            }
            Expr::Bin(Op::Or, l, r) => {
                Val::Num((l.eval(get).truthy() || r.eval(get).truthy()) as u8 as f64)
            }
            Expr::Bin(op, l, r) => binary(*op, l.eval(get), r.eval(get)),
            Expr::Call(f, args) => {
                let v: Vec<Val> = args.iter().map(|a| a.eval(get)).collect();
                call(*f, &v)
            }
        }
    }
}

/// Two strings compare as text; a number and a string that reads as one, as numbers.
fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    if let (Val::Str(x), Val::Str(y)) = (a, b) {
        return Some(x.cmp(y));
    }
    if let (Some(x), Some(y)) = (a.num(), b.num()) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        _ => Some(render(a).cmp(&render(b))),
    }
}

fn binary(op: Op, a: Val, b: Val) -> Val {
    let truth = |t: bool| Val::Num(t as u8 as f64);
    match op {
        Op::Eq => truth(compare(&a, &b) == Some(Ordering::Equal)),
        Op::Ne => truth(compare(&a, &b) != Some(Ordering::Equal)),
        Op::Lt => truth(compare(&a, &b) == Some(Ordering::Less)),
        Op::Le => truth(matches!(
            compare(&a, &b),
            Some(Ordering::Less | Ordering::Equal)
        )),
        Op::Gt => truth(compare(&a, &b) == Some(Ordering::Greater)),
        Op::Ge => truth(matches!(
            compare(&a, &b),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        _ => {
            let (Some(x), Some(y)) = (a.num(), b.num()) else {
                return Val::Null;
            };
            let n = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
                Op::Mod => {
                    // RediSearch takes the modulo of the integer parts.
                    let (x, y) = (x as i64, y as i64);
                    if y == 0 {
                        return Val::Null;
                    }
                    x.wrapping_rem(y) as f64
                }
                Op::Pow => x.powf(y),
                _ => return Val::Null,
            };
            if n.is_nan() {
                Val::Null
            } else {
                Val::Num(n)
            }
        }
    }
}

fn call(f: Func, v: &[Val]) -> Val {
    use Func::*;
    let s = |i: usize| -> Option<String> {
        match &v[i] {
            Val::Null => None,
            x => Some(render(x)),
        }
    };
    let n = |i: usize| v[i].num();
    let num = |x: Option<f64>| x.filter(|x| !x.is_nan()).map_or(Val::Null, Val::Num);
    match f {
        Upper => s(0).map_or(Val::Null, |x| Val::Str(x.to_uppercase())),
        Lower => s(0).map_or(Val::Null, |x| Val::Str(x.to_lowercase())),
        StartsWith => match (s(0), s(1)) {
            (Some(a), Some(b)) => Val::Num(a.starts_with(&b) as u8 as f64),
            _ => Val::Num(0.0),
        },
        Contains => match (s(0), s(1)) {
            (Some(a), Some(b)) if b.is_empty() => Val::Num(a.chars().count() as f64 + 1.0),
            (Some(a), Some(b)) => Val::Num(a.matches(&b).count() as f64),
            _ => Val::Num(0.0),
        },
        StrLen => s(0).map_or(Val::Num(0.0), |x| Val::Num(x.len() as f64)),
        Substr => {
            let (Some(text), Some(off), Some(len)) = (s(0), n(1), n(2)) else {
                return Val::Null;
            };
            let b = text.as_bytes();
            let size = b.len() as i64;
            let mut off = off as i64;
            if off < 0 {
                off += size;
            }
            let off = off.clamp(0, size);
            let mut len = len as i64;
            if len < 0 {
                len = size - off + len + 1;
            }
            let end = off + len.clamp(0, size - off);
            Val::Str(String::from_utf8_lossy(&b[off as usize..end as usize]).into())
        }
        Exists => Val::Num((v[0] != Val::Null) as u8 as f64),
        Abs => num(n(0).map(f64::abs)),
        Ceil => num(n(0).map(f64::ceil)),
        Floor => num(n(0).map(f64::floor)),
        Sqrt => num(n(0).map(f64::sqrt)),
        Log => num(n(0).map(f64::ln)),
        Log2 => num(n(0).map(f64::log2)),
        Exp => num(n(0).map(f64::exp)),
    }
}

/// A value as text ([`format_number`] for numbers), null as the empty string.
pub fn render(v: &Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Str(s) => s.clone(),
        Val::Num(n) => format_number(*n),
    }
}

/// A number as RediSearch prints scores and computed values: `%.12g`, and whole numbers
/// below 10^15 without a fraction.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    crate::number::format_g(v, 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> Val {
        let row = |p: &str| -> Option<Val> {
            match p {
                "year" => Some(Val::Str("2005".into())),
                "name" => Some(Val::Str("Hello World".into())),
                "n" => Some(Val::Num(7.0)),
                _ => None,
            }
        };
        Expr::parse(s).unwrap().eval(&row)
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(eval("1 + 2 * 3"), Val::Num(7.0));
        assert_eq!(eval("(1 + 2) * 3"), Val::Num(9.0));
        assert_eq!(eval("2 ^ 3 ^ 2"), Val::Num(512.0));
        assert_eq!(eval("-@n + 10"), Val::Num(3.0));
        assert_eq!(eval("@n % 4"), Val::Num(3.0));
        assert_eq!(eval("@n % 0"), Val::Null);
        assert_eq!(eval("@year / 5"), Val::Num(401.0));
        assert_eq!(eval("@name * 2"), Val::Null);
        assert_eq!(eval("1.5e2 - .5"), Val::Num(149.5));
    }

    #[test]
    fn comparisons_read_strings_as_numbers_when_they_are() {
        assert!(eval("@year > 2000").truthy());
        assert!(!eval("@year < 2000").truthy());
        assert!(eval("@year == '2005'").truthy());
        assert!(eval("@name == \"Hello World\"").truthy());
        assert!(eval("@name != 'x' && !(@n >= 8) || 0").truthy());
        assert!(eval("!@name == 'x'").truthy(), "! binds looser than ==");
        assert!(!eval("!@n > 3").truthy());
        assert!(
            eval("@year > '10000'").truthy(),
            "two strings compare as text"
        );
        assert!(!eval("@missing == 1").truthy());
        assert!(eval("@missing != 1").truthy());
        assert!(!eval("@missing > 1").truthy());
    }

    #[test]
    fn functions() {
        assert_eq!(eval("upper(@name)"), Val::Str("HELLO WORLD".into()));
        assert_eq!(eval("lower('AbC')"), Val::Str("abc".into()));
        assert!(eval("startswith(@name, 'Hell')").truthy());
        assert_eq!(eval("contains(@name, 'o')"), Val::Num(2.0));
        assert_eq!(eval("strlen(@name)"), Val::Num(11.0));
        assert_eq!(eval("substr(@name, 6, 5)"), Val::Str("World".into()));
        assert_eq!(eval("substr(@name, 0, -1)"), Val::Str("Hello World".into()));
        assert_eq!(eval("substr(@name, 6, 1e19)"), Val::Str("World".into()));
        assert_eq!(eval("substr(@name, -5, 99)"), Val::Str("World".into()));
        assert_eq!(eval("exists(@missing)"), Val::Num(0.0));
        assert_eq!(eval("exists(@n)"), Val::Num(1.0));
        assert_eq!(eval("floor(sqrt(@n * 7) + 0.5)"), Val::Num(7.0));
        assert_eq!(eval("abs(-2)"), Val::Num(2.0));
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "1 +",
            "(1",
            "@",
            "nosuch(1)",
            "upper(1, 2)",
            "'open",
            "1 2",
            "1..2",
            "upper 1",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Expr::parse(&deep).is_err());
        let deep = format!("{}1", "-".repeat(10_000));
        assert!(Expr::parse(&deep).is_err());
        let deep = "2^".repeat(10_000) + "2";
        assert!(Expr::parse(&deep).is_err());
        let long = "1+".repeat(100_000) + "1";
        assert!(Expr::parse(&long).unwrap_err().contains("too long"));
        assert!(Expr::parse(&("1+".repeat(300) + "1")).is_ok());
    }

    #[test]
    fn numbers_print_as_redisearch_s() {
        for (x, s) in [
            (0.0, "0"),
            (10.0, "10"),
            (3.5, "3.5"),
            (-0.25, "-0.25"),
            (1.0 / 3.0, "0.333333333333"),
            (1e15, "1e+15"),
            (123456789012.0, "123456789012"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.5, "0.5"),
            (1.19209289551e-07, "1.19209289551e-07"),
            (0.0513167381287, "0.0513167381287"),
            (0.29289321881345254, "0.292893218813"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(format_number(x), s);
        }
    }
}
