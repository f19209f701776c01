//! BatchExecuteStatement of the one PartiQL form the ledger writes: `INSERT INTO "table"
//! VALUE {'name': ?, ...}` with its values as parameters. As DynamoDB documents it: at most
//! 25 statements, each answered on its own (`Responses[i]`, with `Error` when it failed); an
//! INSERT that meets an item with its key fails with `DuplicateItem`, and carries the item it
//! met (`Item`) when the statement asks for `ReturnValuesOnConditionCheckFailure = ALL_OLD`;
//! each statement is billed as a single write of its item, refused ones included.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::billing::units;
use super::faults::Fault;
use super::ops::{check_key, error, read, Refusal};
use super::request::{Attr, Text};
use super::Table;

/// DynamoDB's limit on statements per BatchExecuteStatement.
const MAX_STATEMENTS: usize = 25;

/// A BatchExecuteStatement request, read into fields borrowed from its body.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request<'a> {
    #[serde(borrow, default)]
    statements: Vec<Statement<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    #[serde(borrow)]
    statement: Text<'a>,
    #[serde(borrow, default)]
    parameters: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    return_values_on_condition_check_failure: Option<Text<'a>>,
}

/// Applies each statement of `body`; a statement naming another table than `name` (if set)
/// fails with `ResourceNotFound`; `fault` may fail some (their writes not made) or withhold
/// the items refused statements met.
pub(super) fn batch_execute(
    table: &mut Table,
    key: &str,
    name: Option<&str>,
    body: &[u8],
    fault: Option<&Fault>,
) -> Result<Value, Refusal> {
    let request: Request = read(body)?;
    if request.statements.is_empty() || request.statements.len() > MAX_STATEMENTS {
        return Err(error(
            "ValidationException",
            "1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to 25",
            None,
        ));
    }
    let mut inserts = Vec::with_capacity(request.statements.len());
    for statement in &request.statements {
        let insert = insert_of(statement, key)?;
        check_key(&insert.key)?;
        if inserts.iter().any(|i: &Insert| i.key == insert.key) {
            return Err(error(
                "ValidationException",
                "Provided list of item keys contains duplicates",
                None,
            ));
        }
        inserts.push(insert);
    }
    let responses = inserts
        .into_iter()
        .enumerate()
        .map(|(i, insert)| {
            if name.is_some_and(|name| name != insert.table) {
                let error = json!({ "Code": "ResourceNotFound", "Message": "Requested resource not found" });
                return json!({ "Error": error });
            }
            if let Some(Fault::FailStatements { code, every }) = fault {
                if i % (*every).max(1) == 0 {
                    let error = json!({ "Code": code, "Message": format!("scripted {code}") });
                    return json!({ "TableName": insert.table, "Error": error });
                }
            }
            table.write_units += units(&insert.item);
            let Some(old) = table.items.get(&insert.key) else {
                table.items.insert(insert.key, insert.item.into());
                return json!({ "TableName": insert.table });
            };
            let mut error = json!({
                "Code": "DuplicateItem",
                "Message": "Duplicate primary key exists in table",
            });
            if insert.all_old && fault != Some(&Fault::WithholdOldItems) {
                if let Ok(old) = serde_json::from_str::<Value>(old) {
                    error["Item"] = old;
                }
            }
            json!({ "TableName": insert.table, "Error": error })
        })
        .collect();
    Ok(json!({ "Responses": Value::Array(responses) }))
}

/// One INSERT, read: its item as DynamoDB JSON text.
struct Insert<'a> {
    table: &'a str,
    key: String,
    item: String,
    all_old: bool,
}

/// Reads `INSERT INTO "table" VALUE {'a': ?, 'b': ?}` and its parameters; any other
/// statement fails the request, as a statement DynamoDB cannot parse does.
fn insert_of<'a>(statement: &'a Statement<'a>, key: &str) -> Result<Insert<'a>, Refusal> {
    let text: &str = &statement.statement;
    let bad = || {
        error(
            "ValidationException",
            &format!("Statement wasn't well formed, can't be processed: {text:?}"),
            None,
        )
    };
    let mismatch = || {
        error(
            "ValidationException",
            "Number of parameters in request and statement don't match.",
            None,
        )
    };
    let rest = strip_word(text.trim(), "INSERT")
        .and_then(|r| strip_word(r, "INTO"))
        .ok_or_else(bad)?;
    let rest = rest.strip_prefix('"').ok_or_else(bad)?;
    let (table, rest) = rest.split_once('"').ok_or_else(bad)?;
    let tuple = strip_word(rest.trim_start(), "VALUE").ok_or_else(bad)?;
    let tuple = tuple
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut item = String::from("{");
    let mut k = None;
    let mut used = 0;
    for (at, pair) in tuple.split(',').enumerate() {
        let (name, value) = pair.split_once(':').ok_or_else(bad)?;
        let name = name
            .trim()
            .strip_prefix('\'')
            .and_then(|n| n.strip_suffix('\''))
            .ok_or_else(bad)?;
        if value.trim() != "?" {
            return Err(bad());
        }
        let value = statement.parameters.get(at).ok_or_else(mismatch)?;
        if name == key {
            let attr: Attr = serde_json::from_str(value.get()).map_err(|_| bad())?;
            k = attr.s.map(|s| s.0.into_owned());
        }
        if at > 0 {
            item.push(',');
        }
        item.push_str(&serde_json::to_string(name).map_err(|_| bad())?);
        item.push(':');
        item.push_str(value.get());
        used = at + 1;
    }
    item.push('}');
    if statement.parameters.len() != used {
        return Err(mismatch());
    }
    let Some(k) = k else {
        return Err(error(
            "ValidationException",
            "One or more parameter values were invalid: Missing the key in the item",
            None,
        ));
    };
    Ok(Insert {
        table,
        key: k,
        item,
        all_old: statement
            .return_values_on_condition_check_failure
            .as_deref()
            == Some("ALL_OLD"),
    })
}

/// `text` after its first word, if that is `word` (any case) followed by a space.
fn strip_word<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let head = text.get(..word.len())?;
    let tail = text.get(word.len()..)?;
    (head.eq_ignore_ascii_case(word) && tail.starts_with(' ')).then(|| tail.trim_start())
}
