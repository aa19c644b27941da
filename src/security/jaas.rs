//! Kafka's `sasl.jaas.config` values: one JAAS login module, its control flag and its
//! options, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule required
//! username="admin" password="secret" user_admin="secret";`.

use std::collections::BTreeMap;

/// One login module of a JAAS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

impl LoginModule {
    /// PLAIN's users: every `user_NAME="password"` option.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(key, value)| {
                Some((key.strip_prefix("user_")?.to_string(), value.clone()))
            })
            .filter(|(user, _)| !user.is_empty())
            .collect()
    }
}

const FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Equals,
    End,
}

/// Parses a `sasl.jaas.config` value; like Kafka, it takes exactly one login module.
pub fn parse(text: &str) -> Result<LoginModule, String> {
    let tokens = tokens(text)?;
    let mut tokens = tokens.into_iter();
    let mut word = |what: &str| match tokens.next() {
        Some(Token::Word(word)) => Ok(word),
        _ => Err(format!("expected {what}")),
    };
    let class = word("a login module class")?;
    let flag = word("a control flag (required, requisite, sufficient or optional)")?;
    if !FLAGS.contains(&flag.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{flag:?} is not a control flag (required, requisite, sufficient or optional)"
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        match tokens.next() {
            Some(Token::Word(key)) => {
                if tokens.next() != Some(Token::Equals) {
                    return Err(format!("expected '=' after {key}"));
                }
                let Some(Token::Word(value)) = tokens.next() else {
                    return Err(format!("expected a value for {key}"));
                };
                options.insert(key, value);
            }
            Some(Token::End) => break,
            _ => return Err("expected key=value options, then ';'".to_string()),
        }
    }
    if tokens.next().is_some() {
        return Err("exactly one login module, as Kafka takes in sasl.jaas.config".to_string());
    }
    Ok(LoginModule {
        class,
        flag,
        options,
    })
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            ';' => {
                chars.next();
                tokens.push(Token::End);
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(c) => word.push(c),
                        None => return Err("a quoted value is not closed".to_string()),
                    }
                }
                tokens.push(Token::Word(word));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '=' | ';' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_login_module_gives_its_users() {
        let module = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret"
               user_admin="admin-secret" user_alice="a \"quoted\" pass;word";"#,
        )
        .unwrap();
        assert_eq!(
            module.class,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(module.flag, "required");
        assert_eq!(module.options["username"], "admin");
        let users = module.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], r#"a "quoted" pass;word"#);
    }

    #[test]
    fn malformed_configurations_are_refused() {
        for text in [
            "",
            "Module",
            "Module required",
            "Module always;",
            "Module required user=;",
            "Module required user \"x\";",
            "Module required user=\"x;",
            "A required; B required;",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
        assert!(parse("Module optional;").unwrap().options.is_empty());
    }
}
