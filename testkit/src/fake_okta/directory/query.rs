//! `filter=` and `search=` expressions (the SCIM subset Okta takes: `eq ne gt ge lt le sw co pr`, `and`, `or`, parentheses) and `limit` as each endpoint caps it.

use std::borrow::Cow;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::fake_okta::reply::Reply;

/// What an attribute holds, so a literal can be checked when the expression is parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrType {
    Time,
    Text,
}

/// One attribute's value on one object.
pub(crate) enum Attr<'a> {
    Time(OffsetDateTime),
    Text(Cow<'a, str>),
    Null,
}

/// An object an expression can be evaluated on.
pub(crate) trait Subject {
    fn attr(&self, name: &str) -> Attr<'_>;
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sw,
    Co,
}

pub(crate) enum Literal {
    Time(OffsetDateTime),
    Text(String),
}

/// A parsed `filter` or `search`.
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Present(String),
    Compare(String, Op, Literal),
}

/// 400 `E0000031`, what Okta answers for a filter or search it cannot run.
pub(crate) fn invalid_search(why: &str) -> Reply {
    Reply::error(
        400,
        "E0000031",
        "Invalid search criteria.",
        &[why.to_string()],
    )
}

impl Expr {
    /// Parses `text`; `attr_type` says which attributes this endpoint and parameter take.
    pub(crate) fn parse(
        text: &str,
        attr_type: &dyn Fn(&str) -> Option<AttrType>,
    ) -> Result<Expr, Reply> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            attr_type,
        };
        let expr = parser.or()?;
        if parser.at != tokens.len() {
            return Err(invalid_search("unexpected text after the expression"));
        }
        Ok(expr)
    }

    pub(crate) fn matches(&self, s: &dyn Subject) -> bool {
        match self {
            Expr::And(a, b) => a.matches(s) && b.matches(s),
            Expr::Or(a, b) => a.matches(s) || b.matches(s),
            Expr::Present(name) => !matches!(s.attr(name), Attr::Null),
            Expr::Compare(name, op, lit) => compare(&s.attr(name), *op, lit),
        }
    }
}

fn compare(value: &Attr<'_>, op: Op, lit: &Literal) -> bool {
    let ordering = match (value, lit) {
        (Attr::Time(v), Literal::Time(l)) => v.cmp(l),
        (Attr::Text(v), Literal::Text(l)) => {
            let (v, l) = (v.to_ascii_lowercase(), l.to_ascii_lowercase());
            match op {
                Op::Sw => return v.starts_with(&l),
                Op::Co => return v.contains(&l),
                _ => v.cmp(&l),
            }
        }
        _ => return op == Op::Ne,
    };
    match op {
        Op::Eq => ordering.is_eq(),
        Op::Ne => ordering.is_ne(),
        Op::Gt => ordering.is_gt(),
        Op::Ge => ordering.is_ge(),
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Sw | Op::Co => false,
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, Reply> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => s.extend(chars.next()),
                        Some(c) => s.push(c),
                        None => return Err(invalid_search("unterminated quoted value")),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(s));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    attr_type: &'a dyn Fn(&str) -> Option<AttrType>,
}

impl Parser<'_> {
    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
        if found {
            self.at += 1;
        }
        found
    }

    /// `and` binds tighter than `or`, as in SCIM.
    fn or(&mut self) -> Result<Expr, Reply> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Reply> {
        let mut left = self.term()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, Reply> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        let attr = match token {
            Some(Token::Open) => {
                let inner = self.or()?;
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return Err(invalid_search("missing closing parenthesis"));
                }
                self.at += 1;
                return Ok(inner);
            }
            Some(Token::Word(w)) => w.clone(),
            _ => return Err(invalid_search("expected an attribute")),
        };
        let attr_type = (self.attr_type)(&attr).ok_or_else(|| {
            invalid_search(&format!("{attr} cannot be searched or filtered here"))
        })?;
        let op = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(invalid_search("expected an operator")),
        };
        self.at += 1;
        let op = match op.as_str() {
            "pr" => return Ok(Expr::Present(attr)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "sw" if attr_type == AttrType::Text => Op::Sw,
            "co" if attr_type == AttrType::Text => Op::Co,
            other => {
                return Err(invalid_search(&format!(
                    "operator {other} is not supported for {attr}"
                )))
            }
        };
        let value = match self.tokens.get(self.at) {
            Some(Token::Quoted(v)) | Some(Token::Word(v)) => v.clone(),
            _ => return Err(invalid_search("expected a value")),
        };
        self.at += 1;
        let literal = match attr_type {
            // A literal `+` in a query decodes to a space; put it back for offsets like +02:00.
            AttrType::Time => OffsetDateTime::parse(&value.replace(' ', "+"), &Rfc3339)
                .map(Literal::Time)
                .map_err(|_| invalid_search(&format!("{value} is not an RFC 3339 timestamp")))?,
            AttrType::Text => Literal::Text(value),
        };
        Ok(Expr::Compare(attr, op, literal))
    }
}

/// `limit` for an endpoint: `default` when absent, capped at `max`, raised to `min`;
/// 400 `E0000001` when it is not a number.
pub(crate) fn limit(
    value: Option<&str>,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, Reply> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0).clamp(min, max)),
            Err(_) => Err(Reply::bad_param("limit", "must be a number")),
        },
    }
}
