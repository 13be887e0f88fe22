//! Extracted values: what a field holds once a lead has answered it.

use jiff::civil;
use leadline_domain::{E164Phone, Email};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How often a money amount recurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Hour,
    Week,
    Month,
    Year,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Week => "week",
            Period::Month => "month",
            Period::Year => "year",
        }
    }
}

/// An amount in the account currency's units (dollars, not cents).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Money {
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// A civil date, with a time of day when the lead gave one ("next Tuesday at 2").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateValue {
    pub date: civil::Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<civil::Time>,
}

impl fmt::Display for DateValue {
    /// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM` with a time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.date)?;
        if let Some(t) = self.time {
            write!(f, "T{:02}:{:02}", t.hour(), t.minute())?;
        }
        Ok(())
    }
}

/// A field's value, tagged by kind for storage: `{"type": "money", "value": {"amount": 80}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    Text(String),
    Number(f64),
    Money(Money),
    Date(DateValue),
    /// One of the enum field's values, exactly as the schema spells it.
    Enum(String),
    Boolean(bool),
    Email(Email),
    Phone(E164Phone),
    Address(String),
    Age(u8),
}

impl FieldValue {
    /// The plain JSON the simulator prints in `fields`: numbers and money as numbers, enum as its
    /// value, booleans, dates as `YYYY-MM-DD` (`YYYY-MM-DDTHH:MM` when a time was given), phones
    /// in E.164 and the rest as strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        let number = |n: f64| {
            // Whole numbers print as integers so 80.0 reads as 80.
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
        };
        match self {
            FieldValue::Text(s) | FieldValue::Address(s) | FieldValue::Enum(s) => {
                Value::String(s.clone())
            }
            FieldValue::Number(n) => number(*n),
            FieldValue::Money(m) => number(m.amount),
            FieldValue::Date(d) => Value::String(d.to_string()),
            FieldValue::Boolean(b) => Value::Bool(*b),
            FieldValue::Email(e) => Value::String(e.to_string()),
            FieldValue::Phone(p) => Value::String(p.to_string()),
            FieldValue::Age(a) => Value::from(*a),
        }
    }

    /// Whether the value equals `expected` as [`FieldValue::to_json`] would print it (numbers
    /// within a cent; strings case-insensitively).
    pub fn matches_json(&self, expected: &serde_json::Value) -> bool {
        let actual = self.to_json();
        match (&actual, expected) {
            (serde_json::Value::Number(a), serde_json::Value::Number(e)) => {
                match (a.as_f64(), e.as_f64()) {
                    (Some(a), Some(e)) => (a - e).abs() < 0.01,
                    _ => false,
                }
            }
            (serde_json::Value::String(a), serde_json::Value::String(e)) => {
                a.trim().eq_ignore_ascii_case(e.trim())
            }
            (a, e) => a == e,
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            serde_json::Value::String(s) => f.write_str(&s),
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn json_shapes() {
        let m = FieldValue::Money(Money {
            amount: 80.0,
            period: Some(Period::Month),
        });
        assert_eq!(m.to_json(), serde_json::json!(80));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"type": "money", "value": {"amount": 80.0, "period": "month"}})
        );
        let d = FieldValue::Date(DateValue {
            date: date(2026, 12, 15),
            time: Some(civil::time(14, 0, 0, 0)),
        });
        assert_eq!(d.to_json(), serde_json::json!("2026-12-15T14:00"));
        assert!(FieldValue::Number(1.5).matches_json(&serde_json::json!(1.5)));
        assert!(FieldValue::Enum("Married".into()).matches_json(&serde_json::json!("married")));
        let back: FieldValue = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
