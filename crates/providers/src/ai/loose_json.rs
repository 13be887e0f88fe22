//! Finding the JSON object in a local model's answer. Ollama and llama.cpp do not always enforce
//! a strict schema, and small models like to wrap their JSON in ```json fences, put a sentence
//! before it, or think aloud in `<think>…</think>` first.

use serde_json::Value;

/// How many candidate `{` are tried before giving up: bounds the work on hostile input.
const MAX_CANDIDATES: usize = 32;

/// The whole text if it is a JSON object, else the first balanced `{…}` in it that parses as
/// one (fences and surrounding prose ignored). `None` when there is no such object.
pub fn extract_json_object(text: &str) -> Option<Value> {
    let text = strip_thinking(text.trim());
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    let mut from = 0;
    for _ in 0..MAX_CANDIDATES {
        let start = from + text.get(from..)?.find('{')?;
        if let Some(end) = balanced_end(text, start)
            && let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(&text[start..end])
        {
            return Some(value);
        }
        from = start + 1;
    }
    None
}

/// Reasoning models put their thoughts first; braces in them are not the answer.
fn strip_thinking(text: &str) -> &str {
    match (text.strip_prefix("<think>"), text.find("</think>")) {
        (Some(_), Some(end)) => text[end + "</think>".len()..].trim(),
        _ => text,
    }
}

/// The byte index just past the `}` that closes the `{` at `start`, skipping braces inside
/// strings.
fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, byte) in text.as_bytes().get(start..)?.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(start + offset + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn plain_fenced_and_wrapped() {
        let want = json!({"name": "Ada", "note": "likes {braces} and \"quotes\""});
        let raw = want.to_string();
        assert_eq!(extract_json_object(&raw), Some(want.clone()));
        assert_eq!(
            extract_json_object(&format!("```json\n{raw}\n```")),
            Some(want.clone())
        );
        assert_eq!(
            extract_json_object(&format!("Sure! Here it is:\n{raw}\nAnything else?")),
            Some(want.clone())
        );
        assert_eq!(
            extract_json_object(&format!("Using {{placeholders}} first: ```\n{raw}\n```")),
            Some(want.clone())
        );
        assert_eq!(
            extract_json_object(&format!("<think>maybe {{a: 1}}?</think>\n{raw}")),
            Some(want)
        );
    }

    #[test]
    fn no_object() {
        assert_eq!(extract_json_object("I cannot help with that."), None);
        assert_eq!(extract_json_object("[1, 2, 3]"), None);
        assert_eq!(extract_json_object("\"text\""), None);
        assert_eq!(extract_json_object("{\"cut\": \"off"), None);
        assert_eq!(extract_json_object("}}}{{{"), None);
        assert_eq!(extract_json_object(""), None);
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ]
    }

    proptest! {
        #[test]
        fn finds_any_object_in_brace_free_prose(
            fields in proptest::collection::btree_map("[a-z{}\"]{1,8}", leaf(), 0..6),
            before in "[^{}]{0,40}",
            after in ".{0,40}",
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let text = format!("{before}{object}{after}");
            prop_assert_eq!(extract_json_object(&text), Some(object));
        }

        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = extract_json_object(&text);
        }
    }
}
