//! The panic hook: a panic becomes exactly one ERROR event carrying its message, location,
//! backtrace and request id. (Its own test binary: the hook is process-wide.)
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test, and the panic is the subject"
)]

#[test]
fn a_panic_is_logged_once_with_message_location_backtrace_and_request_id() {
    sec_audit::install_panic_hook(|| Some("req-42".to_owned()));
    let capture = sec_audit::LogCapture::default();
    let subscriber = tracing_subscriber::fmt().json().with_writer(capture.clone()).finish();
    let message = format!("boom-{}", uuid::Uuid::new_v4());
    let result = tracing::subscriber::with_default(subscriber, || {
        std::panic::catch_unwind(|| panic!("{message}"))
    });
    assert!(result.is_err());

    let text = capture.text().unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&message)).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["level"], "ERROR");
    assert_eq!(event["target"], "panic");
    let fields = &event["fields"];
    assert_eq!(fields["panic_message"], message.as_str());
    assert_eq!(fields["request_id"], "req-42");
    assert!(fields["location"].as_str().unwrap().contains("panic_hook.rs"), "{fields}");
    assert!(fields["backtrace"].as_str().unwrap().contains("panic_hook"), "{fields}");
}
