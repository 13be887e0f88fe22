//! A subscriber account: its lifecycle status and the business profile the assistant speaks for.

use crate::phone::E164Phone;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    PastDue,
    Suspended,
    Terminated,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::PastDue => "past_due",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Terminated => "terminated",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "past_due" => Ok(Self::PastDue),
            "suspended" => Ok(Self::Suspended),
            "terminated" => Ok(Self::Terminated),
            other => Err(format!("unknown account status '{other}'")),
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The business profile. Every field but the business name is optional; the assistant uses what
/// is there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProfile {
    pub business_name: String,
    pub agent_name: String,
    pub phone: Option<E164Phone>,
    pub website: Option<String>,
    pub industry: String,
    pub description: String,
    pub products_services: String,
    pub unique_selling_points: String,
    pub license_numbers: String,
    /// Two-letter US state codes, upper case, sorted, without duplicates.
    pub licensed_states: Vec<String>,
}

/// One field that failed validation, named as the form and the API name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProfileError {
    pub field: &'static str,
    pub message: String,
}

pub const US_STATES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
];

/// Raw profile input as a form or JSON body carries it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProfileInput {
    pub business_name: String,
    #[serde(default)]
    pub agent_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub industry: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub products_services: String,
    #[serde(default)]
    pub unique_selling_points: String,
    #[serde(default)]
    pub license_numbers: String,
    /// Comma- or space-separated state codes.
    #[serde(default)]
    pub licensed_states: String,
}

impl ProfileInput {
    /// Parses every field, returning all the problems at once so a form can show each next to
    /// its field.
    pub fn parse(&self) -> Result<BusinessProfile, Vec<ProfileError>> {
        let mut errors = Vec::new();
        let mut text = |field: &'static str, value: &str, max: usize, required: bool| -> String {
            let v = value.trim();
            if required && v.is_empty() {
                errors.push(ProfileError {
                    field,
                    message: "is required".into(),
                });
            } else if v.chars().count() > max {
                errors.push(ProfileError {
                    field,
                    message: format!("must be at most {max} characters"),
                });
            }
            v.to_owned()
        };
        let business_name = text("business_name", &self.business_name, 120, true);
        let agent_name = text("agent_name", &self.agent_name, 120, false);
        let industry = text("industry", &self.industry, 80, false);
        let description = text("description", &self.description, 4000, false);
        let products_services = text("products_services", &self.products_services, 4000, false);
        let unique_selling_points = text(
            "unique_selling_points",
            &self.unique_selling_points,
            4000,
            false,
        );
        let license_numbers = text("license_numbers", &self.license_numbers, 1000, false);

        let phone = match self.phone.trim() {
            "" => None,
            raw => match E164Phone::parse(raw) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(ProfileError {
                        field: "phone",
                        message: e.why.to_owned(),
                    });
                    None
                }
            },
        };
        let website = match self.website.trim() {
            "" => None,
            raw => {
                let lower = raw.to_ascii_lowercase();
                let with_scheme = if lower.starts_with("http://") || lower.starts_with("https://") {
                    raw.to_owned()
                } else {
                    format!("https://{raw}")
                };
                let host = with_scheme.split("://").nth(1).unwrap_or_default();
                let host = host.split(['/', '?', '#']).next().unwrap_or_default();
                if raw.len() > 500 || !host.contains('.') || host.chars().any(|c| c.is_whitespace())
                {
                    errors.push(ProfileError {
                        field: "website",
                        message: "must be a web address such as https://example.com".into(),
                    });
                    None
                } else {
                    Some(with_scheme)
                }
            }
        };
        let mut licensed_states = Vec::new();
        for code in self
            .licensed_states
            .split([',', ' ', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let upper = code.to_ascii_uppercase();
            if US_STATES.contains(&upper.as_str()) {
                licensed_states.push(upper);
            } else {
                errors.push(ProfileError {
                    field: "licensed_states",
                    message: format!("'{code}' is not a US state code"),
                });
            }
        }
        licensed_states.sort();
        licensed_states.dedup();

        if errors.is_empty() {
            Ok(BusinessProfile {
                business_name,
                agent_name,
                phone,
                website,
                industry,
                description,
                products_services,
                unique_selling_points,
                license_numbers,
                licensed_states,
            })
        } else {
            Err(errors)
        }
    }
}

impl From<&BusinessProfile> for ProfileInput {
    fn from(p: &BusinessProfile) -> Self {
        Self {
            business_name: p.business_name.clone(),
            agent_name: p.agent_name.clone(),
            phone: p.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            website: p.website.clone().unwrap_or_default(),
            industry: p.industry.clone(),
            description: p.description.clone(),
            products_services: p.products_services.clone(),
            unique_selling_points: p.unique_selling_points.clone(),
            license_numbers: p.license_numbers.clone(),
            licensed_states: p.licensed_states.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_collects_all_errors() {
        let ok = ProfileInput {
            business_name: " Acme Insurance ".into(),
            phone: "(512) 555-0123".into(),
            website: "acme.example".into(),
            licensed_states: "tx, ok TX".into(),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(ok.business_name, "Acme Insurance");
        assert_eq!(ok.website.as_deref(), Some("https://acme.example"));
        assert_eq!(ok.licensed_states, vec!["OK", "TX"]);

        let errs = ProfileInput {
            business_name: "".into(),
            phone: "12".into(),
            website: "not a site".into(),
            licensed_states: "ZZ".into(),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec!["business_name", "phone", "website", "licensed_states"]
        );
    }
}
