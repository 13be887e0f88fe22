//! The password policy: long enough and not one of the passwords every attacker tries first.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("the password must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("this password is too common; choose one that is harder to guess")]
    Common,
}

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

/// Passwords of 12+ characters that appear near the top of breached-password lists.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "password1234",
    "password12345",
    "passwordpassword",
    "qwertyuiopasdf",
    "qwerty123456",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "abcdefghijkl",
    "abc123456789",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "adminadmin123",
    "administrator",
    "changeme1234",
    "000000000000",
    "111111111111",
    "aaaaaaaaaaaa",
    "football1234",
    "baseball1234",
    "princess1234",
    "sunshine1234",
    "trustno11234",
    "monkey123456",
    "dragon123456",
    "master123456",
    "superman1234",
    "p@ssw0rd1234",
    "passw0rd1234",
    "password123!",
    "qwerty12345678",
    "asdfghjkl123",
    "zxcvbnm12345",
    "leadline1234",
    "correcthorsebatterystaple",
];

pub fn check(password: &str) -> Result<(), WeakPassword> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(WeakPassword::TooShort { min: MIN_LEN });
    }
    if len > MAX_LEN {
        return Err(WeakPassword::TooLong { max: MAX_LEN });
    }
    let lower = password.to_lowercase();
    let one_char_repeated = lower.chars().all(|c| lower.starts_with(c));
    if one_char_repeated || COMMON.contains(&lower.as_str()) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check("short"), Err(WeakPassword::TooShort { min: 12 }));
        assert_eq!(check("Password1234"), Err(WeakPassword::Common));
        assert_eq!(check("zzzzzzzzzzzzzzz"), Err(WeakPassword::Common));
        assert_eq!(check("blue-harbor-lantern-7"), Ok(()));
    }
}
