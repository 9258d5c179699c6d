//! The names OpenWhisk allows for namespaces and entities (its `EntityName`): a first character
//! that is a letter, digit or `_`, then letters, digits and `_ @ . & -` or spaces, not ending in
//! a space, at most 256 characters, ASCII only. A trigger that breaks the rule cannot exist, so a
//! feed for it is refused rather than registered (and a newline in a name could forge log lines).

/// OpenWhisk's `ENTITY_NAME_MAX_LENGTH`.
pub const MAX_NAME_CHARS: usize = 256;

fn is_word(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// Checks one part of a trigger's name (`what`: "namespace" or "trigger name"); the message
/// shows the name escaped and shortened, never raw.
pub fn check_entity_name(name: &str, what: &str) -> Result<(), String> {
    let refuse = |problem: &str| {
        let shown: String = name.chars().take(40).collect();
        let more = if name.chars().count() > 40 { "..." } else { "" };
        Err(format!(
            "the {what} {shown:?}{more} is not one OpenWhisk allows: {problem}"
        ))
    };
    let Some(first) = name.chars().next() else {
        return refuse("it is empty");
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return refuse(&format!("it is longer than {MAX_NAME_CHARS} characters"));
    }
    if !is_word(first) {
        return refuse("it must start with a letter, a digit or `_`");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(is_word(*c) || matches!(c, '@' | ' ' | '.' | '&' | '-')))
    {
        return refuse(&format!(
            "{bad:?} is not allowed (letters, digits, spaces and `_ @ . & -` are)"
        ));
    }
    if name.ends_with(' ') {
        return refuse("it must not end with a space");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_openwhisk_accepts() {
        for name in [
            "t",
            "_",
            "my trigger",
            "a.b@c&d-e",
            "9lives",
            &"x".repeat(256),
        ] {
            assert_eq!(check_entity_name(name, "trigger name"), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_the_rest_without_echoing_it_raw() {
        for name in [
            "",
            "-lead",
            " lead",
            "trail ",
            "nul\0",
            "new\nline",
            "slash/y",
            "émile",
            &"x".repeat(257),
            &"y".repeat(1000),
        ] {
            let error = check_entity_name(name, "trigger name").expect_err(name);
            assert!(!error.contains('\n') && !error.contains('\0'), "{error}");
            assert!(error.len() < 200, "{error}");
        }
    }
}
