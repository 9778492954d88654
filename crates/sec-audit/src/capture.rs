//! An in-memory log writer, for tests that assert on what the server logs.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Collects everything written to it; clones share the same buffer. Give it to
/// [`text_layer`](crate::text_layer) or [`json_layer`](crate::json_layer) and read it back with
/// [`LogCapture::text`].
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything written so far, as text; an error if it is not valid UTF-8.
    pub fn text(&self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.buffer().clone())
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A writer that panicked mid-line leaves a usable buffer: keep reading it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
