//! Enums that stand for Docker's or the journal's words (`State`,
//! `SwarmRole`, `Outcome`). Each derives strum's `EnumString` and
//! `AsRefStr` and has a `#[strum(default)] Other(String)` variant, which
//! keeps a word this version does not know (and makes `From<&str>`
//! infallible). `words!` adds the rest of what lets them stand where a
//! word stood: `as_str()`, `Display` and serde as the word,
//! `From<String>`, and `== "word"`.

/// Implement `as_str()`, `Display`, serde (as the word), `From<String>`
/// and `PartialEq<&str>` for an enum deriving `EnumString` and `AsRefStr`
/// with a default variant `Other(String)`.
#[macro_export]
macro_rules! words {
    ($t:ty) => {
        impl $t {
            /// The word, as Docker or the journal writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    Self::Other(word) => word,
                    known => known.as_ref(),
                }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl From<String> for $t {
            fn from(word: String) -> $t {
                <$t>::from(word.as_str())
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                Ok(<$t>::from(String::deserialize(d)?))
            }
        }
    };
}
