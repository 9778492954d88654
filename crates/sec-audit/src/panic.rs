//! The panic hook: a panic anywhere in the process becomes one ERROR log event, with its
//! message, location, backtrace and the id of the request it happened in, instead of text on
//! stderr that log collectors miss and that is not tied to any request.

use std::backtrace::Backtrace;
use std::panic::PanicHookInfo;

/// Installs the hook for the whole process, replacing the default one (which would print the
/// panic a second time, to stderr). `request_id` tells the id of the request being handled on
/// the panicking thread, if any.
///
/// Until a `tracing` subscriber is installed the default hook still runs, so a panic before
/// logging is set up is not lost.
pub fn install_panic_hook(request_id: fn() -> Option<String>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let no_logger =
            tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
        if no_logger {
            default(info);
            return;
        }
        log_panic(info, request_id());
    }));
}

fn log_panic(info: &PanicHookInfo<'_>, request_id: Option<String>) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)");
    let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    // Captured whatever RUST_BACKTRACE says: panics are rare and this is the one chance.
    let backtrace = Backtrace::force_capture();
    tracing::error!(
        target: "panic",
        panic_message = message,
        location = location.as_deref().unwrap_or("unknown"),
        backtrace = %backtrace,
        request_id = request_id.as_deref(),
        thread = std::thread::current().name().unwrap_or("unnamed"),
        "panic"
    );
}
