//! The storage error type. `NotFound` and `Conflict` stay distinct so the HTTP edge can answer
//! 404 and 409; everything else is an internal failure whose detail is logged, never shown.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names what already exists (e.g. "email").
    #[error("{0} already exists")]
    Conflict(String),
    /// The database holds a value the domain cannot parse: a bug or manual tampering.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}
