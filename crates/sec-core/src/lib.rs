//! Pure security building blocks: validated input newtypes, output escaping, password hashing
//! and policy, constant-time helpers. No I/O, no async runtime, no web framework.
