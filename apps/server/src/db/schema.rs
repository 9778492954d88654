//! Diesel's description of the tables; kept identical for both backends (see `migrations/`).

diesel::table! {
    /// Accounts.
    users (id) {
        /// Random UUID, as text.
        id -> Text,
        /// The name as the user typed it (after normalisation).
        username -> Text,
        /// The case-folded form that uniqueness is checked on.
        username_canonical -> Text,
        /// The address as given (domain lower-cased).
        email -> Text,
        /// The lower-cased form that uniqueness is checked on.
        email_canonical -> Text,
        /// PHC string of the password hash.
        password_hash -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds.
        updated_at -> BigInt,
    }
}
