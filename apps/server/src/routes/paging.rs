//! The query of list endpoints, `?offset=&limit=`, read into a bounded [`Page`].

use serde::Deserialize;

use crate::db::page::{DEFAULT_PAGE_SIZE, Page};

/// `?offset=&limit=` as sent; unknown parameters are refused (400).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default)]
    offset: u32,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    DEFAULT_PAGE_SIZE
}

impl PageQuery {
    /// The page asked for, its size clamped ([`Page::new`]).
    pub(crate) fn page(&self) -> Page {
        Page::new(self.offset, self.limit)
    }
}
