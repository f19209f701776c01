//! The operations the ledger uses, applied to the table: BatchGetItem, BatchWriteItem,
//! TransactWriteItems of conditional puts, conditional DeleteItem, UpdateItem adding to a set;
//! DynamoDB's error answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::billing::units;
use super::expr::Expr;
use super::request::{attributes, key_of, BatchGet, BatchWrite, Conditional, Transact};
use super::Table;

pub(super) fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| error("SerializationException", &format!("{e}"), None))
}

/// An error answer's JSON body (sent with status 400).
pub(super) struct Refusal(pub(super) Value);

pub(super) fn error(kind: &str, message: &str, extra: Option<(&str, Value)>) -> Refusal {
    let mut body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    Refusal(body)
}

pub(super) fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

/// DynamoDB's limit on a partition key's size.
const MAX_KEY_BYTES: usize = 2048;

/// A key DynamoDB would refuse, failing the whole request as DynamoDB does.
pub(super) fn check_key(k: &str) -> Result<(), Refusal> {
    if k.len() > MAX_KEY_BYTES {
        return Err(error(
            "ValidationException",
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
            None,
        ));
    }
    Ok(())
}

pub(super) fn batch_get(table: &Table, key: &str, request: BatchGet) -> Result<Value, Refusal> {
    let Some((name, keys)) = request.request_items.into_iter().next() else {
        return Ok(json!({ "Responses": {}, "UnprocessedKeys": {} }));
    };
    for k in keys.keys.iter().filter_map(|k| key_of(k, key)) {
        check_key(&k)?;
    }
    let found: Vec<Value> = keys
        .keys
        .iter()
        .filter_map(|k| key_of(k, key))
        .filter_map(|k| table.items.get(&k))
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect();
    Ok(json!({ "Responses": { &*name: found }, "UnprocessedKeys": {} }))
}

pub(super) fn batch_write(
    table: &mut Table,
    key: &str,
    request: BatchWrite,
) -> Result<Value, Refusal> {
    let writes: Vec<_> = request.request_items.into_values().flatten().collect();
    for write in &writes {
        let item = write.put_request.as_ref().and_then(|p| p.item.as_ref());
        let k = match (
            item,
            write.delete_request.as_ref().and_then(|d| d.key.as_ref()),
        ) {
            (Some(item), _) => key_of(&item.attributes, key),
            (None, Some(k)) => key_of(k, key),
            (None, None) => None,
        };
        if let Some(k) = k {
            check_key(&k)?;
        }
    }
    for write in writes {
        if let Some(item) = write.put_request.and_then(|p| p.item) {
            if let Some(k) = key_of(&item.attributes, key) {
                table.write_units += units(item.text.get());
                table.items.insert(k, item.text.get().into());
            }
        } else if let Some(k) = write.delete_request.and_then(|d| d.key) {
            if let Some(k) = key_of(&k, key) {
                let removed = table.items.remove(&k);
                table.write_units += removed.map_or(1, |text| units(&text));
            }
        }
    }
    Ok(json!({ "UnprocessedItems": {} }))
}

/// A delete, if its condition holds.
pub(super) fn delete(
    table: &mut Table,
    key: &str,
    request: &Conditional,
) -> Result<Value, Refusal> {
    let Some(k) = request.key.as_ref().and_then(|k| key_of(k, key)) else {
        return Err(error("ValidationException", "no key", None));
    };
    check_key(&k)?;
    table.write_units += table.items.get(&k).map_or(1, |text| units(text));
    if let Some(c) = &request.condition_expression {
        let current = table.items.get(&k).map(|text| attributes(text));
        let ok = Expr::compile(c)
            .and_then(|condition| request.holds(&condition, current.as_ref()))
            .map_err(|m| invalid(c, &m))?;
        if !ok {
            return Err(error(
                "ConditionalCheckFailedException",
                "The conditional request failed",
                None,
            ));
        }
    }
    table.items.remove(&k);
    Ok(json!({}))
}

fn invalid(condition: &str, message: &str) -> Refusal {
    error(
        "ValidationException",
        &format!("condition {condition:?}: {message}"),
        None,
    )
}

/// Conditional puts, all or nothing, with a reason per item when cancelled. Each distinct
/// condition is compiled once per request (a claim transaction repeats one 100 times).
pub(super) fn transact_write(
    table: &mut Table,
    key: &str,
    request: Transact,
) -> Result<Value, Refusal> {
    let items = request.transact_items;
    let mut compiled: Vec<(&str, Expr)> = Vec::new();
    let mut reasons = Vec::with_capacity(items.len());
    let mut puts = Vec::with_capacity(items.len());
    let mut failed = false;
    for entry in &items {
        let Some(put) = &entry.put else {
            return Err(error("ValidationException", "only Put is served", None));
        };
        let Some(item) = &put.item else {
            return Err(error("ValidationException", "a Put without Item", None));
        };
        let Some(k) = key_of(&item.attributes, key) else {
            return Err(error("ValidationException", "item has no key", None));
        };
        check_key(&k)?;
        table.write_units += 2 * units(item.text.get());
        let stored = table.items.get(&k);
        let current = stored.map(|text| attributes(text));
        let ok = match &put.condition_expression {
            None => true,
            Some(c) => {
                let at = match compiled.iter().position(|(text, _)| *text == &**c) {
                    Some(at) => at,
                    None => {
                        compiled.push((c, Expr::compile(c).map_err(|m| invalid(c, &m))?));
                        compiled.len() - 1
                    }
                };
                put.holds(&compiled[at].1, current.as_ref())
                    .map_err(|m| invalid(c, &m))?
            }
        };
        if ok {
            reasons.push(json!({ "Code": "None" }));
        } else {
            failed = true;
            let mut reason = json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" });
            if put.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD") {
                if let Some(old) = stored.and_then(|text| serde_json::from_str(text).ok()) {
                    reason["Item"] = old;
                }
            }
            reasons.push(reason);
        }
        puts.push(k);
    }
    if failed {
        return Err(error(
            "TransactionCanceledException",
            "Transaction cancelled, please refer cancellation reasons for specific reasons",
            Some(("CancellationReasons", Value::Array(reasons))),
        ));
    }
    for (k, entry) in puts.into_iter().zip(items) {
        if let Some(item) = entry.put.and_then(|p| p.item) {
            table.items.insert(k, item.text.get().into());
        }
    }
    Ok(json!({}))
}

/// An update of the form the ledger writes (`ADD #set :values SET #name = :value`, either
/// clause alone or both, any order): sets are joined without repeats, `SET` replaces.
pub(super) fn update(table: &mut Table, key: &str, body: &[u8]) -> Result<Value, Refusal> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| error("SerializationException", &format!("{e}"), None))?;
    let Some(k) = request["Key"][key]["S"].as_str() else {
        return Err(error("ValidationException", "no key", None));
    };
    check_key(k)?;
    let names = &request["ExpressionAttributeNames"];
    let values = &request["ExpressionAttributeValues"];
    let expression = request["UpdateExpression"].as_str().unwrap_or_default();
    let bad = |m: &str| error("ValidationException", &format!("{expression:?}: {m}"), None);
    let mut item: Value = table
        .items
        .get(k)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({ key: { "S": k } }));
    let tokens: Vec<&str> = expression
        .split_whitespace()
        .map(|t| t.trim_end_matches(','))
        .collect();
    let (mut at, mut clause) = (0, "");
    while let Some(&token) = tokens.get(at) {
        if token == "ADD" || token == "SET" {
            clause = token;
            at += 1;
            continue;
        }
        let name = match token.strip_prefix('#') {
            Some(_) => names[token].as_str().ok_or_else(|| bad("unknown name"))?,
            None => token,
        };
        match clause {
            "ADD" => {
                let value = &values[tokens.get(at + 1).copied().unwrap_or_default()];
                let Some((kind, added)) = ["BS", "SS", "NS"]
                    .iter()
                    .find_map(|kind| Some((*kind, value[*kind].as_array()?)))
                else {
                    return Err(bad("ADD of a value that is not a set"));
                };
                let set = item[name][kind].as_array().cloned().unwrap_or_default();
                let mut joined = set;
                for v in added {
                    if !joined.contains(v) {
                        joined.push(v.clone());
                    }
                }
                item[name] = json!({ kind: joined });
                at += 2;
            }
            "SET" if tokens.get(at + 1) == Some(&"=") => {
                let value = &values[tokens.get(at + 2).copied().unwrap_or_default()];
                if value.is_null() {
                    return Err(bad("unknown value"));
                }
                item[name] = value.clone();
                at += 3;
            }
            _ => return Err(bad("not served")),
        }
    }
    let after = item.to_string();
    let before = table.items.get(k).map_or(0, |text| units(text));
    table.write_units += before.max(units(&after));
    table.items.insert(k.to_owned(), after.into());
    Ok(json!({}))
}
