//! Typed identifiers. Each wraps a UUID (v7, so ids sort by creation time) and cannot be mixed up
//! with another kind of id.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A subscriber (tenant).
    AccountId
);
id_type!(
    /// A person who can sign in; may belong to several accounts.
    UserId
);
id_type!(
    /// An invitation to join an account.
    InvitationId
);
id_type!(
    /// An API key for `/api/v1`.
    ApiKeyId
);
id_type!(
    /// A dashboard session.
    SessionId
);
id_type!(
    /// An encrypted secret (provider credential).
    SecretId
);
id_type!(
    /// A consent, opt-out or suppression event.
    EventId
);
id_type!(
    /// A messaging channel: a number or handle on a provider.
    ChannelId
);
id_type!(
    /// A lead (end user) of an account.
    LeadId
);
id_type!(
    /// A conversation between a lead and an account on one channel.
    ConversationId
);
id_type!(
    /// One inbound or outbound message.
    MessageId
);
id_type!(
    /// A background job.
    JobId
);
