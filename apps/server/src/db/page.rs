//! A bounded page of a list: how many rows to skip and how many to return, with the page size
//! clamped here and nowhere else, so no list endpoint can be asked for an unbounded result.

/// Rows a page holds when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The most rows one page returns, whatever the client asks for.
pub const MAX_PAGE_SIZE: u32 = 100;

/// An offset and a page size within `1..=MAX_PAGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    offset: u32,
    limit: u32,
}

impl Page {
    /// The page at `offset` of the size asked for, clamped to `1..=MAX_PAGE_SIZE`.
    pub fn new(offset: u32, limit: u32) -> Self {
        Self { offset, limit: limit.clamp(1, MAX_PAGE_SIZE) }
    }

    /// Rows to skip.
    pub fn offset(self) -> u32 {
        self.offset
    }

    /// Rows to return at most.
    pub fn limit(self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_size_is_clamped_to_one_through_the_maximum() {
        assert_eq!(Page::new(7, 0).limit(), 1);
        assert_eq!(Page::new(7, 20).limit(), 20);
        assert_eq!(Page::new(7, u32::MAX).limit(), MAX_PAGE_SIZE);
        assert_eq!(Page::new(7, u32::MAX).offset(), 7);
    }
}
