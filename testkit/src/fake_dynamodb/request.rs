//! The fake's requests, read into typed fields borrowed from the body, and the conditions
//! of puts and deletes evaluated against an item.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::expr::{compare, Expr};

/// An item's attributes: name to its DynamoDB JSON value, read for its string or number.
pub(super) type Attributes<'a> = HashMap<Text<'a>, Attr<'a>>;

/// The attributes of a stored item.
pub(super) fn attributes(item: &str) -> Attributes<'_> {
    serde_json::from_str(item).unwrap_or_default()
}
pub(super) fn key_of(item: &Attributes, key: &str) -> Option<String> {
    item.get(key)?.s.as_deref().map(str::to_owned)
}

/// A string of the request, borrowed where it has no escapes.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

/// An attribute value as a condition compares it: its string or number form.
#[derive(Deserialize)]
pub(super) struct Attr<'a> {
    #[serde(rename = "S", borrow, default)]
    pub(super) s: Option<Text<'a>>,
    #[serde(rename = "N", borrow, default)]
    pub(super) n: Option<Text<'a>>,
}

/// A batch request: the one table's name to what is asked of it.
#[derive(Deserialize)]
#[serde(
    rename_all = "PascalCase",
    bound(deserialize = "'de: 'a, T: Deserialize<'de>")
)]
pub(super) struct Batch<'a, T> {
    #[serde(borrow)]
    pub(super) request_items: HashMap<Text<'a>, T>,
}

pub(super) type BatchGet<'a> = Batch<'a, Keys<'a>>;
pub(super) type BatchWrite<'a> = Batch<'a, Vec<WriteRequest<'a>>>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Keys<'a> {
    #[serde(borrow, default)]
    pub(super) keys: Vec<Attributes<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct WriteRequest<'a> {
    #[serde(borrow, default)]
    pub(super) put_request: Option<Conditional<'a>>,
    #[serde(borrow, default)]
    pub(super) delete_request: Option<Conditional<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Transact<'a> {
    #[serde(borrow, default)]
    pub(super) transact_items: Vec<TransactItem<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TransactItem<'a> {
    #[serde(borrow, default)]
    pub(super) put: Option<Conditional<'a>>,
}

/// An item a request writes: its text, kept as it is, and its attributes read from it.
pub(super) struct NewItem<'a> {
    pub(super) text: &'a RawValue,
    pub(super) attributes: Attributes<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for NewItem<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <&'a RawValue>::deserialize(deserializer)?;
        let attributes = serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?;
        Ok(NewItem { text, attributes })
    }
}

/// A put or a delete (`Item` or `Key`), with its condition and the condition's placeholders.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Conditional<'a> {
    #[serde(borrow, default)]
    pub(super) item: Option<NewItem<'a>>,
    #[serde(borrow, default)]
    pub(super) key: Option<Attributes<'a>>,
    #[serde(borrow, default)]
    pub(super) condition_expression: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) expression_attribute_names: HashMap<Text<'a>, Text<'a>>,
    #[serde(borrow, default)]
    pub(super) expression_attribute_values: HashMap<Text<'a>, Attr<'a>>,
    #[serde(borrow, default)]
    pub(super) return_values_on_condition_check_failure: Option<Text<'a>>,
}

impl Conditional<'_> {
    /// The attribute a name token stands for (`#s` through `ExpressionAttributeNames`).
    pub(super) fn name<'t>(&'t self, token: &'t str) -> Result<&'t str, String> {
        if token.starts_with('#') {
            self.expression_attribute_names
                .get(token)
                .map(|n| &**n)
                .ok_or_else(|| format!("{token} is not in ExpressionAttributeNames"))
        } else {
            Ok(token)
        }
    }

    /// Whether `condition` holds for `item` (`None`: no item has the key).
    pub(super) fn holds(
        &self,
        condition: &Expr,
        item: Option<&Attributes>,
    ) -> Result<bool, String> {
        Ok(match condition {
            Expr::Missing(token) => {
                let name = self.name(token)?;
                item.is_none_or(|i| !i.contains_key(name))
            }
            Expr::Compare { name, less, value } => {
                let name = self.name(name)?;
                let expected = self
                    .expression_attribute_values
                    .get(value.as_str())
                    .ok_or_else(|| format!("{value} is not in ExpressionAttributeValues"))?;
                let Some(actual) = item.and_then(|i| i.get(name)) else {
                    return Ok(false);
                };
                let ordering = compare(actual, expected).ok_or("values of different types")?;
                if *less {
                    ordering.is_lt()
                } else {
                    ordering.is_eq()
                }
            }
            Expr::And(a, b) => self.holds(a, item)? & self.holds(b, item)?,
            Expr::Or(a, b) => self.holds(a, item)? | self.holds(b, item)?,
        })
    }
}
