//! Extraction schemas: the typed fields a subscriber wants to learn about each lead, how to ask
//! for them and how to check an answer. A schema arrives as YAML or JSON (a list of fields, the
//! shape the dashboard and the simulator scripts use) and is validated once, here, so the rest
//! of the engine only ever sees well-formed fields.
//!
//! Industry templates are data ([`Industry::schema`]); a subscriber starts from one and edits it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// What kind of value a field holds; decides which parser reads the lead's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    Text,
    Number,
    /// An amount in the account currency's units, optionally per period.
    Money,
    /// A civil date, optionally with a time of day.
    Date,
    /// One of `values`; `synonyms` maps a value to other ways a lead may say it.
    Enum {
        values: Vec<String>,
        synonyms: BTreeMap<String, Vec<String>>,
    },
    Boolean,
    Email,
    Phone,
    Address,
    /// Age in whole years.
    Age,
}

impl FieldKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Money => "money",
            FieldKind::Date => "date",
            FieldKind::Enum { .. } => "enum",
            FieldKind::Boolean => "boolean",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Address => "address",
            FieldKind::Age => "age",
        }
    }
}

/// Which side of today a date field must fall on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Past,
    Future,
}

/// Optional checks on an answer beyond its type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// Lowest accepted number, money amount or age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest accepted number, money amount or age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// For dates: must be before (past) or after (future) today. A past date field also reads a
    /// year-less date ("3/14") as the last such day, a future one as the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
    /// Longest accepted text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
}

impl Validation {
    fn is_empty(&self) -> bool {
        self == &Validation::default()
    }
}

/// One field of the schema. Build it through [`FieldSpec::parse`] or deserialisation, which
/// validate it; the fields are public for reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawField", into = "RawField")]
pub struct FieldSpec {
    /// snake_case, unique in the schema; the key under which the value is stored.
    pub name: String,
    pub kind: FieldKind,
    pub description: String,
    pub required: bool,
    /// The question the assistant asks for this field; a plain default is derived when absent.
    pub ask: Option<String>,
    pub validation: Option<Validation>,
    /// Words that tie a volunteered answer to this field ("kids", "children" next to a number
    /// for `dependents`; "born" near a date for `date_of_birth`). Lower case.
    pub hints: Vec<String>,
}

impl FieldSpec {
    /// The question to ask, exactly as the assistant sends it (the playbook recognises its own
    /// earlier questions in the history by this text).
    pub fn ask_text(&self) -> String {
        match &self.ask {
            Some(ask) => ask.clone(),
            None => format!("What's your {}?", self.name.replace('_', " ")),
        }
    }

    pub fn when(&self) -> Option<When> {
        self.validation.as_ref().and_then(|v| v.when)
    }

    pub fn parse(raw: RawField) -> Result<Self, SchemaError> {
        Self::try_from(raw)
    }
}

/// A field as written in YAML or JSON: `{name: age, type: number, required: true, ask: "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synonyms: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// A schema problem, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("field '{field}': {why}")]
    Field { field: String, why: String },
    #[error("field '{0}' appears more than once; field names must be unique")]
    Duplicate(String),
    #[error("the schema has no fields")]
    Empty,
}

fn field_err(field: &str, why: impl Into<String>) -> SchemaError {
    SchemaError::Field {
        field: field.to_owned(),
        why: why.into(),
    }
}

fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// Lower case, words separated by single spaces; how enum values and synonyms are compared.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '\u{2019}')
        .map(|w| w.replace(['\'', '\u{2019}'], ""))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

impl TryFrom<RawField> for FieldSpec {
    type Error = SchemaError;

    fn try_from(raw: RawField) -> Result<Self, SchemaError> {
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            return Err(field_err("", "a field needs a name"));
        }
        if !is_snake_case(&name) || name.len() > 64 {
            return Err(field_err(
                &name,
                "the name must be snake_case (a-z, 0-9, _), start with a letter and be at most 64 characters",
            ));
        }
        let type_name = raw.kind.trim().to_ascii_lowercase();
        if type_name != "enum" && (!raw.values.is_empty() || !raw.synonyms.is_empty()) {
            return Err(field_err(
                &name,
                "only enum fields take values and synonyms",
            ));
        }
        let kind = match type_name.as_str() {
            "text" | "string" => FieldKind::Text,
            "number" | "integer" => FieldKind::Number,
            "money" | "currency" => FieldKind::Money,
            "date" | "datetime" => FieldKind::Date,
            "boolean" | "bool" | "yes_no" => FieldKind::Boolean,
            "email" => FieldKind::Email,
            "phone" => FieldKind::Phone,
            "address" => FieldKind::Address,
            "age" => FieldKind::Age,
            "enum" => {
                let mut values = Vec::with_capacity(raw.values.len());
                let mut seen = BTreeSet::new();
                for v in &raw.values {
                    let v = v.trim();
                    if v.is_empty() {
                        return Err(field_err(&name, "enum values must not be empty"));
                    }
                    if !seen.insert(fold(v)) {
                        return Err(field_err(
                            &name,
                            format!("enum value '{v}' is listed twice"),
                        ));
                    }
                    values.push(v.to_owned());
                }
                if values.is_empty() {
                    return Err(field_err(&name, "an enum needs at least one value"));
                }
                let mut synonyms = BTreeMap::new();
                for (value, words) in raw.synonyms {
                    if !values.contains(&value) {
                        return Err(field_err(
                            &name,
                            format!("synonyms given for '{value}', which is not one of its values"),
                        ));
                    }
                    let words: Vec<String> = words
                        .iter()
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !fold(w).is_empty())
                        .collect();
                    synonyms.insert(value, words);
                }
                FieldKind::Enum { values, synonyms }
            }
            "" => return Err(field_err(&name, "a field needs a type")),
            other => {
                return Err(field_err(
                    &name,
                    format!(
                        "unknown type '{other}'; use text, number, money, date, enum, boolean, email, phone, address or age"
                    ),
                ));
            }
        };
        let validation = raw.validation.filter(|v| !v.is_empty());
        if let Some(v) = &validation {
            if let (Some(min), Some(max)) = (v.min, v.max)
                && min > max
            {
                return Err(field_err(&name, "validation min is greater than max"));
            }
            if v.min.is_some_and(|m| !m.is_finite()) || v.max.is_some_and(|m| !m.is_finite()) {
                return Err(field_err(&name, "validation bounds must be finite numbers"));
            }
            if v.when.is_some() && kind != FieldKind::Date {
                return Err(field_err(
                    &name,
                    "validation 'when' applies to date fields only",
                ));
            }
        }
        let ask = raw
            .ask
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        if let Some(ask) = &ask
            && ask.chars().count() > 200
        {
            return Err(field_err(
                &name,
                "the question is longer than 200 characters",
            ));
        }
        Ok(FieldSpec {
            name,
            kind,
            description: raw.description.trim().to_owned(),
            required: raw.required,
            ask,
            validation,
            hints: raw
                .hints
                .iter()
                .map(|h| fold(h))
                .filter(|h| !h.is_empty())
                .collect(),
        })
    }
}

impl From<FieldSpec> for RawField {
    fn from(f: FieldSpec) -> Self {
        let kind = f.kind.type_name().to_owned();
        let (values, synonyms) = match f.kind {
            FieldKind::Enum { values, synonyms } => (values, synonyms),
            _ => (Vec::new(), BTreeMap::new()),
        };
        RawField {
            name: f.name,
            kind,
            description: f.description,
            required: f.required,
            ask: f.ask,
            values,
            synonyms,
            validation: f.validation,
            hints: f.hints,
        }
    }
}

/// The fields to learn about a lead, in the order they are asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<FieldSpec>", into = "Vec<FieldSpec>")]
pub struct ExtractionSchema {
    pub fields: Vec<FieldSpec>,
}

impl TryFrom<Vec<FieldSpec>> for ExtractionSchema {
    type Error = SchemaError;
    fn try_from(fields: Vec<FieldSpec>) -> Result<Self, SchemaError> {
        Self::new(fields)
    }
}

impl From<ExtractionSchema> for Vec<FieldSpec> {
    fn from(s: ExtractionSchema) -> Self {
        s.fields
    }
}

impl ExtractionSchema {
    /// Checks what a single field cannot: the schema is not empty and names are unique.
    pub fn new(fields: Vec<FieldSpec>) -> Result<Self, SchemaError> {
        if fields.is_empty() {
            return Err(SchemaError::Empty);
        }
        let mut names = BTreeSet::new();
        for f in &fields {
            if !names.insert(f.name.as_str()) {
                return Err(SchemaError::Duplicate(f.name.clone()));
            }
        }
        Ok(Self { fields })
    }

    /// Parses a schema from YAML (or JSON, which is YAML): a list of fields.
    pub fn from_yaml(text: &str) -> Result<Self, SchemaYamlError> {
        serde_norway::from_str(text).map_err(|e| {
            let (line, message) = locate_yaml_error(text, &e);
            SchemaYamlError { line, message }
        })
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn required(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(|f| f.required)
    }
}

/// The line and message of a YAML error. Errors raised while checking a whole field surface at
/// the enclosing list, so for those the field's own `name:` line is found in the text.
pub(crate) fn locate_yaml_error(text: &str, e: &serde_norway::Error) -> (Option<usize>, String) {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(at) => full.get(..at).unwrap_or(&full).to_owned(),
        None => full.clone(),
    };
    let yaml_line = e.location().map(|l| l.line());
    let field = message
        .split("field '")
        .nth(1)
        .and_then(|r| r.split('\'').next());
    let Some(field) = field.filter(|f| !f.is_empty()) else {
        return (yaml_line, message);
    };
    let nth = if message.contains("appears more than once") {
        2
    } else {
        1
    };
    let found = text
        .lines()
        .enumerate()
        .filter(|(_, l)| names_field(l, field))
        .nth(nth - 1)
        .map(|(i, _)| i + 1);
    (found.or(yaml_line), message)
}

fn names_field(line: &str, field: &str) -> bool {
    let mut rest = line;
    while let Some(at) = rest.find("name:") {
        let after = rest.get(at + 5..).unwrap_or_default().trim_start();
        let value = after.trim_start_matches(['"', '\'']);
        if let Some(tail) = value.strip_prefix(field)
            && tail
                .chars()
                .next()
                .is_none_or(|c| matches!(c, '"' | '\'' | ',' | '}' | ' ' | '#'))
        {
            return true;
        }
        rest = rest.get(at + 5..).unwrap_or_default();
    }
    false
}

/// A schema that failed to parse from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SchemaYamlError {
    pub line: Option<usize>,
    pub message: String,
}

/// The industries leadline ships a starting schema for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Industry {
    Insurance,
    RealEstate,
    Mortgage,
    Solar,
    HomeServices,
    Dental,
    Generic,
}

impl Industry {
    pub const ALL: [Industry; 7] = [
        Industry::Insurance,
        Industry::RealEstate,
        Industry::Mortgage,
        Industry::Solar,
        Industry::HomeServices,
        Industry::Dental,
        Industry::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Industry::Insurance => "insurance",
            Industry::RealEstate => "real_estate",
            Industry::Mortgage => "mortgage",
            Industry::Solar => "solar",
            Industry::HomeServices => "home_services",
            Industry::Dental => "dental",
            Industry::Generic => "generic",
        }
    }

    /// The template schema, built directly from data (a test checks every template validates).
    pub fn schema(self) -> ExtractionSchema {
        ExtractionSchema {
            fields: crate::templates::fields(self),
        }
    }
}

impl fmt::Display for Industry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown industry '{0}'; use insurance, real_estate, mortgage, solar, home_services, dental or generic"
)]
pub struct UnknownIndustry(pub String);

impl FromStr for Industry {
    type Err = UnknownIndustry;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match fold(s).replace(' ', "_").as_str() {
            "insurance" => Industry::Insurance,
            "real_estate" | "realestate" | "realtor" => Industry::RealEstate,
            "mortgage" => Industry::Mortgage,
            "solar" => Industry::Solar,
            "home_services" | "home_service" => Industry::HomeServices,
            "dental" | "medical" | "dental_medical" => Industry::Dental,
            "generic" => Industry::Generic,
            _ => return Err(UnknownIndustry(s.chars().take(40).collect())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let s = ExtractionSchema::from_yaml(
            r#"
- {name: age, type: number, required: true, ask: "How old are you?"}
- {name: marital_status, type: enum, values: [single, married, divorced, widowed], required: true, synonyms: {married: [hitched]}}
- {name: budget_monthly, type: money, required: true}
- {name: start_date, type: date}
"#,
        )
        .unwrap();
        assert_eq!(s.fields.len(), 4);
        assert_eq!(s.required().count(), 3);
        assert_eq!(s.fields[3].ask_text(), "What's your start date?");
        // Round trip through the raw shape.
        let json = serde_json::to_string(&s).unwrap();
        let back: ExtractionSchema = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("- {name: Age, type: number}", "Age"),
            ("- {name: status, type: enum, values: []}", "status"),
            ("- {name: x, type: colour}", "unknown type 'colour'"),
            (
                "- {name: s, type: enum, values: [a], synonyms: {b: [c]}}",
                "synonyms given for 'b'",
            ),
            (
                "- {name: a, type: text}\n- {name: a, type: number}",
                "'a' appears more than once",
            ),
            ("- {name: a, type: text, values: [x]}", "only enum fields"),
            ("[]", "no fields"),
        ];
        for (yaml, needle) in cases {
            let err = ExtractionSchema::from_yaml(yaml).unwrap_err();
            assert!(err.message.contains(needle), "{yaml}: {err}");
        }
        let err = ExtractionSchema::from_yaml("- {name: a, type: text}\n- {name: b, type: nope}\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = ExtractionSchema::from_yaml(
            "- name: a\n  type: text\n- name: b\n  type: nope\n  required: true\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn every_template_is_valid_and_asks_naturally() {
        for industry in Industry::ALL {
            let schema = industry.schema();
            let json = serde_json::to_value(&schema).unwrap();
            let parsed: ExtractionSchema = serde_json::from_value(json).unwrap();
            assert_eq!(parsed, schema, "{industry}");
            assert!(schema.required().count() >= 2, "{industry}");
            for f in schema.required() {
                let ask = f.ask.as_deref().unwrap_or_default();
                assert!(ask.contains('?'), "{industry}.{}: {ask}", f.name);
                assert!(!f.description.is_empty(), "{industry}.{}", f.name);
            }
            assert_eq!(industry.as_str().parse::<Industry>(), Ok(industry));
        }
    }
}
