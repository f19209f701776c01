//! The condition expressions the ledger writes, compiled once per request.

use super::request::Attr;

/// A condition expression of the forms the ledger writes: `attribute_not_exists(#a)`,
/// `#a = :v`, `#a < :v`, combined with AND, OR and parentheses.
pub(super) enum Expr {
    Missing(String),
    Compare {
        name: String,
        less: bool,
        value: String,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub(super) fn compile(expression: &str) -> Result<Expr, String> {
        let spaced = expression.replace('(', " ( ").replace(')', " ) ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let mut parser = Parser { tokens, at: 0 };
        let expr = parser.or()?;
        if parser.at != parser.tokens.len() {
            return Err(format!("unexpected {:?}", parser.tokens.get(parser.at)));
        }
        Ok(expr)
    }
}

struct Parser<'t> {
    tokens: Vec<&'t str>,
    at: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).map(|t| (*t).to_owned());
        self.at += 1;
        t
    }

    fn peek_is(&self, word: &str) -> bool {
        self.tokens
            .get(self.at)
            .is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek_is("OR") {
            self.at += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.term()?;
        while self.peek_is("AND") {
            self.at += 1;
            e = Expr::And(Box::new(e), Box::new(self.term()?));
        }
        Ok(e)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let first = self.next().ok_or("expression ends early")?;
        if first == "(" {
            let e = self.or()?;
            return match self.next().as_deref() {
                Some(")") => Ok(e),
                _ => Err("missing )".into()),
            };
        }
        if first == "attribute_not_exists" {
            let (Some(open), Some(name), Some(close)) = (self.next(), self.next(), self.next())
            else {
                return Err("attribute_not_exists needs (name)".into());
            };
            if open != "(" || close != ")" {
                return Err("attribute_not_exists needs (name)".into());
            }
            return Ok(Expr::Missing(name));
        }
        let op = self.next().ok_or("comparison without operator")?;
        let value = self.next().ok_or("comparison without value")?;
        let less = match op.as_str() {
            "=" => false,
            "<" => true,
            other => return Err(format!("operator {other} not served")),
        };
        Ok(Expr::Compare {
            name: first,
            less,
            value,
        })
    }
}

pub(super) fn compare(actual: &Attr, expected: &Attr) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (actual.n.as_deref(), expected.n.as_deref()) {
        let (x, y) = (x.parse::<f64>().ok()?, y.parse::<f64>().ok()?);
        return x.partial_cmp(&y);
    }
    Some(actual.s.as_deref()?.cmp(expected.s.as_deref()?))
}
