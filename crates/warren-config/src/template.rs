//! Templates in `.warren.yaml` values (`{{ port + 100 }}`, `{{ issue_id }}`)
//! rendered with minijinja in strict mode (an unset variable is an error,
//! never an empty string), plus the single-brace placeholders of
//! `default_session_name_template` (`{project}-{session_name}-{issue_id}`).

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::values::OrderedMap;

/// The variables a template can use. Unset ones are errors when used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateContext {
    /// The port of the service or session being started.
    pub port: Option<u16>,
    pub issue_id: Option<u64>,
    pub role: Option<String>,
    pub project: Option<String>,
    /// The environment's name.
    pub name: Option<String>,
    pub session_name: Option<String>,
    /// Anything else (string values).
    pub extra: OrderedMap<String>,
}

impl TemplateContext {
    fn values(&self) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        if let Some(p) = self.port {
            m.insert("port".into(), Value::from(p));
        }
        if let Some(i) = self.issue_id {
            m.insert("issue_id".into(), Value::from(i));
        }
        for (k, v) in [
            ("role", &self.role),
            ("project", &self.project),
            ("name", &self.name),
            ("session_name", &self.session_name),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v.as_str()));
            }
        }
        for (k, v) in self.extra.iter() {
            m.insert(k.to_string(), Value::from(v.as_str()));
        }
        m
    }
}

/// Every variable name a template may use (for hints).
pub const TEMPLATE_VARIABLES: [&str; 6] = [
    "port",
    "issue_id",
    "role",
    "project",
    "name",
    "session_name",
];

/// A template that failed to parse or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    pub hint: Option<String>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Rewrites single-brace placeholders `{ident}` to `{{ ident }}`. `${VAR}`
/// (shell), `{{ … }}`, `{% … %}` and `{# … #}` are left alone.
fn expand_single_braces(template: &str) -> String {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            if let Some(&next) = chars.get(i + 1)
                && matches!(next, '{' | '%' | '#')
            {
                // Copy a jinja block through to its end marker.
                let close = match next {
                    '{' => '}',
                    other => other,
                };
                let mut j = i + 2;
                while j + 1 < chars.len() && !(chars[j] == close && chars[j + 1] == '}') {
                    j += 1;
                }
                let end = (j + 2).min(chars.len());
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
            let preceded_by_dollar = i > 0 && chars[i - 1] == '$';
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let ident_ok = j > i + 1 && !chars[i + 1].is_ascii_digit();
            if !preceded_by_dollar && ident_ok && chars.get(j) == Some(&'}') {
                let ident: String = chars[i + 1..j].iter().collect();
                out.push_str("{{ ");
                out.push_str(&ident);
                out.push_str(" }}");
                i = j + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn syntax_error(e: &minijinja::Error) -> TemplateError {
    TemplateError {
        message: format!(
            "invalid template: {}",
            e.detail()
                .map_or_else(|| e.kind().to_string(), str::to_string)
        ),
        hint: Some("templates use `{{ name }}` for values, e.g. `{{ port + 100 }}`".into()),
    }
}

/// Checks a template's syntax without rendering it.
pub fn check_syntax(template: &str) -> Result<(), TemplateError> {
    let source = expand_single_braces(template);
    let env = environment();
    env.template_from_str(&source)
        .map(|_| ())
        .map_err(|e| syntax_error(&e))
}

/// Variables a template reads, in order of first appearance of the sorted
/// set (unknown names included; used by validation).
pub fn template_variables(template: &str) -> Result<Vec<String>, TemplateError> {
    let source = expand_single_braces(template);
    let env = environment();
    let t = env
        .template_from_str(&source)
        .map_err(|e| syntax_error(&e))?;
    let mut vars: Vec<String> = t.undeclared_variables(false).into_iter().collect();
    vars.sort();
    Ok(vars)
}

/// Variables a template reads that are none of [`TEMPLATE_VARIABLES`] (nor
/// minijinja globals such as `range`): almost certainly typos.
pub fn unknown_variables(template: &str) -> Result<Vec<String>, TemplateError> {
    let env = environment();
    let globals: Vec<&str> = env.globals().map(|(k, _)| k).collect();
    Ok(template_variables(template)?
        .into_iter()
        .filter(|v| !TEMPLATE_VARIABLES.contains(&v.as_str()) && !globals.contains(&v.as_str()))
        .collect())
}

/// Renders `template` with `ctx`. Both `{{ expr }}` and single-brace
/// `{name}` placeholders work; using a variable that is not set is an error
/// naming it.
pub fn render(template: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let source = expand_single_braces(template);
    let env = environment();
    let t = env
        .template_from_str(&source)
        .map_err(|e| syntax_error(&e))?;
    let values = ctx.values();
    let globals: Vec<&str> = env.globals().map(|(k, _)| k).collect();
    let mut missing: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !values.contains_key(v) && !globals.contains(&v.as_str()))
        .collect();
    missing.sort();
    if let Some(first) = missing.first() {
        let set: Vec<&str> = values.keys().map(String::as_str).collect();
        let hint = match crate::decode::did_you_mean(first, set.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if set.is_empty() => "no template variables are set here".to_string(),
            None => format!("set here: {}", set.join(", ")),
        };
        return Err(TemplateError {
            message: format!("template uses `{first}`, which is not set here"),
            hint: Some(hint),
        });
    }
    let mut out = t.render(Value::from(values)).map_err(|e| TemplateError {
        message: format!("template failed: {e}"),
        hint: None,
    })?;
    // minijinja drops one trailing newline by default; keep the text as written.
    if template.ends_with('\n') && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TemplateContext {
        TemplateContext {
            port: Some(3000),
            issue_id: Some(42),
            role: Some("developer".into()),
            project: Some("myapp".into()),
            name: Some("fluffy-otter".into()),
            session_name: Some("serve".into()),
            extra: OrderedMap::new(),
        }
    }

    #[test]
    fn jinja_expressions() {
        assert_eq!(render("{{ port + 100 }}", &ctx()).unwrap(), "3100");
        assert_eq!(
            render("npm run dev -- --port {{ port }}", &ctx()).unwrap(),
            "npm run dev -- --port 3000"
        );
        assert_eq!(
            render(
                "{{ project }}/{{ name }}/{{ role }}/{{ issue_id }}/{{ session_name }}",
                &ctx()
            )
            .unwrap(),
            "myapp/fluffy-otter/developer/42/serve"
        );
        assert_eq!(render("line\n", &ctx()).unwrap(), "line\n");
    }

    #[test]
    fn single_brace_placeholders() {
        assert_eq!(
            render("{project}-{session_name}-{issue_id}", &ctx()).unwrap(),
            "myapp-serve-42"
        );
        // Shell forms and jinja blocks stay as they are.
        assert_eq!(
            render("echo ${PORT} $HOME {port} {{ port }} {} {a,b} {1}", &ctx()).unwrap(),
            "echo ${PORT} $HOME 3000 3000 {} {a,b} {1}"
        );
        assert_eq!(render("{% if port %}p{% endif %}", &ctx()).unwrap(), "p");
    }

    #[test]
    fn unset_variables_are_errors() {
        let mut c = ctx();
        c.issue_id = None;
        let err = render("{project}-{issue_id}", &c).unwrap_err();
        assert_eq!(
            err.message,
            "template uses `issue_id`, which is not set here"
        );
        assert_eq!(
            err.hint.as_deref(),
            Some("set here: name, port, project, role, session_name")
        );
        let err = render("{{ prot }}", &ctx()).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `port`?"));
    }

    #[test]
    fn syntax_errors() {
        let err = render("{{ port + }}", &ctx()).unwrap_err();
        assert!(err.message.starts_with("invalid template: "), "{err:?}");
        assert!(check_syntax("{{ port").is_err());
        assert!(check_syntax("{{ port }} {x}").is_ok());
        assert_eq!(
            unknown_variables("{{ prot }} {issue_id} {% for i in range(2) %}{{ i }}{% endfor %}")
                .unwrap(),
            ["prot"]
        );
        assert_eq!(
            template_variables("{{ port + 1 }} {issue_id}").unwrap(),
            ["issue_id", "port"]
        );
    }

    #[test]
    fn extra_values() {
        let mut c = TemplateContext::default();
        c.extra.insert("prompt", "hi".to_string());
        assert_eq!(render("say {{ prompt }}", &c).unwrap(), "say hi");
    }
}
