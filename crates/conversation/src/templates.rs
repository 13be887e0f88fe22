//! The industry templates as data. Each is a valid schema (a test round-trips every one through
//! validation) whose required fields are asked in a natural order: the easy, friendly questions
//! first, money last.

use crate::schema::{FieldKind, FieldSpec, Industry, Validation, When};
use std::collections::BTreeMap;

struct F(FieldSpec);

fn field(name: &str, kind: FieldKind, required: bool, description: &str, ask: &str) -> F {
    F(FieldSpec {
        name: name.to_owned(),
        kind,
        description: description.to_owned(),
        required,
        ask: (!ask.is_empty()).then(|| ask.to_owned()),
        validation: None,
        hints: Vec::new(),
    })
}

impl F {
    fn hints(mut self, hints: &[&str]) -> Self {
        self.0.hints = hints.iter().map(|h| (*h).to_owned()).collect();
        self
    }
    fn range(mut self, min: f64, max: f64) -> Self {
        let v = self.0.validation.get_or_insert_with(Validation::default);
        v.min = Some(min);
        v.max = Some(max);
        self
    }
    fn when(mut self, when: When) -> Self {
        self.0
            .validation
            .get_or_insert_with(Validation::default)
            .when = Some(when);
        self
    }
}

/// An enum kind from `(value, &[synonyms])` pairs.
fn one_of(options: &[(&str, &[&str])]) -> FieldKind {
    let values = options.iter().map(|(v, _)| (*v).to_owned()).collect();
    let synonyms: BTreeMap<String, Vec<String>> = options
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(v, s)| ((*v).to_owned(), s.iter().map(|w| (*w).to_owned()).collect()))
        .collect();
    FieldKind::Enum { values, synonyms }
}

fn yes_no() -> FieldKind {
    FieldKind::Boolean
}

fn name_field() -> F {
    field(
        "full_name",
        FieldKind::Text,
        false,
        "The lead's name",
        "Who do I have the pleasure of texting with?",
    )
}

fn email_field() -> F {
    field(
        "email",
        FieldKind::Email,
        false,
        "Email address for quotes and confirmations",
        "What's the best email to send details to?",
    )
}

const MARITAL: &[(&str, &[&str])] = &[
    ("single", &["not married", "unmarried", "never married"]),
    (
        "married",
        &["hitched", "wife", "husband", "spouse", "newlywed"],
    ),
    ("divorced", &["separated", "ex wife", "ex husband"]),
    ("widowed", &["widow", "widower", "passed away"]),
    (
        "domestic_partner",
        &["partner", "common law", "living together", "engaged"],
    ),
];

const EMPLOYMENT: &[(&str, &[&str])] = &[
    (
        "employed",
        &[
            "full time",
            "part time",
            "work for",
            "working",
            "i work",
            "employed full time",
        ],
    ),
    (
        "self_employed",
        &[
            "own my business",
            "own business",
            "own a business",
            "my own company",
            "freelance",
            "freelancer",
            "contractor",
            "1099",
            "business owner",
        ],
    ),
    (
        "unemployed",
        &["not working", "between jobs", "laid off", "out of work"],
    ),
    ("retired", &["retiree", "pension"]),
    ("student", &["in school", "college", "university"]),
];

fn insurance() -> Vec<F> {
    vec![
        field(
            "coverage_type",
            one_of(&[
                (
                    "life",
                    &[
                        "life insurance",
                        "term",
                        "whole life",
                        "term life",
                        "universal life",
                    ],
                ),
                (
                    "health",
                    &["health insurance", "medical", "aca", "obamacare"],
                ),
                ("auto", &["car", "car insurance", "vehicle", "truck"]),
                ("home", &["homeowners", "house", "home insurance"]),
                ("renters", &["renter", "apartment", "renters insurance"]),
                (
                    "medicare",
                    &["medicare supplement", "medigap", "medicare advantage"],
                ),
                ("final_expense", &["burial", "funeral"]),
            ]),
            true,
            "The kind of coverage the lead wants",
            "What kind of coverage are you looking for: life, health, auto, home or something else?",
        ),
        field(
            "date_of_birth",
            FieldKind::Date,
            true,
            "Date of birth; rates depend on age",
            "What's your date of birth? (MM/DD/YYYY)",
        )
        .hints(&["born", "birthday", "dob", "birth", "bday"])
        .when(When::Past),
        // The lead is an adult; "twins (4yo)" is about the children.
        field(
            "age",
            FieldKind::Age,
            false,
            "Age in years",
            "How old are you?",
        )
        .range(16.0, 120.0),
        field(
            "marital_status",
            one_of(MARITAL),
            true,
            "Marital status",
            "Are you single, married, divorced or widowed?",
        ),
        field(
            "dependents",
            FieldKind::Number,
            true,
            "Number of children or other dependents",
            "How many dependents (kids or others) rely on your income?",
        )
        .hints(&[
            "kid",
            "kids",
            "kiddo",
            "kiddos",
            "twins",
            "triplets",
            "child",
            "children",
            "dependent",
            "dependents",
            "son",
            "sons",
            "daughter",
            "daughters",
            "baby",
            "babies",
            "boy",
            "boys",
            "girl",
            "girls",
        ])
        .range(0.0, 20.0),
        field(
            "employment_status",
            one_of(EMPLOYMENT),
            true,
            "Employment status",
            "Are you currently employed, self-employed or retired?",
        ),
        field(
            "household_income",
            FieldKind::Money,
            false,
            "Approximate yearly household income (a range is fine)",
            "Roughly what's your yearly household income? A range is fine.",
        )
        .hints(&[
            "income",
            "make",
            "earn",
            "salary",
            "year",
            "yearly",
            "annual",
            "annually",
            "household",
        ])
        .range(0.0, 100_000_000.0),
        field(
            "budget_monthly",
            FieldKind::Money,
            true,
            "What the lead can spend per month on premiums",
            "What monthly budget feels comfortable for your premium?",
        )
        .hints(&[
            "budget", "month", "monthly", "afford", "spend", "premium", "pay", "mo",
        ])
        .range(1.0, 100_000.0),
        email_field(),
        name_field(),
    ]
}

fn real_estate() -> Vec<F> {
    vec![
        field(
            "intent",
            one_of(&[
                (
                    "buy",
                    &[
                        "buying",
                        "purchase",
                        "looking for a home",
                        "looking for a house",
                        "first home",
                    ],
                ),
                ("sell", &["selling", "list my", "listing"]),
                ("rent", &["renting", "lease", "leasing"]),
            ]),
            true,
            "Whether the lead wants to buy, sell or rent",
            "Are you looking to buy, sell or rent?",
        ),
        field(
            "area",
            FieldKind::Text,
            true,
            "Neighbourhoods or towns the lead is interested in",
            "Which area or neighborhoods are you interested in?",
        ),
        field(
            "bedrooms",
            FieldKind::Number,
            false,
            "Bedrooms wanted",
            "How many bedrooms do you need?",
        )
        .hints(&["bedroom", "bedrooms", "bed", "beds", "br", "bd"])
        .range(0.0, 20.0),
        field(
            "budget",
            FieldKind::Money,
            true,
            "Price range",
            "What price range are you thinking?",
        )
        .hints(&[
            "budget", "price", "range", "up to", "under", "around", "max",
        ])
        .range(1.0, 1_000_000_000.0),
        field(
            "timeline",
            FieldKind::Date,
            true,
            "When the lead wants to move",
            "When are you hoping to move?",
        )
        .hints(&[
            "move", "moving", "by", "before", "until", "close", "closing", "timeline",
        ])
        .when(When::Future),
        field(
            "preapproved",
            yes_no(),
            false,
            "Has a mortgage pre-approval",
            "Are you pre-approved for a mortgage yet?",
        ),
        email_field(),
        name_field(),
    ]
}

fn mortgage() -> Vec<F> {
    vec![
        field(
            "loan_purpose",
            one_of(&[
                (
                    "purchase",
                    &["buy", "buying", "new home", "first home", "purchasing"],
                ),
                (
                    "refinance",
                    &["refi", "refinancing", "lower my rate", "cash out"],
                ),
                (
                    "heloc",
                    &["home equity", "equity line", "equity", "second mortgage"],
                ),
            ]),
            true,
            "Purchase, refinance or home equity",
            "Is this for a purchase, a refinance or a home equity line?",
        ),
        field(
            "property_value",
            FieldKind::Money,
            true,
            "Purchase price or estimated home value",
            "What's the purchase price or estimated value of the home?",
        )
        .hints(&[
            "worth",
            "value",
            "price",
            "priced",
            "house",
            "home",
            "valued",
            "appraised",
        ])
        .range(1_000.0, 1_000_000_000.0),
        field(
            "down_payment",
            FieldKind::Money,
            false,
            "Down payment available",
            "How much are you planning to put down?",
        )
        .hints(&["down", "downpayment", "put down", "saved"]),
        field(
            "credit_score",
            one_of(&[
                (
                    "excellent",
                    &[
                        "740",
                        "750",
                        "760",
                        "780",
                        "800",
                        "great",
                        "very good",
                        "800s",
                    ],
                ),
                ("good", &["700", "720", "700s", "pretty good", "decent"]),
                (
                    "fair",
                    &["640", "650", "660", "680", "600s", "average", "so so"],
                ),
                ("poor", &["bad", "not great", "below 600", "500s", "rough"]),
            ]),
            true,
            "Approximate credit score band",
            "How would you describe your credit: excellent, good, fair or poor?",
        ),
        field(
            "employment_status",
            one_of(EMPLOYMENT),
            true,
            "Employment status",
            "Are you employed, self-employed or retired?",
        ),
        field(
            "timeline",
            FieldKind::Date,
            false,
            "When the lead wants to close",
            "When are you hoping to close?",
        )
        .hints(&["close", "closing", "move", "by"])
        .when(When::Future),
        email_field(),
        name_field(),
    ]
}

fn solar() -> Vec<F> {
    vec![
        field(
            "homeowner",
            yes_no(),
            true,
            "Owns the home (renters rarely qualify)",
            "Do you own your home?",
        ),
        field(
            "monthly_bill",
            FieldKind::Money,
            true,
            "Average monthly electric bill",
            "About how much is your electric bill each month?",
        )
        .hints(&[
            "bill", "electric", "power", "month", "monthly", "mo", "utility",
        ])
        .range(1.0, 100_000.0),
        field(
            "roof_type",
            one_of(&[
                ("shingle", &["asphalt", "shingles", "composite"]),
                ("tile", &["clay", "spanish tile", "concrete tile"]),
                ("metal", &["tin", "standing seam"]),
                ("flat", &["flat roof", "tar"]),
            ]),
            false,
            "Roof material",
            "What kind of roof do you have: shingle, tile, metal or flat?",
        ),
        field(
            "address",
            FieldKind::Address,
            true,
            "Property address, for a satellite roof check",
            "What's the property address so we can check your roof by satellite?",
        ),
        field(
            "credit_ok",
            yes_no(),
            false,
            "Credit score above 650",
            "Is your credit score above 650?",
        ),
        email_field(),
        name_field(),
    ]
}

fn home_services() -> Vec<F> {
    vec![
        field(
            "service",
            one_of(&[
                (
                    "hvac",
                    &[
                        "ac",
                        "a c",
                        "air conditioning",
                        "air conditioner",
                        "furnace",
                        "heating",
                        "heat pump",
                        "heater",
                    ],
                ),
                (
                    "plumbing",
                    &[
                        "plumber",
                        "leak",
                        "pipe",
                        "water heater",
                        "drain",
                        "toilet",
                        "clog",
                    ],
                ),
                (
                    "electrical",
                    &["electrician", "outlet", "wiring", "breaker", "panel"],
                ),
                ("roofing", &["roof", "roofer", "shingles"]),
                ("cleaning", &["clean", "maid", "housekeeping"]),
                ("landscaping", &["lawn", "yard", "garden", "trees"]),
            ]),
            true,
            "What service the lead needs",
            "What can we help with: HVAC, plumbing, electrical, roofing or something else?",
        ),
        field(
            "urgency",
            one_of(&[
                (
                    "emergency",
                    &[
                        "asap",
                        "urgent",
                        "right now",
                        "today",
                        "flooding",
                        "no heat",
                        "no ac",
                    ],
                ),
                (
                    "this_week",
                    &["soon", "this week", "few days", "next few days"],
                ),
                (
                    "flexible",
                    &[
                        "whenever",
                        "no rush",
                        "not urgent",
                        "sometime",
                        "next month",
                    ],
                ),
            ]),
            true,
            "How soon the job is needed",
            "How soon do you need someone out: is it an emergency, this week, or flexible?",
        ),
        field(
            "address",
            FieldKind::Address,
            true,
            "Service address",
            "What's the address where you need the service?",
        ),
        field(
            "preferred_date",
            FieldKind::Date,
            false,
            "Preferred visit date",
            "What day works best for a visit?",
        )
        .hints(&["come", "visit", "available", "free", "works"])
        .when(When::Future),
        name_field(),
    ]
}

fn dental() -> Vec<F> {
    vec![
        field(
            "visit_reason",
            one_of(&[
                (
                    "cleaning",
                    &["checkup", "check up", "exam", "routine", "hygiene"],
                ),
                (
                    "pain",
                    &[
                        "toothache",
                        "tooth ache",
                        "hurts",
                        "broken tooth",
                        "chipped",
                        "emergency",
                        "swollen",
                    ],
                ),
                (
                    "cosmetic",
                    &["whitening", "veneers", "invisalign", "braces", "aligners"],
                ),
                ("implant", &["implants", "missing tooth", "dentures"]),
            ]),
            true,
            "Why the patient wants an appointment",
            "What brings you in: a cleaning, tooth pain, cosmetic work or an implant?",
        ),
        field(
            "new_patient",
            yes_no(),
            true,
            "Whether the patient is new to the practice",
            "Are you a new patient with us?",
        ),
        field(
            "has_insurance",
            yes_no(),
            true,
            "Has dental insurance",
            "Do you have dental insurance?",
        ),
        field(
            "insurance_provider",
            FieldKind::Text,
            false,
            "Insurance carrier",
            "Which insurance carrier are you with?",
        ),
        field(
            "preferred_date",
            FieldKind::Date,
            false,
            "Preferred appointment date",
            "What day would you like to come in?",
        )
        .hints(&["come", "appointment", "available", "free", "works", "visit"])
        .when(When::Future),
        field(
            "date_of_birth",
            FieldKind::Date,
            false,
            "Patient date of birth",
            "What's the patient's date of birth?",
        )
        .hints(&["born", "birthday", "dob", "birth"])
        .when(When::Past),
        name_field(),
    ]
}

fn generic() -> Vec<F> {
    vec![
        field(
            "full_name",
            FieldKind::Text,
            true,
            "The lead's name",
            "Who do I have the pleasure of texting with?",
        ),
        field(
            "need",
            FieldKind::Text,
            true,
            "What the lead is looking for",
            "What can we help you with?",
        ),
        field(
            "timeline",
            FieldKind::Date,
            false,
            "When the lead needs it",
            "When do you need this by?",
        )
        .hints(&["by", "need", "before", "start"])
        .when(When::Future),
        field(
            "email",
            FieldKind::Email,
            true,
            "Email address",
            "What's the best email to reach you?",
        ),
    ]
}

pub(crate) fn fields(industry: Industry) -> Vec<FieldSpec> {
    let list = match industry {
        Industry::Insurance => insurance(),
        Industry::RealEstate => real_estate(),
        Industry::Mortgage => mortgage(),
        Industry::Solar => solar(),
        Industry::HomeServices => home_services(),
        Industry::Dental => dental(),
        Industry::Generic => generic(),
    };
    list.into_iter().map(|F(f)| f).collect()
}
